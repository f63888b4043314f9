"""The Ray engine on a local Ray cluster (2 CPUs) the test starts and stops: the same rows and scores as local."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from batch_catalog import build_catalog

ray = pytest.importorskip("ray", reason="the Ray engine needs the cluster extra: pip install -e '.[cluster]'")

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray cluster with 2 CPUs for this module; the job joins it rather than starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


def test_ray_scores_equal_the_local_engine(local_ray, batch, tmp_path: Path, tiny_reranker_dir: Path):
    catalog = build_catalog(tmp_path / "catalog", copies=2)
    manifest = catalog.write("parquet")
    common = ["--model", tiny_reranker_dir, "--chunk-size", "4"]
    local, on_ray = tmp_path / "local.parquet", tmp_path / "ray.parquet"
    assert batch(manifest, *common, "--out", local).returncode == 0
    done = batch(manifest, *common, "--out", on_ray, "--engine", "ray", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert ray.is_initialized(), "a cluster the job did not start is left running"
    expected = pq.read_table(local).to_pylist()
    rows = pq.read_table(on_ray).to_pylist()
    assert [row["id"] for row in rows] == [row["id"] for row in expected], "every row once, in manifest order"
    for row, want in zip(rows, expected):
        assert abs(row["score"] - want["score"]) <= 1e-5
        assert (row["rank"], row["parse_method"], row["warning"], row["scored_size"]) == (
            want["rank"], want["parse_method"], want["warning"], want["scored_size"])
    assert not (tmp_path / "ray.parquet.parts").exists()


def test_a_model_error_on_the_actors_is_one_line(local_ray, batch, catalog, tmp_path: Path):
    done = batch(catalog.write("csv"), "--model", tmp_path / "no-model", "--out", tmp_path / "o.parquet",
                 "--engine", "ray")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("lychee-rerank: error: ") and "no-model" in lines[-1], done.stderr[-2000:]
