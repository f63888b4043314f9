"""Fixtures of the batch-job tests: a small catalog (images on disk, bad rows included) in every manifest format,
and the CLI run in process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lychee_rerank.cli import main

from batch_catalog import Catalog, build_catalog


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    """11 rows: 6 for a dress (one file missing, one corrupt), 4 for a jacket (one absolute path), 1 empty query."""
    return build_catalog(tmp_path / "catalog")


@pytest.fixture
def batch(capsys: pytest.CaptureFixture[str]):
    """``lychee-rerank batch ARGS`` in this process: exit code, stdout and stderr."""

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(["batch", *map(str, args)])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["lychee-rerank", "batch", *args], code, out, err)

    return run
