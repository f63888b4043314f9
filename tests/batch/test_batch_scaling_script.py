"""benchmarks/batch_scaling.py runs and reports in the expected shape (local engine, a short memory run).

Not a speed test: nothing here asserts on a time or a rate. The Ray half is covered by test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_batch_scaling_script_reports_rates_memory_and_the_estimate(tiny_reranker_dir: Path, tmp_path: Path):
    out = tmp_path / "batch_scaling.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "batch_scaling.py"), "--model", str(tiny_reranker_dir),
         "--no-ray", "--rows", "16", "--rss-rows", "384", "--rss-after", "32", "--chunk-size", "16",
         "--image-size", "32", "--gpus", "1,8", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"RSS growth from row \d+ to row \d+ of 384 ", proc.stdout), proc.stdout
    report = json.loads(out.read_text())
    [local] = report["runs"]
    assert local["engine"] == "local" and local["rows"] == 16 and local["rows_per_s"] > 0
    assert report["memory"]["output_rows"] == 384 and "growth_pct" in report["memory"]
    assert [(e["gpus"], e["images_per_s_per_gpu"]) for e in report["estimate"]] == [(1, 0.77), (8, 0.77), (1, 10.0),
                                                                                     (8, 10.0)]
