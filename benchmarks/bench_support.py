"""What the benchmark scripts share: model resolution, synthetic images, statistics, output.

The scripts import the installed ``lychee_rerank`` package; this module and
``model_shapes`` sit beside them (Python puts a script's folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lychee_rerank.errors import LycheeRerankError
from lychee_rerank.runtime.devices import resolve_device, resolve_dtype
from lychee_rerank.runtime.loading import LoadedModel, load_model
from lychee_rerank.runtime.threads import run_threads, threads_in_use

import model_shapes

DEFAULT_OUT_DIR = Path(__file__).resolve().parent / "out"  # benchmarks/out from any working folder
MIXED_SIZES = "3024x4032,1024x768,512x512,1920x1080"  # phone photos, 1024x768, 512x512, screenshots
DEFAULT_MODEL_CACHE = DEFAULT_OUT_DIR / "models"
MODEL_HELP = (
    "tiny | mid | small-qwen-vocab | mid-qwen-vocab | qwen2.5-vl-7b-arch | qwen2.5-vl-3b-arch | "
    "a folder | a hub id | demo"
)


def resolve_model(
    name: str,
    *,
    device: str = "auto",
    dtype: str = "auto",
    cache_dir: str | Path = DEFAULT_MODEL_CACHE,
    max_pixels: int | None = None,
) -> LoadedModel:
    """A LoadedModel for a benchmark model name (see MODEL_HELP) or anything ``load_model`` takes."""
    extra = {"max_pixels": max_pixels} if max_pixels else {}
    if name in model_shapes.ARCH_SHAPES:
        model_shapes.require_cuda(name)
        resolved = "cuda" if device == "auto" else device
        torch_dtype, _notes = resolve_dtype("bfloat16" if dtype == "auto" else dtype, resolved)
        return model_shapes.load_arch_model(name, device=resolved, dtype=torch_dtype, **extra)
    if name in model_shapes.IN_MEMORY_SHAPES:
        resolved = resolve_device(device)
        torch_dtype, _notes = resolve_dtype(dtype, resolved)
        return model_shapes.build_random_model(
            model_shapes.IN_MEMORY_SHAPES[name], device=resolved, dtype=torch_dtype, **extra
        )
    if name in model_shapes.BUILT_SHAPES:
        name = str(model_shapes.built_model_dir(name, cache_dir))
    return load_model(name, dtype=dtype, device=device)


def run_thread_count(loaded: LoadedModel, requested: int | None) -> int:
    """The torch threads a Reranker over ``loaded`` scores with (``cpu_threads=requested``): for the table's header."""
    return threads_in_use(run_threads(loaded.model, loaded.device, requested))


def parameter_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


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


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """'448x448,1024x768' -> [(448, 448), (1024, 768)]."""
    return [parse_size(part) for part in text.split(",") if part.strip()]


def cycled_images(count: int, sizes: Sequence[tuple[int, int]]) -> list[tuple[str, bytes]]:
    """``count`` distinct (name, JPEG bytes) images whose sizes cycle through ``sizes`` (a realistic mix)."""
    cycle = [sizes[i % len(sizes)] for i in range(count)]
    return [(f"image_{i:03d}_{w}x{h}.jpg", synthetic_image(i, (w, h))) for i, (w, h) in enumerate(cycle)]


def synthetic_images(
    count: int, size: tuple[int, int], *, start: int = 0, fmt: str = "JPEG"
) -> list[tuple[str, bytes]]:
    """``count`` distinct (name, bytes) images of one size; ``start`` offsets the seeds."""
    name = "synthetic_{:04d}_{}x{}.jpg"
    return [(name.format(start + i, *size), synthetic_image(start + i, size, fmt=fmt)) for i in range(count)]


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


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval for the median (order statistics; scipy's quantile test): on a
    noisy machine it says whether a target such as a ratio of 1.15 was met, missed, or not told apart. NaNs when
    there are too few values for ``level`` (fewer than 6 for 95%)."""
    from scipy.stats import quantile_test  # lazy: only the scripts that report an interval need scipy

    if len(values) < 2:
        return math.nan, math.nan
    # the interval comes from the order statistics alone: q, the test's hypothesised median, does not move it
    interval = quantile_test(list(values), q=median(values), p=0.5).confidence_interval(level)
    return float(interval.low), float(interval.high)


def write_json(data: dict[str, Any], out: str | Path | None, default_name: str) -> Path:
    """Write ``data`` to ``out`` or benchmarks/out/<default_name>; return the path."""
    path = Path(out) if out else DEFAULT_OUT_DIR / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def script_main(name: str, argv: list[str] | None, parse_args: Callable, run: Callable, print_table: Callable) -> int:
    """The shared main() of the benchmark scripts: run, write the JSON, print the table last."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    try:
        report = run(args)
    except LycheeRerankError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    print_table(report, write_json(report, args.out, f"{name}.json"))
    return 0
