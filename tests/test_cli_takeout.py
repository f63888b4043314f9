"""``lychee-rerank rank``'s outputs for other tools (issue 25), in process on the demo model:
--write-xmp (and its dry run), --copy-to, --group-by subfolder."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from lychee_rerank.settings import DEMO_EXAMPLES_DIR
from lychee_rerank.sidecars import rating_for_score

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool missing: ./dev.sh test installs libimage-exiftool-perl")



@pytest.fixture
def examples(tmp_path: Path) -> Path:
    folder = tmp_path / "examples"
    folder.mkdir()
    for path in sorted(DEMO_EXAMPLES_DIR.glob("*.png"))[:5]:
        shutil.copy(path, folder / path.name)
    return folder


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and p.suffix != ".xmp"}


def rank(cli, folder: Path, *extra: str, query: str = "a red circle") -> tuple[list[dict], str]:
    done = cli("rank", "--model", "demo", "--query", query, "--format", "json", *extra, str(folder))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


@needs_exiftool
def test_write_xmp_rates_every_image_by_score_and_a_dry_run_writes_nothing(cli, examples: Path):
    before = hashes(examples)
    _, err = rank(cli, examples, "--write-xmp", "--dry-run")
    assert not list(examples.glob("*.xmp")) and "would write 5 sidecar(s)" in err
    records, err = rank(cli, examples, "--write-xmp")
    assert "wrote 5 sidecar(s); 0 skipped, 0 refused" in err
    for record in records:
        sidecar = Path(record["path"] + ".xmp")
        read = json.loads(subprocess.run(["exiftool", "-json", "-n", "-XMP:Rating", str(sidecar)],
                                         capture_output=True, text=True, check=True).stdout)[0]
        assert read["Rating"] == rating_for_score(record["score"]), record
    assert hashes(examples) == before


@needs_exiftool
def test_rating_from_marks_reads_the_apps_download(cli, examples: Path, tmp_path: Path):
    records, _ = rank(cli, examples)
    marks = [{**records[0], "mark": "pick"}, {**records[-1], "mark": "reject"}]
    (tmp_path / "marks.json").write_text(json.dumps(marks), encoding="utf-8")
    _, err = rank(cli, examples, "--write-xmp", "--rating-from", "marks", "--marks", str(tmp_path / "marks.json"),
                  "--xmp-naming", "stem")
    assert "wrote 2 sidecar(s); 3 skipped" in err
    assert sorted(p.name for p in examples.glob("*.xmp")) == sorted(
        Path(r["path"]).stem + ".xmp" for r in (records[0], records[-1]))


def test_rating_from_marks_without_marks_fails_before_the_model_loads(cli, examples: Path):
    done = cli("rank", "--model", "/no/such/model", "--query", "red", "--write-xmp", "--rating-from", "marks",
               str(examples))
    assert done.returncode == 1 and "--rating-from marks needs --marks FILE" in done.stderr


def test_copy_to_copies_the_results_shown_and_never_overwrites(cli, examples: Path, tmp_path: Path):
    before = hashes(examples)
    records, err = rank(cli, examples, "--top-k", "3", "--copy-to", str(tmp_path / "picks"))
    assert len(records) == 3 and "copied 3 file(s), 0 skipped" in err
    assert sorted(p.name for p in (tmp_path / "picks").iterdir()) == sorted(
        [*(r["name"] for r in records), "lychee-copied.csv"])
    shown, err = rank(cli, examples, "--min-score", "5", "--copy-to", str(tmp_path / "picks"))
    assert all(r["score"] >= 5 for r in shown) and f"copied {len(shown)} file(s)" in err
    assert (tmp_path / "picks" / "lychee-copied_2.csv").is_file()
    assert hashes(examples) == before
