"""Benchmark helpers and the ``lychee-rerank bench`` subcommand (precision comparison).

``lychee-rerank bench --labels FILE.jsonl --model M --dtypes bfloat16,float16,float32``
scores every labelled query once per dtype and prints, per dtype: Top-1
accuracy, Top-3 coverage, mean within-query score standard deviation, parse
success rate (generate mode), mean latency per image, peak memory, and the
Spearman correlation of its scores with float32's.

The helpers below (model resolution incl. the random ``tiny``/``mid``/``*-arch``
models, synthetic images, RSS, machine description, tables) are shared with
the scripts under ``benchmarks/``. Only light modules are imported at the top:
the CLI imports this file to build its parser.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import io
import json
import logging
import math
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

logger = logging.getLogger("lychee_rerank.bench")

DEFAULT_OUT_DIR = Path("benchmarks") / "out"
DEFAULT_MODEL_CACHE = DEFAULT_OUT_DIR / "models"
DEMO_LABELS = Path(__file__).parent / "demo" / "examples" / "labels.jsonl"
DEFAULT_DTYPES = "bfloat16,float16,float32"
REFERENCE_DTYPE = "float32"
PARSE_OK = ("primary", "fallback")


# --------------------------------------------------------------------------- machine and memory


def rss_bytes() -> int:
    """This process's resident set size now (VmRSS), in bytes."""
    return _proc_status_kib("VmRSS") * 1024 or _maxrss_bytes()


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM), in bytes."""
    return _proc_status_kib("VmHWM") * 1024 or _maxrss_bytes()


def _proc_status_kib(key: str) -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cuda_memory() -> dict[str, int] | None:
    """GPU memory counters of this process (bytes), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {
        "allocated": torch.cuda.memory_allocated(),
        "reserved": torch.cuda.memory_reserved(),
        "max_allocated": torch.cuda.max_memory_allocated(),
        "max_reserved": torch.cuda.max_memory_reserved(),
    }


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    """Where the figures were taken: CPU, cores, load, GPU, library versions, date, command."""
    import torch
    import transformers

    info: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command_line(),
        "cpu": cpu_model_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": load_average(),
        "memory_total_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 1024**3, 1), "cuda": torch.version.cuda}
    return info


def _command_line() -> str:
    import shlex

    if not sys.argv:
        return ""
    program = sys.argv[0]
    head = ["python", program] if program.endswith(".py") else [Path(program).name]
    return " ".join(shlex.quote(part) for part in [*head, *sys.argv[1:]])


def describe_machine(info: dict[str, Any]) -> str:
    load = info.get("load_average_1_5_15")
    load_text = "load avg (1/5/15 min) " + "/".join(f"{x:.2f}" for x in load) if load else "load n/a"
    end = info.get("load_average_end")
    if end:
        load_text += " at start, " + "/".join(f"{x:.2f}" for x in end) + " at end"
    where = f"GPU {info['gpu']['name']}" if info.get("gpu") else f"CPU {info['cpu']} x{info['cpu_cores']} cores"
    return f"{where}, torch threads {info['torch_threads']}, {load_text}, {info['date']}"


# --------------------------------------------------------------------------- models


def resolve_model(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    cache_dir: str | Path = DEFAULT_MODEL_CACHE,
    max_pixels: int | None = None,
    quantization: str | None = None,
    max_gpu_memory: float | None = None,
) -> Any:
    """A LoadedModel for ``tiny``/``mid`` (random, built once into ``cache_dir``), a ``*-arch``
    name (random, built on the GPU; refuses without CUDA), or anything ``Reranker.from_pretrained`` takes."""
    from . import model_specs
    from .loading import load_model

    if model_specs.is_arch_name(name):
        from .devices import resolve_dtype

        model_specs.require_cuda(name)
        if quantization is not None:
            from .errors import InvalidSettingError

            raise InvalidSettingError("quantization applies to loaded checkpoints, not to the random *-arch models")
        resolved = "cuda" if device == "auto" else device
        torch_dtype, _notes = resolve_dtype("bfloat16" if dtype == "auto" else dtype, resolved)
        extra = {"max_pixels": max_pixels} if max_pixels else {}
        return model_specs.load_arch_model(name, device=resolved, dtype=torch_dtype, **extra)
    if name in model_specs.ANY_DEVICE_SPECS:
        from .devices import resolve_device, resolve_dtype

        resolved = resolve_device(device)
        torch_dtype, _notes = resolve_dtype(dtype, resolved)
        extra = {"max_pixels": max_pixels} if max_pixels else {}
        return model_specs.build_random_model(model_specs.ANY_DEVICE_SPECS[name], device=resolved, dtype=torch_dtype, **extra)
    source = str(model_specs.built_model_dir(name, cache_dir)) if name in model_specs.BUILT_SPECS else name
    return load_model(source, dtype=dtype, device=device, quantization=quantization, max_gpu_memory_gib=max_gpu_memory)


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- images


