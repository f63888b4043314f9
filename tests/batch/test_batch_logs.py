"""What a batch job tells the user on stderr: how rows are grouped, one labelled speed, and nothing more with -q."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from lychee_rerank.batch.job import log_grouping
from lychee_rerank.batch.manifest import Manifest

PROGRESS_LINE = re.compile(r"\d+/\d+ rows \(")


def test_a_job_logs_one_labelled_rate_and_how_its_rows_are_grouped(batch, catalog, tiny_reranker_dir: Path,
                                                                    loading_bar_on):
    """Issue 21 bug 10: the catalog has a 'sku' column and no group column, and the rate is said once, labelled."""
    done = batch(catalog.write("csv"), "--model", tiny_reranker_dir, "--out", catalog.folder / "o.parquet")
    assert done.returncode == 0, done.stderr
    assert "no group column: rows with the same query form one ranking (3 groups)" in done.stderr
    warning = next(line for line in done.stderr.splitlines() if "looks like a product id" in line)
    assert warning.startswith("WARNING column 'sku' looks like a product id but there is no group column")
    assert "Add a group column (e.g. copy 'sku') to rank within each product." in warning
    rates = [line for line in done.stderr.splitlines() if "rows/s" in line and not PROGRESS_LINE.search(line)]
    assert len(rates) == 1, rates
    assert re.search(r"scoring [\d.]+ rows/s; whole job [\d.]+ s, [\d.]+ rows/s including model load and merge",
                     rates[0]), rates[0]
    assert "Loading weights" in done.stderr, "without -q the weight-loading bar shows (the -q test relies on it)"


def test_quiet_after_the_subcommand_hides_the_loading_bar_and_the_info_lines(batch, catalog, tiny_reranker_dir: Path,
                                                                             loading_bar_on):
    """Issue 21 bug 10: ``batch ... -q`` is accepted and shows only warnings (here: the product id one)."""
    rows = [{**row, "group": row["sku"]} for row in catalog.rows]
    done = batch(catalog.write("csv", rows=rows), "--model", tiny_reranker_dir, "--out", catalog.folder / "o.csv",
                 "-q")
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and "Loading weights" not in done.stdout
    assert "INFO" not in done.stderr and "rows/s" not in done.stderr


@pytest.fixture
def caplog_only(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """caplog, minus the stderr handler an in-process CLI run left on the root logger (its stream is closed)."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [h for h in root.handlers if type(h) is not logging.StreamHandler])
    return caplog


def write_csv(folder: Path, header: str, rows: list[str]) -> Path:
    path = folder / "manifest.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_a_group_column_is_logged_with_its_group_count(tmp_path: Path, caplog_only: pytest.LogCaptureFixture):
    manifest = Manifest.open(write_csv(tmp_path, "query,image,group,sku",
                                       ["red,a.png,p1,p1", "red,b.png,p2,p2", "red,c.png,p2,p2", "blue,d.png,,x"]))
    with caplog_only.at_level(logging.INFO, logger="lychee_rerank.batch"):
        log_grouping(manifest)
    assert [(r.levelname, r.getMessage()) for r in caplog_only.records] == [
        ("INFO", "ranked within 3 groups by the group column")], "p1, p2, and the query of the row with no group"


@pytest.mark.parametrize(("column", "warned"), [
    ("sku", True), ("SKU", True), ("Product ID", True), ("product_id", True), ("style-no", True), ("ASIN", True),
    ("item", True), ("商品ID", True), ("price", False), ("title", False), ("skus_in_stock", False),
])
def test_a_product_id_column_without_a_group_column_is_warned(tmp_path: Path, caplog_only: pytest.LogCaptureFixture,
                                                               column: str, warned: bool):
    manifest = Manifest.open(write_csv(tmp_path, f"query,image,{column}",
                                       ["red dress,a.png,1", "red dress,b.png,2", "blue,c.png,3"]))
    with caplog_only.at_level(logging.INFO, logger="lychee_rerank.batch"):
        log_grouping(manifest)
    messages = [(r.levelname, r.getMessage()) for r in caplog_only.records]
    assert messages[0] == ("INFO", "no group column: rows with the same query form one ranking (2 groups)")
    warnings = [message for level, message in messages if level == "WARNING"]
    if not warned:
        assert warnings == []
        return
    assert warnings == [
        f"column {column!r} looks like a product id but there is no group column; rows with the same query are "
        f"ranked together across products. Add a group column (e.g. copy {column!r}) to rank within each product."
    ]
