"""The command line's contract (DESIGN.md §2): in process through ``main(argv)``, plus one real subprocess."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from lychee_rerank.cli import build_parser
from lychee_rerank.scoring.yesno import YesNoScorer

from helpers import jpeg_bytes, png_bytes

CONTRACT_KEYS = ["rank", "name", "path", "score", "raw_output", "parse_method", "warning"]



def rank_json(cli, model: Path, folder: Path, *extra: str) -> tuple[list[dict], subprocess.CompletedProcess]:
    query = "red dress 红色连衣裙"
    done = cli("rank", "--model", str(model), "--query", query, "--format", "json", *extra, str(folder))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done


def assert_json_contract(records: list[dict], folder: Path) -> None:
    assert len(records) == 5
    assert [r["rank"] for r in records] == [1, 2, 3, 4, 5]
    assert list(records[0])[:7] == CONTRACT_KEYS
    assert all(0 <= r["score"] <= 10 for r in records)
    assert sorted(r["name"] for r in records) == sorted(p.name for p in folder.iterdir())
    scored = [r["score"] for r in records if r["parse_method"] not in ("failed", "skipped")]
    assert scored == sorted(scored, reverse=True)
    broken = next(r for r in records if r["name"] == "broken.jpg")
    assert broken["warning"] and broken["rank"] == 5 and broken["score"] == 0.0
    assert all(r["path"] and Path(r["path"]).exists() for r in records)


def test_rank_json_yesno(cli, tiny_reranker_dir: Path, five_image_folder: Path):
    records, done = rank_json(cli, tiny_reranker_dir, five_image_folder)
    assert_json_contract(records, five_image_folder)
    assert {r["parse_method"] for r in records} == {"yesno", "failed"}
    assert "[5/5]" in done.stderr, "progress goes to stderr"


def test_rank_json_generate_fills_parse_method(cli, tiny_reranker_dir: Path, five_image_folder: Path):
    records, _ = rank_json(cli, tiny_reranker_dir, five_image_folder, "--mode", "generate")
    assert_json_contract(records, five_image_folder)
    assert {r["parse_method"] for r in records if r["name"] != "broken.jpg"} <= {"primary", "fallback", "none"}


def test_rank_csv_and_table_and_top_k(cli, tiny_reranker_dir: Path, five_image_folder: Path):
    base = ["rank", "--model", str(tiny_reranker_dir), "--query", "red", str(five_image_folder)]
    table = cli(*base, "--format", "table", "--top-k", "2")
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 3
    top = json.loads(cli(*base, "--format", "json", "--top-k", "2").stdout)
    assert [r["rank"] for r in top] == [1, 2]
    rows = list(csv.DictReader(io.StringIO(cli(*base, "--format", "csv").stdout)))
    assert len(rows) == 5 and list(rows[0])[:7] == CONTRACT_KEYS


def test_zip_input(cli, tiny_reranker_dir: Path, tmp_path: Path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a/red.png", png_bytes("red"))
        zf.writestr("blue.png", png_bytes("blue"))
    records, _ = rank_json(cli, tiny_reranker_dir, archive)
    assert sorted(r["name"] for r in records) == ["batch.zip/a/red.png", "batch.zip/blue.png"]


def test_missing_model_path_is_one_line_naming_it(cli, five_image_folder: Path):
    done = cli("rank", "--model", "/no/such/dir", "--query", "red", str(five_image_folder))
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "/no/such/dir" in lines[0] and "Traceback" not in done.stderr


@pytest.mark.parametrize("query", [None, "", "   "])
def test_no_query_or_an_empty_one_names_both_flags(cli, tiny_reranker_dir: Path, five_image_folder: Path,
                                                   query: str | None):
    """Issue 21 bug 10: the one-line error says how to give a query."""
    given = [] if query is None else ["--query", query]
    done = cli("rank", "--model", str(tiny_reranker_dir), *given, str(five_image_folder))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("lychee-rerank: error: no query: pass --query TEXT, --query-image IMAGE, or both")


def test_no_images_found(cli, tiny_reranker_dir: Path, tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = cli("rank", "--model", str(tiny_reranker_dir), "--query", "red", str(empty))
    assert done.returncode != 0 and "no images" in done.stderr.lower() and "Traceback" not in done.stderr


def test_installed_command_ranks_in_a_subprocess(tiny_reranker_dir: Path, five_image_folder: Path):
    """The one real subprocess: the console script pip installed, JSON on stdout, logs on stderr."""
    script = Path(sys.executable).parent / "lychee-rerank"
    assert script.exists(), "pip install -e . creates the lychee-rerank command"
    done = subprocess.run(
        [str(script), "rank", "--model", str(tiny_reranker_dir), "--query", "red", "--format", "json",
         str(five_image_folder)],
        capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert_json_contract(json.loads(done.stdout), five_image_folder)
    assert "[5/5]" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_hides_the_weight_loading_bar(cli, tiny_reranker_dir: Path, five_image_folder: Path, loading_bar_on,
                                            where: str):
    """Issue 16 bug 10: -q leaves only warnings and errors on stderr, transformers' loading bar included; issue 21:
    -q works after the subcommand too."""
    args = ["rank", "--model", str(tiny_reranker_dir), "--query", "red", str(five_image_folder)]
    done = cli(*(["-q", *args] if where == "before" else [*args, "-q"]))
    assert done.returncode == 0 and "Loading weights" not in done.stderr
    assert "Loading weights" not in done.stdout
    assert "[5/5]" not in done.stderr and "INFO" not in done.stderr, "no progress lines, only warnings"


@pytest.mark.parametrize(("argv", "quiet", "verbose"), [
    (["rank", "--query", "q", "x"], False, False),
    (["-q", "rank", "--query", "q", "x"], True, False),
    (["rank", "--query", "q", "x", "-q"], True, False),
    (["-q", "rank", "--query", "q", "--verbose", "x"], True, True),
    (["batch", "m.csv", "--out", "o.parquet", "--quiet"], True, False),
    (["-v", "batch", "m.csv", "--out", "o.parquet"], False, True),
    (["batch", "-v", "m.csv", "--out", "o.parquet"], False, True),
])
def test_global_flags_work_before_and_after_the_subcommand(argv: list[str], quiet: bool, verbose: bool):
    """A flag given on one side is not reset by its absence on the other."""
    args = build_parser().parse_args([*argv, "--model", "m"])
    assert (args.quiet, args.verbose) == (quiet, verbose)


def test_notes_reach_the_json_and_csv(cli, tiny_reranker_dir: Path, tmp_path: Path):
    """Issue 21 bug 7: images that needed safety work say so in ``notes``; an ordinary JPEG has none."""
    folder = tmp_path / "noted"
    folder.mkdir()
    transparent = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    transparent.paste((0, 0, 255, 255), (32, 0, 64, 64))
    transparent.save(folder / "transparent.png")
    Image.new("LA", (64, 64), (0, 0)).save(folder / "grey_alpha.png")
    Image.new("RGB", (6000, 4000), "red").save(folder / "big.jpg", quality=50)
    (folder / "plain.jpg").write_bytes(jpeg_bytes("red"))
    base = ["rank", "--model", str(tiny_reranker_dir), "--query", "red", "--max-pixels", str(112 * 112), str(folder)]
    records = json.loads(cli(*base, "--format", "json").stdout)
    assert {r["name"]: r["notes"] for r in records} == {
        "transparent.png": ["transparent areas composited on white"],
        "grey_alpha.png": ["transparent areas composited on white", "converted from greyscale to RGB"],
        "big.jpg": ["decoded at reduced size 750×500 (JPEG draft) from 6000×4000"],
        "plain.jpg": [],
    }
    assert all(re.fullmatch(r"\d+x\d+", r["scored_size"]) for r in records), "sizes are WxH, as in batch jobs"
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(cli(*base, "--format", "csv").stdout))}
    assert rows["grey_alpha.png"]["notes"] == "transparent areas composited on white; converted from greyscale to RGB"
    assert rows["plain.jpg"]["notes"] == "" and re.fullmatch(r"\d+x\d+", rows["big.jpg"]["scored_size"])


# ---------------------------------------------------------------- issue 22: one line where the user needs one line


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[-1].startswith("lychee-rerank: error: ") and sum("error:" in line for line in lines) == 1
    return lines[-1]


def test_a_model_failing_mid_run_prints_what_was_scored_and_one_line(cli, tiny_reranker_dir: Path,
                                                                     five_image_folder: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    original, calls = YesNoScorer.score_inputs, []

    def breaks_on_the_third(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(YesNoScorer, "score_inputs", breaks_on_the_third)  # the model failing, from outside
    done = cli("rank", "--model", str(tiny_reranker_dir), "--query", "red", "--format", "json",
               str(five_image_folder))
    line = one_error_line(done)
    assert "scoring failed after" in line and "RuntimeError: CUDA error" in line
    records = json.loads(done.stdout)
    assert len(records) == 5 and sum(r["parse_method"] == "yesno" for r in records) == 2
    assert {r["parse_method"] for r in records} == {"yesno", "failed", "skipped"}


def test_a_url_path_says_urls_are_not_fetched(cli, tiny_reranker_dir: Path):
    line = one_error_line(cli("rank", "--model", str(tiny_reranker_dir), "--query", "red", "http://127.0.0.1:9/x.png"))
    assert "URLs are not fetched: download the images and give local paths" in line


def test_a_damaged_weights_file_is_one_line_saying_to_get_a_whole_copy(cli, tiny_reranker_dir: Path, tmp_path: Path,
                                                                       five_image_folder: Path):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_reranker_dir, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted download
    line = one_error_line(cli("rank", "--model", str(damaged), "--query", "red", str(five_image_folder)))
    assert "is damaged, truncated or corrupt" in line and "copy or download the folder again" in line
