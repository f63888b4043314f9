"""Throughput and latency: yes/no mode vs generate mode, per batch size, on one model and one image set.

    python benchmarks/throughput.py --model small-qwen-vocab --batch-sizes 1,2,4,8 --images 16

Generate mode is forced to produce the full ``--new-tokens`` (24) tokens (the
benchmark wraps the model's ``generate`` and adds ``min_new_tokens`` itself), so a
random model's early end-of-sequence cannot flatter it. Images/s is measured end to end
through ``Reranker.rank`` (image intake,
processor, model, parsing); the split of that time comes from timing the
scorer's three stages (preprocess = chat template + processor + copy to the
device, forward = the model, postprocess) inside the same run, the rest being
image intake (decode + resize) and bookkeeping. Intake alone is also timed
directly with ``prepare_image``.

Prints a short table last; writes the full figures to benchmarks/out/throughput.json or --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from lychee_rerank.export import format_table
from lychee_rerank.intake import as_inputs, prepare_image
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info
from lychee_rerank.settings import DEFAULT_MAX_PIXELS

from bench_support import (
    DEFAULT_MODEL_CACHE,
    MODEL_HELP,
    median,
    parameter_count,
    parse_sizes,
    percentile,
    resolve_model,
    run_thread_count,
    script_main,
    synthetic_images,
)

QUERY = "a red dress on a beach"
MODES = ("yesno", "generate")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small-qwen-vocab", help=MODEL_HELP)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument(
        "--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU) | bfloat16 | float16 | float32"
    )
    parser.add_argument("--batch-sizes", default="1,2,4,8", help="comma-separated (default 1,2,4,8)")
    parser.add_argument("--images", type=int, default=16, help="images per (mode, batch size) measurement (default 16)")
    parser.add_argument("--image-sizes", default="448x448", help="comma-separated WxH (default 448x448)")
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=f"default {DEFAULT_MAX_PIXELS} (1280*28*28)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help="yesno,generate")
    parser.add_argument("--new-tokens", type=int, default=24, help="tokens generate mode must produce (default 24)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches before each measurement (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE), help="where tiny/mid are built once")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/throughput.json)")
    args = parser.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    args.image_sizes = parse_sizes(args.image_sizes)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(b < 1 for b in args.batch_sizes) or args.images < 1 or args.new_tokens < 1:
        parser.error("batch sizes, --images and --new-tokens must be at least 1")
    if any(m not in MODES for m in args.modes):
        parser.error(f"--modes must be among {', '.join(MODES)}")
    return args


class StageTimer:
    """Times the scorer's preprocess / forward / postprocess and counts generated tokens.

    Wraps the bound methods on the instances only (the library code is unchanged);
    on CUDA each stage is synchronised so its time is its own.
    """

    STAGES = ("preprocess", "forward", "postprocess")

    def __init__(self, reranker: Reranker, min_new_tokens: int = 0):
        self.totals = dict.fromkeys(self.STAGES, 0.0)
        self.new_tokens: list[int] = []
        self.sync = torch.cuda.synchronize if reranker.loaded_model.device.startswith("cuda") else (lambda: None)
        scorer = reranker.scorer
        for stage in self.STAGES:
            setattr(scorer, stage, self._timed(stage, getattr(scorer, stage)))
        model = reranker.model
        original_generate = model.generate

        def counting_generate(*args: Any, **kwargs: Any) -> Any:
            # The benchmark's own keyword: no early EOS, so every row makes all its tokens.
            out = original_generate(*args, **kwargs, min_new_tokens=min_new_tokens)
            self.new_tokens.append(int(out.shape[1] - kwargs["input_ids"].shape[1]))
            return out

        self._model, self._generate = model, original_generate
        model.generate = counting_generate
        # The vision tower's share of forward (a part of it, not added to the stages).
        self.vision_s = 0.0
        self._visual = getattr(getattr(model, "model", model), "visual", None)
        if self._visual is not None:
            original_visual = self._visual.forward

            def timed_visual(*args: Any, **kwargs: Any) -> Any:
                self.sync()
                start = time.perf_counter()
                try:
                    return original_visual(*args, **kwargs)
                finally:
                    self.sync()
                    self.vision_s += time.perf_counter() - start

            self._visual.forward = timed_visual

    def _timed(self, stage: str, method: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.sync()
                self.totals[stage] += time.perf_counter() - start

        return timed

    def reset(self) -> None:
        self.totals = dict.fromkeys(self.STAGES, 0.0)
        self.new_tokens = []
        self.vision_s = 0.0

    def close(self) -> None:
        del self._model.generate  # back to the class's methods
        if self._visual is not None:
            del self._visual.forward


def measure(
    reranker: Reranker, timer: StageTimer, images: list, warm: list, batch_size: int, warmup: int
) -> dict[str, Any]:
    """One (mode, batch size) measurement through Reranker.rank, after ``warmup`` untimed batches."""
    reranker.batch_size = batch_size
    for _ in range(warmup):  # other images than the timed ones
        reranker.rank(QUERY, warm[:batch_size])
    timer.reset()
    stamps: list[float] = []
    start = time.perf_counter()
    ranking = reranker.rank(QUERY, images, on_progress=lambda done, total, result: stamps.append(time.perf_counter()))
    total = time.perf_counter() - start
    # Every image of a batch is reported at once when the batch ends: batch k's time is from the end of k-1.
    ends = [stamps[min(i + batch_size, len(stamps)) - 1] for i in range(0, len(stamps), batch_size)]
    batch_times = [end - prev for prev, end in zip([start, *ends[:-1]], ends)]
    sizes = [min(batch_size, len(images) - i) for i in range(0, len(images), batch_size)]
    per_image = [t / n for t, n in zip(batch_times, sizes) for _ in range(n)]
    stages = dict(timer.totals)
    stages["intake_and_other"] = max(0.0, total - sum(stages.values()))
    failed = [r.name for r in ranking if not r.ok]
    vision = timer.vision_s
    return {
        "batch_size": batch_size,
        "images": len(images),
        "total_s": total,
        "images_per_s": len(images) / total,
        "latency_per_image_s": {"median": median(per_image), "p90": percentile(per_image, 90)},
        "batch_latency_s": {"median": median(batch_times), "p90": percentile(batch_times, 90)},
        "stage_s": stages,
        "stage_share": {k: v / total for k, v in stages.items()},
        "forward_vision_s": vision,  # the vision tower, part of stage_s["forward"]
        "forward_vision_share_of_forward": vision / stages["forward"] if stages["forward"] else None,
        "generated_tokens_per_batch": sorted(set(timer.new_tokens)) or None,
        "failed": failed,
    }


def intake_seconds(images: list[tuple[str, bytes]], max_pixels: int) -> float:
    """Image intake alone (decode + EXIF + RGB + resize) per image."""
    inputs = as_inputs(images)
    start = time.perf_counter()
    for item in inputs:
        prepare_image(item, max_pixels=max_pixels, recipe_sizing=True)
    return (time.perf_counter() - start) / len(inputs)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    load_start = time.perf_counter()
    loaded = resolve_model(
        args.model, device=args.device, dtype=args.dtype, cache_dir=args.model_cache, max_pixels=args.max_pixels
    )
    info["torch_threads"] = run_thread_count(loaded, args.threads)  # what the runs use
    load_s = time.perf_counter() - load_start
    report: dict[str, Any] = {
        "benchmark": "throughput",
        "model": args.model,
        "parameters": parameter_count(loaded.model),
        "device": loaded.device,
        "dtype": str(loaded.dtype).replace("torch.", ""),
        "load_s": load_s,
        "query": QUERY,
        "new_tokens": args.new_tokens,
        "max_pixels": args.max_pixels,
        "machine": info,
        "runs": [],
    }
    for size in args.image_sizes:
        images = synthetic_images(args.images, size)
        warm = synthetic_images(max(args.batch_sizes), size, start=10_000)
        intake = intake_seconds(images, args.max_pixels)
        for mode in args.modes:
            # Cache off: every batch size pays for the vision tower (engine.py measures the cache); sequential,
            # so the stage split adds up to the wall time (engine.py measures preparing ahead).
            reranker = Reranker(loaded, mode=mode, max_pixels=args.max_pixels, max_images=max(args.images, 1000),
                                vision_cache_mib=0, prefetch_batches=0, cpu_threads=args.threads)
            timer = StageTimer(reranker, min_new_tokens=args.new_tokens if mode == "generate" else 0)
            if mode == "generate":
                reranker.scorer.max_new_tokens = args.new_tokens
            try:
                for batch_size in args.batch_sizes:
                    print(f"[{size[0]}x{size[1]}] {mode} batch {batch_size} ...", file=sys.stderr, flush=True)
                    result = measure(reranker, timer, images, warm, batch_size, args.warmup)
                    result.update(mode=mode, image_size=f"{size[0]}x{size[1]}", intake_direct_s_per_image=intake)
                    if mode == "generate" and result["generated_tokens_per_batch"] != [args.new_tokens]:
                        result["warning"] = (
                            f"generated {result['generated_tokens_per_batch']} tokens, not {args.new_tokens}"
                        )
                    report["runs"].append(result)
            finally:
                timer.close()
    report["ratios"] = ratios(report["runs"])
    info["load_average_end"] = load_average()
    return report


def ratios(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """yes/no images/s ÷ generate images/s, per image size and batch size."""
    by_key = {(r["image_size"], r["batch_size"], r["mode"]): r for r in runs}
    out = []
    for (size, batch, mode), run in by_key.items():
        other = by_key.get((size, batch, "generate"))
        if mode == "yesno" and other:
            # generate's forward = the same prefill as yes/no's one forward + the decode steps
            decode = (other["stage_s"]["forward"] - run["stage_s"]["forward"]) / other["images"]
            tokens = (other["generated_tokens_per_batch"] or [0])[0]
            out.append(
                {
                    "image_size": size,
                    "batch_size": batch,
                    "yesno_over_generate": run["images_per_s"] / other["images_per_s"],
                    "decode_s_per_image": decode,
                    "decode_ms_per_token_per_batch": 1000 * decode * batch / tokens if tokens else None,
                }
            )
    return out


def print_table(report: dict[str, Any], path: Any) -> None:
    headers = [
        "size",
        "mode",
        "batch",
        "img/s",
        "lat med s",
        "lat p90 s",
        "intake",
        "processor",
        "forward",
        "(vision)",
        "post",
        "tokens",
    ]
    rows = []
    for r in report["runs"]:
        share = r["stage_share"]
        rows.append(
            [
                r["image_size"],
                r["mode"],
                r["batch_size"],
                r["images_per_s"],
                r["latency_per_image_s"]["median"],
                r["latency_per_image_s"]["p90"],
                f"{share['intake_and_other']:.0%}",
                f"{share['preprocess']:.0%}",
                f"{share['forward']:.0%}",
                f"{r['forward_vision_s'] / r['total_s']:.0%}",
                f"{share['postprocess']:.0%}",
                ",".join(map(str, r["generated_tokens_per_batch"] or [])) or "-",
            ]
        )
    print(
        f"# throughput: {report['model']} ({report['parameters'] / 1e6:.1f}M params) on {report['device']}, "
        f"{report['dtype']}, {report['new_tokens']} generated tokens; {describe_machine(report['machine'])}"
    )
    print(
        "# latency = batch time / batch size; shares of the run's wall time "
        "((vision) = the vision tower, part of forward); "
        f"full figures: {path}"
    )
    for r in report["runs"]:
        if r.get("warning") or r["failed"]:
            print(
                f"# WARNING {r['image_size']} {r['mode']} batch {r['batch_size']}: "
                f"{r.get('warning') or ''} failed={r['failed']}"
            )
    print(format_table(headers, rows))
    for ratio in report["ratios"]:
        step = ratio["decode_ms_per_token_per_batch"]
        print(
            f"# decode at {ratio['image_size']}, batch {ratio['batch_size']}: generate's forward - yes/no's = "
            f"{ratio['decode_s_per_image']:.3f} s per image"
            + (f" (~{step:.1f} ms per decoding step of the batch)" if step else "")
        )
    for ratio in report["ratios"]:
        print(
            f"ratio yes/no ÷ generate (images/s) at {ratio['image_size']}, batch {ratio['batch_size']}: "
            f"{ratio['yesno_over_generate']:.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    return script_main("throughput", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
