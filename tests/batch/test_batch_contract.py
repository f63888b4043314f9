"""The job contract (README "Batch jobs"): every manifest row once, with score, rank per group and warnings."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lychee_rerank.batch.progress import Progress

RESULT_COLUMNS = ["score", "rank", "parse_method", "warning", "scored_size"]


def read_out(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as stream:
            return list(csv.DictReader(stream))
    return pq.read_table(path).to_pylist()


def assert_ranked_per_group(rows: list[dict]) -> None:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    for members in groups.values():
        ordered = sorted(members, key=lambda r: int(r["rank"]))
        assert [int(r["rank"]) for r in ordered] == list(range(1, len(members) + 1))
        scored = [float(r["score"]) for r in ordered if r["parse_method"] != "failed"]
        assert scored == sorted(scored, reverse=True)
        failed = [r for r in ordered if r["parse_method"] == "failed"]
        assert ordered[len(ordered) - len(failed):] == failed, "rows the model could not score rank last"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_row_once_with_results_in_every_format(batch, catalog, tiny_reranker_dir: Path, fmt: str):
    manifest = catalog.write(fmt)
    out = catalog.folder / f"out-{fmt}.parquet"
    done = batch(manifest, "--model", tiny_reranker_dir, "--out", out)
    assert done.returncode == 0, done.stderr
    rows = read_out(out)
    assert [row["id"] for row in rows] == [row["id"] for row in catalog.rows], "one row per manifest row, in order"
    assert list(rows[0]) == ["id", "query", "image", "sku", "price", "group", *RESULT_COLUMNS]
    assert [row["image"] for row in rows] == [row["image"] for row in catalog.rows], "the manifest's values kept"
    assert_ranked_per_group(rows)
    by_id = {row["id"]: row for row in rows}
    for bad, reason in [("r4", "no such file"), ("r5", "corrupt")]:  # images/missing.png, images/corrupt.png
        assert by_id[bad]["score"] == 0.0 and by_id[bad]["parse_method"] == "failed"
        assert reason in by_id[bad]["warning"] and by_id[bad]["scored_size"] is None
    empty = rows[-1]
    assert empty["query"] == "" and empty["parse_method"] == "failed" and "query is empty" in empty["warning"]
    good = by_id["r0"]
    assert good["parse_method"] == "yesno" and good["warning"] is None and 0 <= good["score"] <= 10
    assert all(row["scored_size"].count("x") == 1 for row in rows if row["parse_method"] == "yesno")
    assert not (catalog.folder / f"out-{fmt}.parquet.parts").exists(), "the parts are removed once OUT is whole"


def test_the_three_formats_give_the_same_scores(batch, catalog, tiny_reranker_dir: Path):
    scores = []
    for fmt in ("csv", "jsonl", "parquet"):
        out = catalog.folder / f"{fmt}.parquet"
        assert batch(catalog.write(fmt), "--model", tiny_reranker_dir, "--out", out).returncode == 0
        scores.append([(row["id"], row["score"], row["rank"]) for row in read_out(out)])
    assert scores[0] == scores[1] == scores[2]


def test_csv_output_and_default_ids(batch, catalog, tiny_reranker_dir: Path):
    rows = [{"query": row["query"], "image": row["image"]} for row in catalog.rows]
    manifest = catalog.write("csv", rows=rows)
    out = catalog.folder / "out.csv"
    assert batch(manifest, "--model", tiny_reranker_dir, "--out", out).returncode == 0
    written = read_out(out)
    assert list(written[0]) == ["query", "image", "id", "group", *RESULT_COLUMNS]
    assert [row["id"] for row in written] == [str(n) for n in range(len(rows))], "default id: the 0-based row number"
    assert [row["group"] for row in written] == [row["query"] for row in rows], "default group: the query"
    assert_ranked_per_group(written)


def test_a_group_spanning_chunks_is_ranked_as_one(batch, catalog, tiny_reranker_dir: Path):
    manifest = catalog.write("parquet")
    whole, chunked = catalog.folder / "whole.parquet", catalog.folder / "chunked.parquet"
    assert batch(manifest, "--model", tiny_reranker_dir, "--out", whole).returncode == 0
    assert batch(manifest, "--model", tiny_reranker_dir, "--out", chunked, "--chunk-size", "4").returncode == 0
    key = [(row["id"], row["score"], row["rank"], row["warning"]) for row in read_out(whole)]
    assert [(row["id"], row["score"], row["rank"], row["warning"]) for row in read_out(chunked)] == key


def test_explicit_groups_rank_apart_from_the_query(batch, catalog, tiny_reranker_dir: Path):
    rows = [{**row, "group": f"g{n % 2}"} for n, row in enumerate(catalog.rows[:10])]
    out = catalog.folder / "groups.parquet"
    assert batch(catalog.write("jsonl", rows=rows), "--model", tiny_reranker_dir, "--out", out).returncode == 0
    written = read_out(out)
    assert sorted(row["rank"] for row in written if row["group"] == "g0") == [1, 2, 3, 4, 5]
    assert sorted(row["rank"] for row in written if row["group"] == "g1") == [1, 2, 3, 4, 5]
    assert_ranked_per_group(written)


def test_a_job_logs_its_figures(batch, catalog, tiny_reranker_dir: Path):
    done = batch(catalog.write("csv"), "--model", tiny_reranker_dir, "--out", catalog.folder / "o.parquet")
    assert done.returncode == 0
    assert "11 rows in 3 groups" in done.stderr and "3 not scored" in done.stderr, "missing, corrupt, empty query"
    assert "11/11 rows (" in done.stderr and "rows/s, ETA" in done.stderr, "progress as log lines off a terminal"


def test_a_terminal_gets_a_bar_with_rate_and_eta(capsys):
    progress = Progress(4, bar=True)
    progress.update(3)
    progress.update(1)
    progress.close()
    err = capsys.readouterr().err
    assert "4/4" in err and "row/s" in err and "<00:00" in err, err  # done/total, rate, time left
