"""What an unlucky or hostile batch job meets (issue 22, items 5 and 10-14): each ends in one line saying what to
do, or a warned row, and nothing already scored is lost."""

from __future__ import annotations

import csv
import errno
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lychee_rerank.batch.parts import PartStore, parts_dir
from lychee_rerank.scoring.yesno import YesNoScorer

from helpers import png_bytes

NO_MODEL = "/nonexistent/model"  # the manifest is checked before the model is loaded
CHUNK = "4"


def one_line_error(done) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("lychee-rerank: error: ")]
    assert errors == lines[-1:], done.stderr
    return errors[0]


def part_files(out: Path) -> list[Path]:
    return sorted(parts_dir(out).glob("part-*.parquet"))


class FailingWrites:
    """pyarrow's part writer, failing like a full disk (pyarrow's own message, no errno set) after ``after`` parts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, after: int):
        self.after, self.original = after, pq.write_table
        monkeypatch.setattr(pq, "write_table", self)

    def __call__(self, table: pa.Table, where, *args, **kwargs):
        if self.after <= 0:
            raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
        self.after -= 1
        return self.original(table, where, *args, **kwargs)


# ---------------------------------------------------------------- item 5: CSV output


def test_batch_csv_output_neutralises_text_and_keeps_numbers(batch, tmp_path: Path, tiny_reranker_dir: Path):
    (tmp_path / "=cmd.png").write_bytes(png_bytes("red"))
    manifest = tmp_path / "m.csv"
    manifest.write_text('query,image,note,price\n"@SUM(1+1)",=cmd.png,"-2+3",-5\nred,missing.png,+x,4\n',
                        encoding="utf-8")
    out = tmp_path / "out.csv"
    done = batch(manifest, "--model", tiny_reranker_dir, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    first = next(row for row in rows if row["image"] == "'=cmd.png")
    assert (first["query"], first["note"], first["price"], first["group"]) == ("'@SUM(1+1)", "'-2+3", "-5",
                                                                             "'@SUM(1+1)")
    assert rows[1]["note"] == "'+x" and rows[1]["price"] == "4"
    assert all(float(row["score"]) >= 0 and int(row["rank"]) >= 1 for row in rows)


# ---------------------------------------------------------------- items 10, 13: full disk, edited manifest


def test_a_full_disk_keeps_the_parts_and_an_edited_manifest_is_not_resumed(
        batch, catalog, tiny_reranker_dir: Path, monkeypatch: pytest.MonkeyPatch):
    manifest = catalog.write("csv")
    out = catalog.folder / "out.parquet"
    args = [manifest, "--model", tiny_reranker_dir, "--out", out, "--chunk-size", CHUNK]
    with monkeypatch.context() as patch:
        FailingWrites(patch, after=1)
        line = one_line_error(batch(*args))
    assert "disk is full" in line and "kept in" in line and "--resume" in line
    assert len(part_files(out)) == 1 and not list(parts_dir(out).glob("*.tmp")), "whole parts kept, no half file"

    original = manifest.read_bytes()
    edited = [{**row, "query": "a green dress"} if row["id"] in ("r1", "r7") else row for row in catalog.rows]
    catalog.write("csv", rows=edited)
    line = one_line_error(batch(*args, "--resume"))
    assert "the manifest changed since the run" in line and "delete the folder" in line

    manifest.write_bytes(original)
    done = batch(*args, "--resume")
    assert done.returncode == 0, done.stderr
    assert sorted(pq.read_table(out).column("id").to_pylist()) == sorted(row["id"] for row in catalog.rows)


# ---------------------------------------------------------------- item 11: two jobs on one OUT


@pytest.mark.parametrize("resume", [True, False])
def test_a_second_job_on_a_running_jobs_out_is_refused(batch, catalog, tiny_reranker_dir: Path, resume: bool):
    manifest = catalog.write("csv")
    out = catalog.folder / "out.parquet"
    running = PartStore(parts_dir(out), out)
    running.prepare({"manifest": "the other job's"}, resume=False)  # another job, holding the lock
    leftover = parts_dir(out) / ".part-000000000000.parquet.tmp"
    leftover.write_bytes(b"the other job's part being written")
    try:
        line = one_line_error(batch(manifest, "--model", tiny_reranker_dir, "--out", out,
                                    *(["--resume"] if resume else [])))
        assert "another lychee-rerank batch job is writing" in line and "give another --out" in line
        assert leftover.exists(), "the running job's temporary part is left alone"
    finally:
        running.release()


def test_the_lock_goes_with_the_job_that_held_it(batch, catalog, tiny_reranker_dir: Path):
    out = catalog.folder / "out.parquet"
    assert batch(catalog.write("csv"), "--model", tiny_reranker_dir, "--out", out).returncode == 0
    assert batch(catalog.write("csv"), "--model", tiny_reranker_dir, "--out", out).returncode == 0, "not left locked"


# ---------------------------------------------------------------- item 12: ids


def test_missing_and_nan_ids_are_refused_naming_the_rows(batch, tmp_path: Path):
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"id": [1.0, float("nan"), float("nan")], "query": ["a"] * 3, "image": ["x.png"] * 3}),
                   manifest)
    line = one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))
    assert "2 row(s) have no id (empty, null or NaN): row(s) 1, 2" in line and "drop the id column" in line


def test_a_struct_id_column_is_refused(batch, tmp_path: Path):
    manifest = tmp_path / "m.parquet"
    pq.write_table(pa.table({"id": [{"a": 1}, {"a": 2}], "query": ["a", "b"], "image": ["x.png", "y.png"]}),
                   manifest)
    line = one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))
    assert "ids must be text or numbers" in line


# ---------------------------------------------------------------- item 13: manifests that used to give tracebacks


@pytest.mark.parametrize("ascii_rows", [0, 2000], ids=["chinese-in-the-header-block", "chinese-further-down"])
def test_a_gbk_manifest_says_to_convert_it(batch, tmp_path: Path, ascii_rows: int):
    manifest = tmp_path / "gbk.csv"
    manifest.write_bytes(("query,image\n" + "red,a.png\n" * ascii_rows + "红色连衣裙,b.png\n").encode("gbk"))
    line = one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))
    assert "not UTF-8 text" in line and "iconv -f GBK -t UTF-8 gbk.csv" in line


def test_a_gbk_jsonl_manifest_says_to_convert_it(batch, tmp_path: Path):
    manifest = tmp_path / "gbk.jsonl"
    manifest.write_bytes('{"query": "红色", "image": "a.png"}\n'.encode("gbk"))
    assert "iconv -f GBK" in one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))


def test_a_header_cell_over_128_kb_is_one_line(batch, tmp_path: Path):
    manifest = tmp_path / "wide.csv"
    manifest.write_text("query,image," + "h" * 200_000 + "\nred,a.png,1\n", encoding="utf-8")
    line = one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))
    assert "first line cannot be read as CSV column names" in line


def test_a_long_cell_is_read_and_a_longer_one_says_what_to_do(batch, tmp_path: Path):
    from lychee_rerank.batch.manifest import Manifest
    from lychee_rerank.batch.readers import CSV_BLOCK_BYTES

    manifest = tmp_path / "long.csv"
    manifest.write_text("query,image\n" + "x" * 2_000_000 + ",a.png\nred,b.png\n", encoding="utf-8")
    assert Manifest.open(manifest).rows == 2, "a 2 MB cell (over pyarrow's default 1 MiB block) is read"
    manifest.write_text("query,image\n" + "x" * (2 * CSV_BLOCK_BYTES + 10) + ",a.png\nred,b.png\n", encoding="utf-8")
    line = one_line_error(batch(manifest, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))
    assert "shorten that cell" in line and "block size" not in line


# ---------------------------------------------------------------- item 13: OUT that cannot be written


def test_out_in_a_read_only_folder_is_one_line(batch, catalog, monkeypatch: pytest.MonkeyPatch):
    out = catalog.folder / "readonly" / "out.parquet"
    original = Path.mkdir

    def read_only(self: Path, *args, **kwargs):
        if "readonly" in self.parts:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)  # a read-only mount, as the OS reports it
    line = one_line_error(batch(catalog.write("csv"), "--model", NO_MODEL, "--out", out))
    assert "Read-only file system" in line and "give an --out in a folder you can write to" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_out_in_a_folder_without_write_permission_is_one_line(batch, catalog):
    locked = catalog.folder / "locked"
    locked.mkdir(mode=0o555)
    line = one_line_error(batch(catalog.write("csv"), "--model", NO_MODEL, "--out", locked / "out.parquet"))
    assert "Permission denied" in line and "give an --out" in line


# ---------------------------------------------------------------- items 13, 14: the model failing, URLs


def test_the_model_failing_mid_job_keeps_the_parts_for_resume(batch, catalog, tiny_reranker_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    manifest = catalog.write("csv")
    out = catalog.folder / "out.parquet"
    original, calls = YesNoScorer.score_inputs, []

    def breaks_in_the_second_chunk(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 6:  # the first chunk's four rows took four calls
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(self, *args, **kwargs)

    args = [manifest, "--model", tiny_reranker_dir, "--out", out, "--chunk-size", CHUNK]
    with monkeypatch.context() as patch:
        patch.setattr(YesNoScorer, "score_inputs", breaks_in_the_second_chunk)
        line = one_line_error(batch(*args))
    assert "the model failed while scoring (RuntimeError: CUDA error" in line and "--resume" in line
    assert part_files(out), "the chunks scored before are kept"
    assert batch(*args, "--resume").returncode == 0


def test_a_url_in_a_manifest_is_a_warned_row(batch, tmp_path: Path, tiny_reranker_dir: Path):
    (tmp_path / "a.png").write_bytes(png_bytes("red"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("query,image\nred,a.png\nred,http://127.0.0.1:9/x.png\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert batch(manifest, "--model", tiny_reranker_dir, "--out", out).returncode == 0
    rows = pq.read_table(out).to_pylist()
    assert rows[1]["warning"] == "URLs are not fetched: download the images and give local paths"
    assert rows[1]["parse_method"] == "failed" and rows[0]["parse_method"] == "yesno"
