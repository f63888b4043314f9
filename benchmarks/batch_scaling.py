"""Batch-job scaling: rows/s of the local engine and of Ray Data with 1 and 2 CPU workers, host RSS over a
long manifest, and an on-paper estimate for the 400,000-pair catalog on N GPUs.

    python benchmarks/batch_scaling.py --model demo --rows 2000 --rss-rows 20000

1. Throughput: a catalog-shaped manifest of ``--rows`` rows (groups of ``--group-size`` distinct
   synthetic images, one query per group, like a SKU's photos and its title) is scored by
   ``lychee-rerank batch``'s own code (``run_job``) with the local engine, then with the Ray engine
   and ``--workers`` 1 and 2 on a local Ray cluster started once beforehand (so cluster start-up is
   not counted; actor start-up and model loading are). rows/s = rows / wall time of the job.
2. Memory: ``lychee-rerank batch`` runs in a subprocess over ``--rss-rows`` rows whose images repeat
   from a set of ``--rss-images``; its VmRSS is sampled with the rows written so far (part files x
   chunk size). Growth = RSS at the end of scoring over RSS once ``--rss-after`` rows are written.
3. On paper: hours for 400,000 pairs on N GPUs from an assumed per-GPU rate (``--gpu-rates``).

Prints the tables last; writes every figure to benchmarks/out/batch_scaling.json or --out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray
import torch

from lychee_rerank.batch.job import run_job
from lychee_rerank.batch.spec import BatchJob
from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info, mib

from bench_support import script_main, synthetic_image

QUERIES = ["a red circle", "a blue square", "a green star", "a yellow star", "a purple circle", "an orange square"]
CATALOG_PAIRS = 400_000  # 50,000 SKUs x 8 photos (issue 14)
GPU_EFFICIENCY = 0.9  # assumed: Ray Data overhead, image reads from shared storage, stragglers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="anything --model takes (default demo)")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the throughput manifest (default 2000)")
    parser.add_argument("--group-size", type=int, default=8, help="images per group (default 8, a SKU's photos)")
    parser.add_argument("--image-size", type=int, default=128, help="side of the synthetic JPEGs (default 128)")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts (default 1,2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the local engine (default 1)")
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--rss-rows", type=int, default=20_000, help="rows of the memory run (default 20000; 0: skip)")
    parser.add_argument("--rss-images", type=int, default=16, help="distinct images the memory run repeats")
    parser.add_argument("--rss-after", type=int, default=1000, help="baseline: RSS once this many rows are written")
    parser.add_argument("--no-ray", action="store_true", help="only the local engine")
    parser.add_argument("--gpu-rates", default="0.77,10",
                        help="assumed images/s per GPU for the estimate (default 0.77 = the seeds' 1.3 s/image, 10)")
    parser.add_argument("--gpus", default="1,2,4,8,16", help="GPU counts for the estimate")
    parser.add_argument("--keep", action="store_true", help="keep the generated manifests and outputs")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/batch_scaling.json)")
    return parser.parse_args(argv)


def write_manifest(folder: Path, rows: int, group_size: int, images: list[str]) -> Path:
    """Rows in groups of ``group_size`` (one query per group), image ``i`` of ``images`` for row ``i``."""
    records = {"id": [], "group": [], "query": [], "image": []}
    for row in range(rows):
        group = row // group_size
        records["id"].append(f"row-{row}")
        records["group"].append(f"sku-{group}")
        records["query"].append(QUERIES[group % len(QUERIES)])
        records["image"].append(images[row % len(images)])
    path = folder / "manifest.parquet"
    pq.write_table(pa.table(records), path)
    return path


def write_images(folder: Path, count: int, side: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for index in range(start, start + count):
        name = f"img-{index:06d}.jpg"
        (folder / name).write_bytes(synthetic_image(index, (side, side)))
        names.append(f"images/{name}")
    return names


def timed_job(args: argparse.Namespace, manifest: Path, out: Path, engine: str, workers: int = 1) -> dict[str, Any]:
    options = {"dtype": "auto", "mode": "auto", "device": "cpu", "batch_size": 1}
    job = BatchJob(manifest, out, args.model, reranker_options=options, engine=engine, workers=workers,
                   chunk_rows=args.chunk_size, progress_bar=False)
    start = time.perf_counter()
    report = run_job(job)
    seconds = time.perf_counter() - start
    merged = report.merged
    return {"engine": engine, "workers": workers if engine == "ray" else None, "rows": merged.rows,
            "seconds": seconds, "rows_per_s": merged.rows / seconds, "not_scored": merged.not_scored,
            "scores": pq.read_table(out, columns=["id", "score"]).to_pydict()}


def throughput(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    images = write_images(folder / "images", args.rows, args.image_size)
    manifest = write_manifest(folder, args.rows, args.group_size, images)
    runs = [timed_job(args, manifest, folder / "local.parquet", "local")]
    if not args.no_ray:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING")
        try:
            for workers in (int(w) for w in args.workers.split(",")):
                runs.append(timed_job(args, manifest, folder / f"ray-{workers}.parquet", "ray", workers))
        finally:
            ray.shutdown()
    reference = dict(zip(*runs[0].pop("scores").values()))
    for run in runs[1:]:
        scores = dict(zip(*run.pop("scores").values()))
        run["max_score_diff_vs_local"] = max(abs(scores[key] - value) for key, value in reference.items())
    return runs


def rss_run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The CLI in a subprocess over a long manifest of repeated images, its VmRSS sampled as parts appear."""
    images = write_images(folder / "images", args.rss_images, args.image_size, start=10**6)
    manifest = write_manifest(folder, args.rss_rows, args.group_size, images)
    out = folder / "out.parquet"
    command = [sys.executable, "-m", "lychee_rerank.cli", "-q", "batch", str(manifest), "--model", args.model,
               "--out", str(out), "--device", "cpu", "--threads", str(args.threads), "--chunk-size",
               str(args.chunk_size)]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = sample_rss(proc, folder / "out.parquet.parts", args.chunk_size, args.rss_rows)
    _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the memory run failed ({proc.returncode}): {stderr[-2000:]}")
    scoring = [s for s in samples if s["rows"] is not None]
    baseline = next((s for s in scoring if s["rows"] >= args.rss_after), None)
    if baseline is None:
        raise RuntimeError(f"no RSS sample after {args.rss_after} rows: give more --rss-rows or a lower --rss-after")
    # The first sample with every part written: scoring is over, the merge begins.
    end = next((s for s in scoring if s["rows"] == args.rss_rows), scoring[-1])
    return {"rows": args.rss_rows, "distinct_images": args.rss_images, "seconds": time.perf_counter() - start,
            "baseline": baseline, "end_of_scoring": end, "peak_rss": max(s["rss"] for s in samples),
            "growth_pct": 100 * (end["rss"] - baseline["rss"]) / baseline["rss"],
            "output_rows": pq.read_metadata(out).num_rows, "samples": samples[::20] + [end]}


