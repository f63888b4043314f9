"""XMP sidecars (issue 25): written beside local images, read back by exiftool (a reader no one here wrote),
merged into existing sidecars without losing a person's fields, unsafe ones refused and left untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lychee_rerank.errors import InvalidSettingError
from lychee_rerank.export import write_sidecars
from lychee_rerank.results import RankResult
from lychee_rerank.sidecars import rating_for_score, sidecar_path

from helpers import jpeg_bytes, png_bytes, webp_bytes

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None,
                                reason="exiftool missing: ./dev.sh test installs libimage-exiftool-perl")

PERSONS_SIDECAR = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="darktable">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:darktable="http://darktable.sf.net/"
    xmp:Rating="2"
    darktable:history_end="3">
   <dc:subject><rdf:Bag><rdf:li>summer</rdf:li><rdf:li>红色</rdf:li></rdf:Bag></dc:subject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&c;</dc:title></rdf:Description>
</rdf:RDF></x:xmpmeta>
"""


def exiftool(path: Path, *tags: str) -> dict:
    done = subprocess.run(["exiftool", "-json", "-n", *tags, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.suffix != ".xmp"}


def result(path: Path, rank: int, score: float, index: int | None = None, method: str = "yesno") -> RankResult:
    return RankResult(rank=rank, index=rank - 1 if index is None else index, name=path.name, score=score,
                      raw_output="", parse_method=method, path=str(path))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "红裙.jpg").write_bytes(jpeg_bytes("red"))
    (tmp_path / "b.png").write_bytes(png_bytes("blue"))
    (tmp_path / "c.webp").write_bytes(webp_bytes("green"))
    return tmp_path


def ranked(folder: Path) -> list[RankResult]:
    return [result(folder / "红裙.jpg", 1, 9.1), result(folder / "b.png", 2, 7.4), result(folder / "c.webp", 3, 0.4)]


def test_score_bands_and_names():
    assert [rating_for_score(s) for s in (10, 8.5, 8.49, 7.0, 5.0, 3.0, 1.0, 0.99, 0.0)] == [5, 5, 4, 4, 3, 2, 1, 0, 0]
    assert rating_for_score(6.0, bands=[(6.0, 5)]) == 5 and rating_for_score(5.9, bands=[(6.0, 5)]) == 0
    assert sidecar_path("/x/a.jpg") == Path("/x/a.jpg.xmp") and sidecar_path("/x/a.jpg", "stem") == Path("/x/a.xmp")
    with pytest.raises(InvalidSettingError, match="ext, stem"):
        sidecar_path("a.jpg", "sidecar")


def test_sidecars_are_read_by_exiftool_and_originals_are_untouched(folder: Path):
    before = digests(folder)
    report = write_sidecars(ranked(folder), query="红色连衣裙", model="demo", label="lychee")
    assert len(report.written) == 3 and not report.problems and not report.skipped
    assert digests(folder) == before
    read = {name: exiftool(folder / f"{name}.xmp", "-XMP:Rating", "-XMP:Label")
            for name in ("红裙.jpg", "b.png", "c.webp")}
    assert [read[n]["Rating"] for n in ("红裙.jpg", "b.png", "c.webp")] == [5, 4, 0]
    assert {r["Label"] for r in read.values()} == {"lychee"}
    ours = exiftool(folder / "红裙.jpg.xmp", "-XMP-lychee:all")
    assert ours["Query"] == "红色连衣裙" and ours["Model"] == "demo" and ours["Rank"] == 1
    assert abs(ours["Score"] - 9.1) < 1e-3 and ours["Date"]
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == [], "no temporary file is left"


def test_a_persons_sidecar_is_merged_keeping_their_rating_and_fields(folder: Path):
    existing = folder / "b.png.xmp"
    existing.write_text(PERSONS_SIDECAR, encoding="utf-8")
    report = write_sidecars(ranked(folder), query="red", model="demo")
    assert "keeping a person's rating 2" in next(p.action for p in report.planned if p.name == "b.png")
    merged = exiftool(existing, "-XMP:all")
    assert merged["Rating"] == 2 and merged["Subject"] == ["summer", "红色"] and merged["History_end"] == 3
    assert abs(merged["Score"] - 7.4) < 1e-3 and merged["Rank"] == 2

    write_sidecars(ranked(folder), query="red", model="demo", overwrite_ratings=True)
    assert exiftool(existing, "-XMP:Rating", "-XMP:Subject") == {"SourceFile": str(existing), "Rating": 4,
                                                                   "Subject": ["summer", "红色"]}
    # Now the rating is ours (recorded in the lychee namespace): a later run with another score updates it.
    write_sidecars([result(folder / "b.png", 1, 9.5)], query="red", model="demo")
    assert exiftool(existing, "-XMP:Rating")["Rating"] == 5


