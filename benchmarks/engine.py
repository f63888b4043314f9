"""The throughput engine: sequential vs prepared ahead, batch 1 vs auto vs N, padding, a second query.

    python benchmarks/engine.py --model small-qwen-vocab --images 16          (CPU)
    python benchmarks/engine.py --model qwen2.5-vl-7b-arch --images 64        (GPU; run_gpu.sh does this)

One loaded model, one set of distinct synthetic images of a realistic mix of sizes (phone
photos 3024x4032, 1024x768, 512x512, screenshots 1920x1080, cycled), yes/no mode. Each
configuration is one ``Reranker.rank`` call over all images with the vision-feature cache
off, so every call pays for the vision tower: sequential (everything on the calling
thread) and prepared ahead (decode + processor on a worker thread), at batch 1, ``auto``
and ``--batch`` N; at N also in input order, to show the padding that size ordering saves.
Then the requery pair on a fresh cached Reranker: a first query, a refined second query,
and their ratio. On a GPU, achieved TFLOP/s counts 2 FLOPs per parameter per token (the
language model without its embedding; the vision tower per 14-px patch; attention's
quadratic term left out, so it understates a little) against the card's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch
from requery import FIRST, compare_queries

from lychee_rerank.export import format_table
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info
from lychee_rerank.settings import BATCH_AUTO

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

# Dense bf16 tensor-core peaks from the vendors' datasheets (TFLOP/s), by device-name fragment, most specific first.
PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H200", 989.0), ("GH200", 989.0),
               ("A100", 312.0), ("L40S", 362.0), ("RTX 4090", 165.0), ("A10", 125.0))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small-qwen-vocab", help=MODEL_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--image-sizes", default=MIXED_SIZES, help=f"cycled through (default {MIXED_SIZES})")
    parser.add_argument("--batch", type=int, default=4, help="the fixed batch size compared with 1 and auto")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="default: the family's own (1280*28*28 lychee, 1800*32*32 Qwen3-VL-Reranker)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE))
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/engine.json)")
    args = parser.parse_args(argv)
    args.image_sizes = parse_sizes(args.image_sizes)
    return args


def flops_per_unit(model: Any) -> tuple[int, int]:
    """(FLOPs per language-model token, FLOPs per vision patch): 2 per parameter."""
    inner = model.model
    language = sum(p.numel() for p in inner.language_model.parameters())
    embedding = inner.language_model.embed_tokens.weight.numel()
    return 2 * (language - embedding), 2 * sum(p.numel() for p in inner.visual.parameters())


def peak_tflops(device: str) -> tuple[str | None, float | None]:
    if not device.startswith("cuda"):
        return None, None
    name = torch.cuda.get_device_name(0)
    return name, next((peak for fragment, peak in PEAK_TFLOPS if fragment in name), None)


def measure(reranker: Reranker, images: list, label: str, flops: tuple[int, int]) -> dict[str, Any]:
    start = time.perf_counter()
    ranking = reranker.rank(FIRST, images)
    seconds = time.perf_counter() - start
    stats = ranking.stats
    patch = reranker.geometry.patch_size  # 14 px for Qwen2.5-VL, 16 px for Qwen3-VL
    patches = sum((r.scored_size[0] // patch) * (r.scored_size[1] // patch)
                  for r in ranking if r.scored_size and r.duplicate_of is None)
    work = flops[0] * (stats["tokens"] - stats["padding_tokens"]) + flops[1] * patches
    return {"run": label, "seconds": seconds, "images_per_s": len(images) / seconds, "batches": stats["batches"],
            "padding_fraction": stats["padding_fraction"], "tflops": work / seconds / 1e12,
            "scores": {r.index: r.score for r in ranking}}


def configurations(batch: int) -> list[tuple[str, int | str, int, bool]]:
    """(label, batch_size, prefetch batches, order by size)."""
    runs = []
    for size in (1, BATCH_AUTO, batch):
        runs += [(f"batch {size}, sequential", size, 0, True), (f"batch {size}, prepared ahead", size, 2, True)]
    return runs + [(f"batch {batch}, prepared ahead, input order", batch, 2, False)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    loaded = resolve_model(args.model, device=args.device, dtype=args.dtype, cache_dir=args.model_cache,
                           max_pixels=args.max_pixels)
    info["torch_threads"] = run_thread_count(loaded, args.threads)  # what the runs use
    images = cycled_images(args.images, args.image_sizes)
    flops = flops_per_unit(loaded.model)
    warm = Reranker(loaded, mode="yesno", max_pixels=args.max_pixels, vision_cache_mib=0, cpu_threads=args.threads)
    warm.rank("warm-up", images[:2])  # first-call costs (allocator, kernels) belong to no configuration
    runs = []
    for label, batch_size, prefetch, ordered in configurations(args.batch):
        print(f"[engine] {label} ...", file=sys.stderr, flush=True)
        reranker = Reranker(loaded, mode="yesno", batch_size=batch_size, prefetch_batches=prefetch,
                            max_pixels=args.max_pixels, vision_cache_mib=0, cpu_threads=args.threads)
        reranker.order_by_size = ordered
        runs.append(measure(reranker, images, label, flops))
    base = runs[0]["scores"]
    spread = max(abs(r["scores"][i] - base[i]) for r in runs for i in base)
    requery = compare_queries(loaded, images, batch_size=BATCH_AUTO, max_pixels=args.max_pixels,
                              cpu_threads=args.threads)
    gpu, peak = peak_tflops(loaded.device)
    info["load_average_end"] = load_average()
    return {"benchmark": "engine", "model": args.model, "device": loaded.device, "gpu": gpu, "peak_tflops": peak,
            "dtype": str(loaded.dtype), "images": args.images, "max_pixels": args.max_pixels,
            "image_sizes": [f"{w}x{h}" for w, h in args.image_sizes], "runs": runs,
            "max_score_spread_across_runs": spread, "requery": requery,
            "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# engine: {report['model']} ({report['dtype']}) on {report['gpu'] or report['device']}, "
          f"{report['images']} images ({', '.join(report['image_sizes'])} cycled), max_pixels "
          f"{report['max_pixels']}, yes/no, vision cache off; {describe_machine(report['machine'])}; full: {path}")
    peak = report["peak_tflops"]
    header = ["run", "img/s", "seconds", "batches", "padding", "TFLOP/s"] + (["of peak"] if peak else [])
    rows = []
    for r in report["runs"]:
        row = [r["run"], r["images_per_s"], r["seconds"], r["batches"], f"{r['padding_fraction']:.1%}", r["tflops"]]
        rows.append(row + ([f"{r['tflops'] / peak:.1%}"] if peak else []))
    print(format_table(header, rows))
    print(f"largest score difference between any two runs: {report['max_score_spread_across_runs']:.2e}")
    rq = report["requery"]
    print(f"requery (batch auto, cache on): first {rq['first_s']:.2f} s, second {rq['second_s']:.2f} s, "
          f"ratio first / second {rq['ratio_first_over_second']:.2f}; same ranking as uncached: "
          f"{rq['same_ranking']}, max |dp(yes)| {rq['max_abs_delta_p_yes']:.2e}")


def main(argv: list[str] | None = None) -> int:
    return script_main("engine", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