def parse_size(text: str) -> tuple[int, int]:
    """'448x448' -> (448, 448) as (width, height)."""
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height or width))
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size must look like 448x448 (got {text!r})") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"image size must be positive (got {text!r})")
    return size


def synthetic_image(index: int, size: tuple[int, int], *, fmt: str = "JPEG") -> bytes:
    """A distinct image (a colour gradient with seeded noise) encoded as ``fmt`` bytes."""
    import numpy as np
    from PIL import Image

    width, height = size
    rng = np.random.default_rng(index)
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    base = rng.uniform(0, 255, size=3).astype(np.float32)
    slope = rng.uniform(-160, 160, size=(2, 3)).astype(np.float32)
    pixels = base + x * slope[0] + y * slope[1] + rng.normal(0, 24, size=(height, width, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def synthetic_images(count: int, size: tuple[int, int], *, start: int = 0, fmt: str = "JPEG") -> list[tuple[str, bytes]]:
    """``count`` distinct (name, bytes) images of one size; ``start`` offsets the seeds."""
    return [(f"synthetic_{start + i:04d}_{size[0]}x{size[1]}.jpg", synthetic_image(start + i, size, fmt=fmt)) for i in range(count)]


# --------------------------------------------------------------------------- figures and output


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0-100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain fixed-width table (Markdown-compatible pipes)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths)) + " |"  # noqa: E731
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def write_json(data: dict[str, Any], out: str | Path | None, default_name: str) -> Path:
    """Write ``data`` to ``out`` or benchmarks/out/<default_name>; return the path."""
    path = Path(out) if out else DEFAULT_OUT_DIR / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    return path


def script_main(name: str, argv: list[str] | None, parse_args: Any, run: Any, print_table: Any) -> int:
    """The shared main() of the benchmark scripts: run, write the JSON, print the table last."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    from .errors import LycheeRerankError

    args = parse_args(argv)
    try:
        report = run(args)
    except LycheeRerankError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    print_table(report, write_json(report, args.out, f"{name}.json"))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def mib(value: float | None) -> float | None:
    return None if value is None else value / 1024**2


# --------------------------------------------------------------------------- precision comparison


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """The labelled queries: one JSON object per line with query, images (relative paths) and relevant indices."""
    from .errors import LycheeRerankError

    labels_path = Path(path)
    if not labels_path.is_file():
        raise LycheeRerankError(f"labels file {labels_path} does not exist")
    items = []
    for number, line in enumerate(labels_path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            images = [str((labels_path.parent / image).resolve()) for image in record["images"]]
            relevant = sorted({int(i) for i in record["relevant"]})
            query = str(record["query"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LycheeRerankError(f"{labels_path}:{number}: expected {{query, images, relevant}}: {exc}") from exc
        if not images or any(i < 0 or i >= len(images) for i in relevant):
            raise LycheeRerankError(f"{labels_path}:{number}: relevant indices must point into images")
        items.append({"query": query, "images": images, "relevant": relevant})
    if not items:
        raise LycheeRerankError(f"labels file {labels_path} holds no queries")
    return items


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (scipy when installed); None when undefined (constant input)."""
    if len(a) != len(b) or len(a) < 2:
        return None
    if len(set(a)) < 2 or len(set(b)) < 2:
        return None
    try:
        from scipy.stats import spearmanr

        value = float(spearmanr(a, b).statistic)
    except ImportError:
        ra, rb = _ranks(a), _ranks(b)
        ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
        cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
        var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
        value = cov / var if var else math.nan
    return None if math.isnan(value) else value


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def evaluate_dtype(args: argparse.Namespace, dtype: str, labels: list[dict[str, Any]]) -> dict[str, Any]:
    """Score every labelled query with one dtype; return the figures (or the error)."""
    import torch

    from .cli import reranker_kwargs
    from .reranker import Reranker

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    rss_before = rss_bytes()
    peak_rss = rss_before
    row: dict[str, Any] = {"dtype": dtype}
    reranker = None
    try:
        kwargs = {**reranker_kwargs(args), "dtype": dtype}
        loaded = resolve_model(
            args.model,
            device=kwargs["device"],
            dtype=dtype,
            cache_dir=args.model_cache,
            max_pixels=kwargs.get("max_pixels"),
            quantization=kwargs["quantization"],
            max_gpu_memory=kwargs["max_gpu_memory"],
        )
        reranker = Reranker(
            loaded,
            mode=kwargs["mode"],
            batch_size=kwargs["batch_size"],
            **({"max_pixels": kwargs["max_pixels"]} if "max_pixels" in kwargs else {}),
        )
        peak_rss = max(peak_rss, rss_bytes())
        scores: list[float] = []
        top1 = top3 = 0
        stds: list[float] = []
        parse_ok = parsed = 0
        elapsed = 0.0
        images = 0
        warnings: set[str] = set()

        def on_progress(done: int, total: int, result: Any) -> None:
            nonlocal peak_rss
            peak_rss = max(peak_rss, rss_bytes())

        for item in labels:
            start = time.perf_counter()
            ranking = reranker.rank(item["query"], item["images"], instruction=args.instruction, on_progress=on_progress)
            elapsed += time.perf_counter() - start
            images += len(item["images"])
            by_index = sorted(ranking, key=lambda r: r.index)
            scores.extend(r.score for r in by_index)
            order = [r.index for r in ranking]
            relevant = set(item["relevant"])
            top1 += order[0] in relevant
            top3 += bool(relevant & set(order[:3]))
            stds.append(statistics.pstdev([r.score for r in by_index]))
            for r in by_index:
                if r.warning:
                    warnings.add(r.warning)
                if r.parse_method not in ("yesno", "failed", "skipped"):
                    parsed += 1
                    parse_ok += r.parse_method in PARSE_OK
        gpu = cuda_memory()
        row.update(
            mode=reranker.mode,
            device=loaded.device,
            top1_accuracy=top1 / len(labels),
            top3_coverage=top3 / len(labels),
            mean_score_std=statistics.fmean(stds),
            parse_success=(parse_ok / parsed) if parsed else None,
            latency_s_per_image=elapsed / images,
            peak_memory_mib=mib(gpu["max_allocated"]) if gpu else mib(peak_rss - rss_before),
            peak_memory_kind="cuda max_allocated" if gpu else "RSS delta",
            weights_mib=mib(sum(p.numel() * p.element_size() for p in loaded.model.parameters())),
            scores=scores,
            queries=len(labels),
            images=images,
            warnings=sorted(warnings)[:5],
        )
    except Exception as exc:  # one dtype failing (fp16 kernels on the CPU, OOM...) must not end the comparison
        logger.warning("dtype %s failed: %s", dtype, exc)
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    finally:
        del reranker
        gc.collect()
    return row


