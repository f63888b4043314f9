"""A refined query on the same images: the second query reuses the vision tower's output.

    python benchmarks/requery.py --model mid --images 32

Scores a realistic mix of image sizes (phone photos 3024x4032, 1024x768, 512x512,
screenshots 1920x1080) with a first query, then a refined second query on the same
images (the vision-feature cache is on, as by default), then the second query again
on a Reranker without the cache. Prints the first/second time ratio from this one
run, and the largest score difference between the cached and uncached second query.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from lychee_rerank.export import format_table
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime.machine import describe_machine, machine_info

from bench_support import (
    DEFAULT_MODEL_CACHE,
    MIXED_SIZES,
    MODEL_HELP,
    cycled_images,
    parse_sizes,
    resolve_model,
    run_thread_count,
    script_main,
)

FIRST, SECOND = "glassmorphism dashboard", "glassmorphism dashboard, light theme"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mid", help=MODEL_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--image-sizes", default=MIXED_SIZES, help=f"cycled through (default {MIXED_SIZES})")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE))
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/requery.json)")
    args = parser.parse_args(argv)
    args.image_sizes = parse_sizes(args.image_sizes)
    return args


def timed(reranker: Reranker, query: str, images: list) -> tuple[float, Any]:
    start = time.perf_counter()
    ranking = reranker.rank(query, images)
    return time.perf_counter() - start, ranking


def compare_queries(
    loaded: Any, images: list, *, batch_size: int | str, max_pixels: int | None = None, cpu_threads: int | None = None,
) -> dict:
    """A first query, a refined second one (cache on), and the second again without the cache: times and agreement."""
    options = {"mode": "yesno", "batch_size": batch_size, "max_pixels": max_pixels, "cpu_threads": cpu_threads}
    cached = Reranker(loaded, **options)
    uncached = Reranker(loaded, **options, vision_cache_mib=0)
    timed(uncached, "warm-up", images[:1])  # first-call costs (allocator, kernels) are not the cache's
    first_s, _ = timed(cached, FIRST, images)
    second_s, second = timed(cached, SECOND, images)
    uncached_s, reference = timed(uncached, SECOND, images)
    pairs = zip(sorted(second, key=lambda r: r.index), sorted(reference, key=lambda r: r.index))
    return {
        "first_s": first_s, "second_s": second_s, "second_uncached_s": uncached_s,
        "ratio_first_over_second": first_s / second_s,
        "max_abs_delta_p_yes": max(abs(a.p_yes - b.p_yes) for a, b in pairs if a.ok),
        "same_ranking": [r.index for r in second] == [r.index for r in reference],
        "cache": cached.describe()["vision_cache"],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    loaded = resolve_model(args.model, device=args.device, dtype=args.dtype, cache_dir=args.model_cache)
    info["torch_threads"] = run_thread_count(loaded, args.threads)  # what the runs use
    figures = compare_queries(loaded, cycled_images(args.images, args.image_sizes), batch_size=args.batch_size,
                              cpu_threads=args.threads)
    return {
        "benchmark": "requery", "model": args.model, "device": loaded.device, "images": args.images,
        "image_sizes": [f"{w}x{h}" for w, h in args.image_sizes], "batch_size": args.batch_size,
        **figures, "machine": info,
    }


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# requery: {report['model']} on {report['device']}, {report['images']} images "
          f"({', '.join(report['image_sizes'])} cycled), batch {report['batch_size']}, yes/no; "
          f"{describe_machine(report['machine'])}; full figures: {path}")
    rows = [["first query", report["first_s"], report["first_s"] / report["images"]],
            ["second query (cache)", report["second_s"], report["second_s"] / report["images"]],
            ["second query, no cache", report["second_uncached_s"], report["second_uncached_s"] / report["images"]]]
    print(format_table(["run", "seconds", "s/image"], rows))
    print(f"cache: {report['cache']}")
    print(f"same ranking with and without the cache: {report['same_ranking']}; "
          f"max |dp(yes)| {report['max_abs_delta_p_yes']:.2e}")
    print(f"ratio first / second query: {report['ratio_first_over_second']:.2f}")


def main(argv: list[str] | None = None) -> int:
    return script_main("requery", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
