"""Manifests the job refuses (one line naming the fix, before any model work) and how it reads the ones it takes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from lychee_rerank.batch.columns import KEY, PARSE_METHOD, ROW, SCORE
from lychee_rerank.batch.errors import ManifestError
from lychee_rerank.batch.manifest import Manifest
from lychee_rerank.batch.merge import group_ranks

NO_MODEL = "/nonexistent/model"  # the manifest is checked before the model is loaded


def one_line_error(done) -> str:
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lychee-rerank: error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_missing_required_columns_are_named(batch, catalog, fmt: str):
    rows = [{"title": row["query"], "path": row["image"]} for row in catalog.rows]
    done = batch(catalog.write(fmt, rows=rows), "--model", NO_MODEL, "--out", catalog.folder / "o.parquet")
    line = one_line_error(done)
    assert "lacks the required column(s) query, image" in line and "found: title, path" in line


def test_one_missing_column_is_named_alone(batch, catalog):
    rows = [{"query": row["query"], "picture": row["image"]} for row in catalog.rows]
    line = one_line_error(batch(catalog.write("csv", rows=rows), "--model", NO_MODEL, "--out", catalog.folder / "o.pq"))
    assert "required column(s) image:" in line


def test_duplicate_ids_are_refused(batch, catalog):
    rows = [*catalog.rows, {**catalog.rows[2], "image": "images/green.png"}]
    line = one_line_error(batch(catalog.write("jsonl", rows=rows), "--model", NO_MODEL, "--out", catalog.folder / "o"))
    assert "id 'r2' appears more than once (again at row 11)" in line and "drop the id column" in line


@pytest.mark.parametrize(("name", "content", "message"), [
    ("m.txt", "query,image\n", "unknown manifest format '.txt'"),
    ("m.csv", "query,image\n", "has no rows"),
    ("m.jsonl", '{"query": "a", "image": "x.png"}\nnot json\n', "line 2 is not JSON"),
])
def test_unusable_manifests(batch, tmp_path: Path, name: str, content: str, message: str):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert message in one_line_error(batch(path, "--model", NO_MODEL, "--out", tmp_path / "o.parquet"))


def test_a_missing_manifest_and_leftover_parts_are_one_line_errors(batch, catalog):
    assert "no such manifest file" in one_line_error(batch(catalog.folder / "nope.csv", "--model", NO_MODEL,
                                                           "--out", catalog.folder / "o.parquet"))
    (catalog.folder / "o.parquet.parts").mkdir()
    line = one_line_error(batch(catalog.write("csv"), "--model", NO_MODEL, "--out", catalog.folder / "o.parquet"))
    assert "pass --resume to continue it, or delete the folder" in line


def test_chunks_resolve_paths_number_rows_and_default_groups(catalog):
    rows = [{"query": "red", "image": "images/red.png"}, {"query": "red", "image": "/abs/x.png"},
            {"query": None, "image": ""}, {"query": "blue", "image": "images/blue.png"}]
    manifest = Manifest.open(catalog.write("jsonl", rows=rows))
    chunks = list(manifest.chunks(3))
    assert [chunk.num_rows for chunk in chunks] == [3, 1]
    table = pa.concat_tables(chunks).to_pydict()
    assert table["id"] == table[ROW] == [0, 1, 2, 3]
    assert table["_lychee_path"] == [str(catalog.folder / "images/red.png"), "/abs/x.png", None,
                                     str(catalog.folder / "images/blue.png")]
    assert table["group"] == ["red", "red", "", "blue"] and table[KEY] == ["q:red", "q:red", "q:", "q:blue"]
    assert manifest.rows == 4 and manifest.ids == {0, 1, 2, 3}


def test_reserved_column_names_are_refused(catalog):
    rows = [{**row, "_lychee_row": 1} for row in catalog.rows]
    with pytest.raises(ManifestError, match="reserved"):
        Manifest.open(catalog.write("csv", rows=rows))


def test_group_ranks_put_unscored_rows_last_and_break_ties_by_row():
    keys = pa.table({
        KEY: ["a", "b", "a", "a", "b", "a"],
        ROW: [0, 1, 2, 3, 4, 5],
        SCORE: [5.0, 1.0, 0.0, 5.0, 2.0, 0.0],
        PARSE_METHOD: ["yesno", "yesno", "failed", "yesno", "yesno", "yesno"],
    })
    # group a: rows 0 and 3 tie at 5.0 (row order), row 5 a genuine 0.0 outranks unreadable row 2
    assert group_ranks(keys).tolist() == [1, 2, 4, 2, 1, 3]
