"""One torch thread or all cores, by model size: the figures behind ``settings.SMALL_MODEL_PARAMS``.

    python benchmarks/cpu_threads.py [--models demo,tiny,small-qwen-vocab,mid] [--rounds 3]

For each model: ``Reranker.rank`` on distinct synthetic 256 px JPEGs (the prepare thread on, as
users run it), with ``cpu_threads=1`` and with ``cpu_threads`` = every core, taken in turns (new
images each run) after a warm-up. Prints the parameters (all, and outside the embedding table),
each setting's median time, their ratio, and which count the library picks by itself. On a
shared machine one run can be off by 20% or more: the turns put both settings in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from lychee_rerank import Reranker
from lychee_rerank.export import format_table
from lychee_rerank.intake import ImageInput
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info
from lychee_rerank.runtime.threads import compute_parameters
from lychee_rerank.settings import SMALL_MODEL_PARAMS

from bench_support import median, parameter_count, resolve_model, run_thread_count, script_main, synthetic_images

QUERY = "a red circle"
# Small images for every model, so the comparison is the model's width, not its image size.
PIXELS = 84 * 84
# Images per run: enough for a few seconds a run on 2 cores.
IMAGES = {"demo": 150, "tiny": 150, "small-qwen-vocab": 48, "mid": 24}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="demo,tiny,small-qwen-vocab,mid", help="comma-separated model names")
    parser.add_argument("--images", type=int, default=None,
                        help="images per run (default: 150 for demo and tiny, 48 for small-qwen-vocab, 24 for mid)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per setting, taken in turns (default 3)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/cpu_threads.json)")
    return parser.parse_args(argv)


def seconds(reranker: Reranker, count: int, start: int) -> float:
    inputs = [ImageInput(name=name, data=data) for name, data in synthetic_images(count, (256, 256), start=start)]
    began = time.perf_counter()
    reranker.rank(QUERY, inputs)
    return time.perf_counter() - began


def model_figures(name: str, rounds: int, cores: int, images: int | None) -> dict[str, Any]:
    pixels = None if name == "demo" else PIXELS
    loaded = resolve_model(name, device="cpu", max_pixels=pixels)
    options = {"max_pixels": pixels, "min_pixels": pixels, "vision_cache_mib": 0}  # every run scores every image
    rerankers = {threads: Reranker(loaded, cpu_threads=threads, **options) for threads in (1, cores)}
    count = images or IMAGES.get(name, 48)
    seconds(rerankers[1], 4, start=1)
    times: dict[int, list[float]] = {1: [], cores: []}
    for round_ in range(rounds):
        for threads, reranker in rerankers.items():
            times[threads].append(seconds(reranker, count, start=10_000 * (round_ + 1) + 1000 * threads))
    one, all_cores = median(times[1]), median(times[cores])
    return {"model": name, "parameters": parameter_count(loaded.model), "compute_parameters":
            compute_parameters(loaded.model), "images": count, "seconds": times, "one_s": one,
            "all_s": all_cores, "all_over_one": all_cores / one,
            "auto_threads": run_thread_count(loaded, None)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    cores = os.cpu_count() or 1
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    models = [model_figures(name, args.rounds, cores, args.images) for name in names]
    info["load_average_end"] = load_average()
    return {"benchmark": "cpu_threads", "cores": cores, "rounds": args.rounds, "small_model_params": SMALL_MODEL_PARAMS,
            "models": models, "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    cores = report["cores"]
    print(f"# torch threads by model size: {report['rounds']} runs each, in turns; "
          f"{describe_machine(report['machine'])}; full: {path}")
    rows = [[m["model"], f"{m['parameters'] / 1e6:.1f}M", f"{m['compute_parameters'] / 1e6:.1f}M", str(m["images"]),
             _time(m["seconds"][1], m["one_s"]), _time(m["seconds"][cores], m["all_s"]),
             f"{m['all_over_one']:.2f}", str(m["auto_threads"])] for m in report["models"]]
    print(format_table(["model", "parameters", "outside embeddings", "images", "1 thread",
                        f"{cores} threads", f"{cores} / 1", "library picks"], rows))
    print(f"The library picks one thread for a model on the CPU with under {report['small_model_params'] / 1e6:.0f}M "
          "parameters outside its embeddings, else torch's own count.")


def _time(values: list[float], middle: float) -> str:
    return f"{middle:.2f} s (" + ", ".join(f"{value:.2f}" for value in values) + ")"


def main(argv: list[str] | None = None) -> int:
    return script_main("cpu_threads", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