def test_marks_rate_picks_5_and_rejects_minus_1(folder: Path):
    marks = {0: "pick", 2: "reject"}
    report = write_sidecars(ranked(folder), query="red", model="demo", rating_from="marks", marks=marks)
    assert exiftool(folder / "红裙.jpg.xmp", "-XMP:Rating")["Rating"] == 5
    assert exiftool(folder / "c.webp.xmp", "-XMP:Rating")["Rating"] == -1
    assert report.skipped == [("b.png", "not marked")] and not (folder / "b.png.xmp").exists()
    with pytest.raises(InvalidSettingError, match="marks"):
        write_sidecars(ranked(folder), query="red", model="demo", rating_from="marks")


@pytest.mark.parametrize("content", ["<x:xmpmeta><rdf:RDF>", BILLION_LAUGHS], ids=["malformed", "entities"])
def test_an_unsafe_sidecar_is_reported_and_left_untouched(folder: Path, content: str):
    bad = folder / "b.png.xmp"
    bad.write_text(content, encoding="utf-8")
    report = write_sidecars(ranked(folder), query="red", model="demo")
    assert bad.read_text(encoding="utf-8") == content
    assert len(report.problems) == 1 and "b.png.xmp" in report.problems[0] and "left untouched" in report.problems[0]
    assert ("DTD" in report.problems[0]) == (content == BILLION_LAUGHS)
    assert sorted(p.name for p in report.written) == ["c.webp.xmp", "红裙.jpg.xmp"]


def test_dry_run_writes_nothing_and_lists_what_it_would(folder: Path):
    report = write_sidecars(ranked(folder), query="red", model="demo", dry_run=True)
    assert not list(folder.glob("*.xmp")) and report.written == []
    assert report.lines()[0].startswith(f"would write {folder / '红裙.jpg.xmp'} (rating 5, create)")
    assert report.lines()[-1] == "would write 3 sidecar(s); 0 skipped, 0 refused"


def test_unscored_inputs_and_stem_clashes_are_skipped_with_reasons(folder: Path):
    (folder / "b.jpg").write_bytes(jpeg_bytes("blue"))
    results = [result(folder / "b.png", 1, 9.0), result(folder / "b.jpg", 2, 8.0),
               result(folder / "c.webp", 3, 0.0, method="failed"),
               RankResult(rank=4, index=3, name="up.png", score=5.0, raw_output="", parse_method="yesno")]
    report = write_sidecars(results, query="red", model="demo", naming="stem")
    assert [p.name for p in report.written] == ["b.xmp"]
    reasons = dict(report.skipped)
    assert "NAME.EXT.xmp" in reasons["b.jpg"] and "not scored" in reasons["c.webp"] and "not a local file" in reasons[
        "up.png"]


READ_ONLY_RUN = """
import sys
from pathlib import Path
from lychee_rerank.errors import OutputFolderError
from lychee_rerank.results import RankResult
from lychee_rerank.sidecars import write_sidecars
folder = Path(sys.argv[1])
results = [RankResult(rank=i + 1, index=i, name=p.name, score=9.0, raw_output="", parse_method="yesno", path=str(p))
           for i, p in enumerate(sorted(folder.iterdir()))]
try:
    write_sidecars(results, query="red", model="demo")
except OutputFolderError as exc:
    print(exc)
    sys.exit(3)
"""


def run_on_read_only_folder(folder: Path) -> subprocess.CompletedProcess:
    """READ_ONLY_RUN on ``folder`` made read-only for real: permission bits for a normal user; for root (whom
    permission bits do not stop) a read-only bind mount of it in a private mount namespace (EROFS)."""
    command = [sys.executable, "-c", READ_ONLY_RUN, str(folder)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if os.geteuid() != 0:
        folder.chmod(0o555)
    else:
        if shutil.which("unshare") is None:
            pytest.skip("running as root without unshare(1): cannot make a folder read-only to root")
        mount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", str(folder), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_a_read_only_folder_is_a_clear_error_and_nothing_is_written(tmp_path: Path):
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes("red"))
    (tmp_path / "b.png").write_bytes(png_bytes("blue"))
    try:
        done = run_on_read_only_folder(tmp_path)
    finally:
        tmp_path.chmod(0o755)
    assert done.returncode == 3, done.stderr
    assert f"cannot write sidecars in {tmp_path}" in done.stdout and "nothing was written" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "b.png"]