def sample_rss(proc: subprocess.Popen, parts: Path, chunk: int, total: int, every_s: float = 0.25) -> list[dict]:
    """(seconds, rows written, VmRSS) every ``every_s`` until the process ends; rows None while no parts exist."""
    samples, start = [], time.perf_counter()
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as status:
                rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            break
        written = min(total, len(list(parts.glob("part-*.parquet"))) * chunk) if parts.exists() else None
        samples.append({"t": round(time.perf_counter() - start, 2), "rows": written, "rss": rss})
        time.sleep(every_s)
    return samples


def estimate(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for rate in (float(r) for r in args.gpu_rates.split(",")):
        for gpus in (int(g) for g in args.gpus.split(",")):
            hours = CATALOG_PAIRS / (gpus * rate * GPU_EFFICIENCY) / 3600
            rows.append({"images_per_s_per_gpu": rate, "gpus": gpus, "hours": hours})
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)  # the local engine's; each Ray actor gets its own (worker_resources)
    info = machine_info()
    folder = Path(tempfile.mkdtemp(prefix="batch-scaling-"))
    try:
        runs = throughput(args, folder / "throughput")
        memory = rss_run(args, folder / "memory") if args.rss_rows else None
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    info["load_average_end"] = load_average()
    return {"model": args.model, "rows": args.rows, "group_size": args.group_size, "threads": args.threads,
            "chunk_size": args.chunk_size, "ray": ray.__version__, "runs": runs, "memory": memory,
            "estimate": estimate(args), "gpu_efficiency": GPU_EFFICIENCY, "machine": info}


def print_table(report: dict[str, Any], path: Path) -> None:
    print(f"# batch jobs, model {report['model']}, {report['rows']} rows in groups of {report['group_size']}, "
          f"chunks of {report['chunk_size']}, Ray {report['ray']}; {describe_machine(report['machine'])}; "
          f"full: {path}")
    rows = [(r["engine"], r["workers"] or "-", r["rows"], r["seconds"], r["rows_per_s"],
             r.get("max_score_diff_vs_local")) for r in report["runs"]]
    print(format_table(("engine", "workers", "rows", "seconds", "rows/s", "max |score - local|"), rows))
    memory = report["memory"]
    if memory:
        base, end = memory["baseline"], memory["end_of_scoring"]
        print(f"RSS growth from row {base['rows']:,} to row {end['rows']:,} of {memory['rows']:,} "
              f"({memory['distinct_images']} distinct images): {mib(base['rss']):.0f} -> {mib(end['rss']):.0f} MiB "
              f"({memory['growth_pct']:+.1f}%); peak incl. the merge {mib(memory['peak_rss']):.0f} MiB; "
              f"{memory['output_rows']:,} rows written in {memory['seconds']:.0f} s")
    estimates = [(e["images_per_s_per_gpu"], e["gpus"], e["hours"]) for e in report["estimate"]]
    print(f"# on paper: {CATALOG_PAIRS:,} pairs at an assumed rate per GPU x {report['gpu_efficiency']} efficiency")
    print(format_table(("img/s per GPU (assumed)", "GPUs", "hours"), estimates))


def main(argv: list[str] | None = None) -> int:
    return script_main("batch_scaling", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
