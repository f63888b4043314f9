"""``lychee-rerank batch --query-from-metadata``: rows without a query are scored against their image's own prompt."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow.parquet as pq
from test_own_prompts import generated  # noqa: F401 - the fixture of generated images with embedded prompts

from lychee_rerank.settings import DEMO_MODEL_DIR


def write_manifest(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_manifest_without_queries_ranks_each_image_by_its_own_prompt(batch, generated, tmp_path):  # noqa: F811
    names = sorted(p.name for p in generated.iterdir())
    manifest = write_manifest(tmp_path / "m.csv", [{"id": n, "image": str(generated / n)} for n in names])
    out = tmp_path / "out.parquet"
    done = batch(manifest, "--model", DEMO_MODEL_DIR, "--out", out, "--query-from-metadata", "--batch-size", "4")
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in pq.read_table(out).to_pylist()}
    assert len(rows) == 5
    assert rows["a1111_red_circle.png"]["query"] == "a red circle" == rows["invoke_blue_square.png"]["query"]
    assert rows["comfy_green_star.png"]["query"] == "a green star" == rows["a1111_purple_circle.jpg"]["query"]
    for best, other in [("a1111_red_circle.png", "invoke_blue_square.png"),
                        ("comfy_green_star.png", "a1111_purple_circle.jpg")]:
        assert rows[best]["group"] == rows[other]["group"]
        assert (rows[best]["rank"], rows[other]["rank"]) == (1, 2)  # the image that follows its prompt wins
        assert rows[best]["score"] > 5 > rows[other]["score"]
    plain = rows["plain_orange_square.png"]  # no prompt and no query: kept, not scored, with the reason
    assert plain["query"] == "" and plain["parse_method"] == "failed" and "query is empty" in plain["warning"]


def test_a_query_in_the_manifest_is_kept_and_empty_ones_take_the_prompt(batch, generated, tmp_path):  # noqa: F811
    rows = [{"query": "an orange square", "image": str(generated / "plain_orange_square.png")},
            {"query": "", "image": str(generated / "a1111_red_circle.png")}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    out = tmp_path / "out.csv"
    done = batch(manifest, "--model", DEMO_MODEL_DIR, "--out", out, "--query-from-metadata")
    assert done.returncode == 0, done.stderr
    with open(out, newline="", encoding="utf-8") as stream:
        written = list(csv.DictReader(stream))
    assert [row["query"] for row in written] == ["an orange square", "a red circle"]
    assert [row["parse_method"] for row in written] == ["yesno", "yesno"]
    assert float(written[1]["score"]) > 5  # the red circle against its own prompt


def test_without_the_flag_a_manifest_needs_its_query_column(batch, generated, tmp_path):  # noqa: F811
    manifest = write_manifest(tmp_path / "m.csv", [{"image": str(generated / "a1111_red_circle.png")}])
    done = batch(manifest, "--model", DEMO_MODEL_DIR, "--out", tmp_path / "out.parquet")
    assert done.returncode == 1 and "--query-from-metadata" in done.stderr
