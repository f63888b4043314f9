"""The command line's contract (DESIGN.md §2): in process through ``main(argv)``, plus one real subprocess."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lychee_rerank.cli import main

from helpers import png_bytes

CONTRACT_KEYS = ["rank", "name", "path", "score", "raw_output", "parse_method", "warning"]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``lychee-rerank ARGS`` in this process: exit code, stdout and stderr, as a subprocess would give them."""

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["lychee-rerank", *args], code, out, err)

    return run


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


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_fails(cli, tiny_reranker_dir: Path, five_image_folder: Path, query: str):
    done = cli("rank", "--model", str(tiny_reranker_dir), "--query", query, str(five_image_folder))
    assert done.returncode != 0 and "query" in done.stderr.lower() and "Traceback" not in done.stderr


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


def test_quiet_hides_the_weight_loading_bar(cli, tiny_reranker_dir: Path, five_image_folder: Path):
    """Issue 16 bug 10: -q leaves only warnings and errors on stderr, transformers' loading bar included."""
    done = cli("-q", "rank", "--model", str(tiny_reranker_dir), "--query", "red", str(five_image_folder))
    assert done.returncode == 0 and "Loading weights" not in done.stderr
    assert "Loading weights" not in done.stdout
