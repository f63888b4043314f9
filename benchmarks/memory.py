"""Memory flatness: score N distinct images one at a time and watch host RSS (and GPU memory).

    python benchmarks/memory.py --model mid --images 200

Each image is a distinct synthetic JPEG (gradient + noise) of one of a few
sizes, generated on the fly so the image set itself does not grow in memory.
By default every image is its own ``Reranker.rank`` call (how the app and a
server call it); ``--one-run`` scores them all in one call instead, batch size 1.
RSS (VmRSS from /proc/self/status) and, on a GPU, torch.cuda memory_allocated /
max_memory_allocated / memory_reserved are recorded after image ``--after``
(10) and after the last image; the growth between them is printed in percent.

Prints a short table last; writes the full figures (with an RSS curve every
10 images) to benchmarks/out/memory.json or --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch

from lychee_rerank.export import format_table
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime.machine import (
    cuda_memory,
    describe_machine,
    load_average,
    machine_info,
    mib,
    peak_rss_bytes,
    rss_bytes,
)
from lychee_rerank.settings import DEFAULT_MAX_PIXELS

from bench_support import (
    DEFAULT_MODEL_CACHE,
    MODEL_HELP,
    parameter_count,
    parse_sizes,
    resolve_model,
    run_thread_count,
    script_main,
    synthetic_image,
)

QUERY = "a red dress on a beach"
DEFAULT_SIZES = "448x448,640x480,320x240,256x512,1024x768"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small-qwen-vocab", help=MODEL_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--mode", choices=("yesno", "generate"), default="yesno")
    parser.add_argument("--images", type=int, default=200, help="how many distinct images (default 200)")
    parser.add_argument("--after", type=int, default=10, help="the early checkpoint (default: after image 10)")
    parser.add_argument("--image-sizes", default=DEFAULT_SIZES, help=f"sizes cycled through (default {DEFAULT_SIZES})")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    parser.add_argument(
        "--one-run", action="store_true", help="one rank() call over all images instead of one call per image"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE))
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/memory.json)")
    args = parser.parse_args(argv)
    args.image_sizes = parse_sizes(args.image_sizes)
    if not 1 <= args.after < args.images:
        parser.error("--after must be at least 1 and below --images")
    return args


def images(args: argparse.Namespace) -> Iterator[tuple[str, bytes]]:
    for i in range(args.images):
        size = args.image_sizes[i % len(args.image_sizes)]
        yield f"noise_{i:04d}_{size[0]}x{size[1]}.jpg", synthetic_image(i, size)


def snapshot(done: int, start: float) -> dict[str, Any]:
    point: dict[str, Any] = {
        "images": done,
        "t_s": time.perf_counter() - start,
        "rss": rss_bytes(),
        "peak_rss": peak_rss_bytes(),
    }
    gpu = cuda_memory()
    if gpu:
        point.update({f"cuda_{k}": v for k, v in gpu.items()})
    return point


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    rss_start = rss_bytes()
    loaded = resolve_model(
        args.model, device=args.device, dtype=args.dtype, cache_dir=args.model_cache, max_pixels=args.max_pixels
    )
    info["torch_threads"] = run_thread_count(loaded, args.threads)  # what the runs use
    # The vision-feature cache fills up to its bound by design; off here, so growth means a leak.
    reranker = Reranker(loaded, mode=args.mode, max_pixels=args.max_pixels, max_images=max(args.images, 1000),
                        vision_cache_mib=0, cpu_threads=args.threads)
    rss_loaded = rss_bytes()
    curve: list[dict[str, Any]] = []
    checkpoints: dict[int, dict[str, Any]] = {}
    failed: list[str] = []
    start = time.perf_counter()

    def on_done(done: int, result: Any) -> None:
        if not result.ok:
            failed.append(f"{result.name}: {result.warning}")
        if done % 10 == 0 or done in (args.after, args.images):
            point = snapshot(done, start)
            curve.append(point)
            print(f"[{done}/{args.images}] RSS {mib(point['rss']):.0f} MiB", file=sys.stderr, flush=True)
            if done in (args.after, args.images):
                checkpoints[done] = point

    if args.one_run:
        reranker.rank(QUERY, images(args), on_progress=lambda done, total, result: on_done(done, result))
    else:
        for done, item in enumerate(images(args), 1):
            ranking = reranker.rank(QUERY, [item])
            on_done(done, ranking[0])
    early, late = checkpoints[args.after], checkpoints[args.images]
    info["load_average_end"] = load_average()
    growth = {
        "rss_pct": 100.0 * (late["rss"] - early["rss"]) / early["rss"],
        "rss_mib": mib(late["rss"] - early["rss"]),
    }
    for key in ("cuda_allocated", "cuda_max_allocated", "cuda_reserved"):
        if key in early and early[key]:
            growth[f"{key}_pct"] = 100.0 * (late[key] - early[key]) / early[key]
    return {
        "benchmark": "memory",
        "model": args.model,
        "parameters": parameter_count(loaded.model),
        "device": loaded.device,
        "dtype": str(loaded.dtype).replace("torch.", ""),
        "mode": reranker.mode,
        "calls": "one run" if args.one_run else "one rank() call per image",
        "images": args.images,
        "image_sizes": [f"{w}x{h}" for w, h in args.image_sizes],
        "rss_before_load": rss_start,
        "rss_after_load": rss_loaded,
        "checkpoints": {str(k): v for k, v in checkpoints.items()},
        "growth": growth,
        "seconds": time.perf_counter() - start,
        "failed": failed,
        "curve": curve,
        "machine": info,
    }


def print_table(report: dict[str, Any], path: Any) -> None:
    early, late = (report["checkpoints"][k] for k in sorted(report["checkpoints"], key=int))
    rows = [["host RSS MiB", mib(early["rss"]), mib(late["rss"]), report["growth"]["rss_pct"]]]
    rows.append(
        [
            "host peak RSS MiB",
            mib(early["peak_rss"]),
            mib(late["peak_rss"]),
            100.0 * (late["peak_rss"] - early["peak_rss"]) / early["peak_rss"],
        ]
    )
    for key, label in (
        ("cuda_max_allocated", "GPU max allocated MiB"),
        ("cuda_allocated", "GPU allocated MiB"),
        ("cuda_reserved", "GPU reserved MiB"),
    ):
        if key in early:
            pct = 100.0 * (late[key] - early[key]) / early[key] if early[key] else None
            rows.append([label, mib(early[key]), mib(late[key]), pct])
    print(
        f"# memory: {report['model']} ({report['parameters'] / 1e6:.1f}M params) on {report['device']}, "
        f"{report['dtype']}, {report['mode']} mode, {report['images']} distinct images "
        f"({', '.join(report['image_sizes'])}), {report['calls']}; "
        f"{report['seconds']:.0f} s; {describe_machine(report['machine'])}"
    )
    print(
        f"# RSS before loading the model {mib(report['rss_before_load']):.0f} MiB, "
        f"after {mib(report['rss_after_load']):.0f} MiB; "
        f"full figures: {path}"
    )
    if report["failed"]:
        print(f"# WARNING: {len(report['failed'])} images not scored: {report['failed'][:3]}")
    print(
        format_table(["measure", f"after image {early['images']}", f"after image {late['images']}", "growth %"], rows)
    )
    print(
        f"RSS growth from image {early['images']} to image {late['images']}: {report['growth']['rss_pct']:+.2f}% "
        f"({report['growth']['rss_mib']:+.1f} MiB)"
    )


def main(argv: list[str] | None = None) -> int:
    return script_main("memory", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
