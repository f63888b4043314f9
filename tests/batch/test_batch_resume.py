"""A job killed with SIGKILL mid-way and run again with --resume: every id exactly once, the same scores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from lychee_rerank.batch.parts import PartStore, parts_dir
from lychee_rerank.batch.spec import BatchJob

from batch_catalog import build_catalog

CHUNK = 4


def wait_for_parts(parts: Path, count: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(parts.glob("part-*.parquet"))) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the job wrote fewer than {count} parts (exit code {proc.poll()})")


def test_resume_after_sigkill_gives_every_id_once_with_the_same_scores(batch, tmp_path: Path, tiny_reranker_dir: Path):
    catalog = build_catalog(tmp_path / "catalog", copies=10)
    manifest = catalog.write("csv")
    total = len(catalog.rows)
    reference = tmp_path / "reference.parquet"
    # The same chunks: a duplicate image is noted as one only within its chunk.
    assert batch(manifest, "--model", tiny_reranker_dir, "--out", reference, "--chunk-size", CHUNK).returncode == 0

    out = tmp_path / "out.parquet"
    args = ["batch", str(manifest), "--model", str(tiny_reranker_dir), "--out", str(out), "--chunk-size", str(CHUNK)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "lychee_rerank.cli", "-q", *args, "--threads", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = tmp_path / "out.parquet.parts"
    try:
        wait_for_parts(parts, 3, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    written = len(list(parts.glob("part-*.parquet")))
    assert not out.exists() and written < total / CHUNK, "killed mid-way"

    again = batch(*args[1:])
    assert again.returncode != 0 and "--resume" in again.stderr, "without --resume the parts are not overwritten"
    resumed = batch(*args[1:], "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {written * CHUNK} of {total} rows already written" in resumed.stderr, "only whole parts kept"
    rows = pq.read_table(out).to_pylist()
    assert sorted(row["id"] for row in rows) == sorted(row["id"] for row in catalog.rows), "every id exactly once"
    expected = {row["id"]: row for row in pq.read_table(reference).to_pylist()}
    for row in rows:
        assert abs(row["score"] - expected[row["id"]]["score"]) <= 1e-5
        assert row["rank"] == expected[row["id"]]["rank"] and row["warning"] == expected[row["id"]]["warning"]
    assert not parts.exists()


def test_resume_with_another_model_setting_is_refused(batch, catalog, tiny_reranker_dir: Path):
    manifest = catalog.write("csv")
    out = catalog.folder / "out.parquet"
    options = {"dtype": "auto", "mode": "auto", "max_pixels": 50176}  # as the CLI gives them
    first = BatchJob(manifest, out, str(tiny_reranker_dir), reranker_options=options)
    earlier = PartStore(parts_dir(out))
    earlier.prepare(first.settings_record(), resume=False)
    earlier.release()  # the earlier run ended
    done = batch(manifest, "--model", tiny_reranker_dir, "--out", out, "--resume", "--max-pixels", "12544")
    assert done.returncode == 1
    assert "(max_pixels was 50176, now 12544)" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_resume_without_parts_runs_the_whole_job(batch, catalog, tiny_reranker_dir: Path):
    out = catalog.folder / "out.parquet"
    done = batch(catalog.write("csv"), "--model", tiny_reranker_dir, "--out", out, "--resume")
    assert done.returncode == 0 and pq.read_table(out).num_rows == len(catalog.rows)
