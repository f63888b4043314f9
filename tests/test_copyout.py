"""Copy-out (issue 25): results copied or hard-linked into a folder, never overwriting, with a manifest;
originals byte-identical."""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from pathlib import Path

import pytest

from lychee_rerank.copyout import copy_out
from lychee_rerank.errors import OutputFolderError
from lychee_rerank.results import RankResult

from helpers import jpeg_bytes, png_bytes


def result(path: Path, name: str, rank: int, score: float = 8.0, **extra) -> RankResult:
    return RankResult(rank=rank, index=rank - 1, name=name, score=score, raw_output="", parse_method="yesno",
                      path=str(path), **extra)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def ranked(tmp_path: Path) -> list[RankResult]:
    source = tmp_path / "source"
    for sub, colour in (("a", "red"), ("b", "blue")):
        (source / sub).mkdir(parents=True)
        (source / sub / "x.jpg").write_bytes(jpeg_bytes(colour))
    (source / "红裙 №1.png").write_bytes(png_bytes("green"))
    return [result(source / "a" / "x.jpg", "a/x.jpg", 1, 9.0), result(source / "b" / "x.jpg", "b/x.jpg", 2, 8.5),
            result(source / "红裙 №1.png", "红裙 №1.png", 3, 7.0)]


def test_copies_keep_names_number_clashes_and_never_overwrite(ranked: list[RankResult], tmp_path: Path):
    before = {r.path: digest(Path(r.path)) for r in ranked}
    out = tmp_path / "picks"
    out.mkdir()
    (out / "x.jpg").write_bytes(b"someone else's file")
    report = copy_out(ranked, out)
    assert [dest.name for _, dest in report.copied] == ["x_2.jpg", "x_3.jpg", "红裙 №1.png"]
    assert (out / "x.jpg").read_bytes() == b"someone else's file"
    assert [digest(dest) for _, dest in report.copied] == list(before.values())
    assert {r.path: digest(Path(r.path)) for r in ranked} == before
    assert report.manifest == out / "lychee-copied.csv"
    with open(report.manifest, encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["copied_to"], r["source"], r["name"], r["rank"], r["how"]) for r in rows] == [
        ("x_2.jpg", ranked[0].path, "a/x.jpg", "1", "copy"), ("x_3.jpg", ranked[1].path, "b/x.jpg", "2", "copy"),
        ("红裙 №1.png", ranked[2].path, "红裙 №1.png", "3", "copy")]
    again = copy_out(ranked[:1], out)  # a second run: its copy and its manifest are numbered, nothing replaced
    assert again.copied[0][1].name == "x_4.jpg" and again.manifest == out / "lychee-copied_2.csv"
    assert len(list(csv.DictReader(open(report.manifest, encoding="utf-8-sig")))) == 3


def test_hard_links_share_the_original_on_the_same_filesystem(ranked: list[RankResult], tmp_path: Path):
    report = copy_out(ranked, tmp_path / "new" / "linked", how="link")
    for source, dest in report.copied:
        assert os.stat(source).st_ino == os.stat(dest).st_ino and os.stat(source).st_nlink == 2


def test_hard_links_across_filesystems_are_refused_before_anything_is_written(ranked: list[RankResult]):
    other = Path("/dev/shm")
    if not other.is_dir() or other.stat().st_dev == Path(ranked[0].path).stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) here")
    with tempfile.TemporaryDirectory(dir=other) as folder:
        with pytest.raises(OutputFolderError, match="same filesystem.*nothing was written"):
            copy_out(ranked, folder, how="link")
        assert os.listdir(folder) == []


def test_dry_run_and_what_is_skipped(ranked: list[RankResult], tmp_path: Path):
    extra = [result(Path(ranked[0].path), "dup.jpg", 4, duplicate_of=0),
             result(tmp_path / "gone.jpg", "gone.jpg", 5),
             RankResult(rank=6, index=5, name="bad.jpg", score=0.0, raw_output="", parse_method="failed",
                        path=ranked[1].path)]
    report = copy_out([*ranked, *extra], tmp_path / "dry", dry_run=True)
    assert not (tmp_path / "dry").exists() and report.manifest is None
    assert [dest.name for _, dest in report.copied] == ["x.jpg", "x_2.jpg", "红裙 №1.png"]
    assert [why.split(" (")[0] for _, why in report.skipped] == [
        "the same bytes as another result, copied once", "not a local file", "not scored"]
    assert report.lines()[-1] == "would copy 3 file(s), 3 skipped"


def test_a_file_in_the_folders_place_is_a_clear_error(ranked: list[RankResult], tmp_path: Path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OutputFolderError, match="is a file, not a folder"):
        copy_out(ranked, tmp_path / "taken")


def test_other_names_for_main_images_and_the_group_column(ranked: list[RankResult], tmp_path: Path):
    report = copy_out(ranked[:2], tmp_path / "main", names={0: "sku-a.jpg", 1: "sku-b.jpg"},
                      groups={0: "a", 1: "b"})
    assert sorted(p.name for p in (tmp_path / "main").iterdir()) == ["lychee-copied.csv", "sku-a.jpg", "sku-b.jpg"]
    rows = list(csv.DictReader(open(report.manifest, encoding="utf-8-sig")))
    assert [r["group"] for r in rows] == ["a", "b"]