def run_bench(args: argparse.Namespace) -> int:
    from .errors import InvalidSettingError

    labels_path = args.labels
    if labels_path is None:
        if args.model != "demo":
            raise InvalidSettingError("--labels FILE.jsonl is required (it defaults to the demo's labels only with --model demo)")
        labels_path = DEMO_LABELS
    labels = read_labels(labels_path)
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not dtypes:
        raise InvalidSettingError("--dtypes needs at least one dtype, e.g. bfloat16,float32")
    info = machine_info()
    rows = [evaluate_dtype(args, dtype, labels) for dtype in dtypes]
    info["load_average_end"] = load_average()
    reference = next((r for r in rows if r["dtype"] in (REFERENCE_DTYPE, "fp32") and "scores" in r), None)
    for row in rows:
        if "scores" in row and reference is not None:
            row["spearman_vs_float32"] = 1.0 if row is reference else spearman(row["scores"], reference["scores"])
    headers = ["dtype", "mode", "top-1 acc", "top-3 cov", "score std", "parse ok", "s/image", "peak MiB", "weights MiB", "spearman vs fp32"]
    table_rows = []
    for row in rows:
        if "error" in row:
            table_rows.append([row["dtype"], "error", row["error"][:80], "", "", "", "", "", "", ""])
            continue
        table_rows.append([
            row["dtype"], row["mode"], row["top1_accuracy"], row["top3_coverage"], row["mean_score_std"],
            row["parse_success"], row["latency_s_per_image"], row["peak_memory_mib"], row["weights_mib"],
            row.get("spearman_vs_float32"),
        ])
    path = write_json(
        {"benchmark": "precision", "model": args.model, "labels": str(labels_path), "machine": info, "rows": rows},
        args.out,
        "precision.json",
    )
    memory_kind = rows[0].get("peak_memory_kind", "RSS delta") if rows else ""
    print(f"# precision comparison: {args.model} on {len(labels)} queries ({labels_path})")
    note = "" if memory_kind != "RSS delta" else " (from before loading; after the first dtype the heap is partly reused: compare weights MiB)"
    print(f"# {describe_machine(info)}; peak memory = {memory_kind}{note}; full figures: {path}")
    print(format_table(headers, table_rows))
    return 0 if any("error" not in row for row in rows) else 1


def add_bench_parser(subparsers: Any) -> None:
    """``lychee-rerank bench``: compare dtypes on a labelled set."""
    from .cli import add_model_options

    parser = subparsers.add_parser(
        "bench",
        help="compare precisions (dtypes) on a labelled query set",
        description="Score a labelled set once per dtype and compare accuracy, spread, speed and memory.",
    )
    add_model_options(parser)
    parser.add_argument("--labels", default=None, help="JSONL of {query, images, relevant}; default with --model demo: the demo's labels")
    parser.add_argument("--dtypes", default=DEFAULT_DTYPES, help=f"comma-separated (default {DEFAULT_DTYPES}); --dtype is ignored")
    parser.add_argument("--instruction", default=None, help="an instruction preset or free text")
    parser.add_argument("--out", default=None, help="JSON file for the full figures (default benchmarks/out/precision.json)")
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE), help="where --model tiny/mid are built")
    parser.set_defaults(handler=run_bench)
