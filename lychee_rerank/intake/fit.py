"""The size the model sees: a shape the model's processor keeps unchanged.

The processor cuts an image into patches merged 2x2, so it resizes every side to a
multiple of the family's ``factor`` (:class:`~.geometry.Geometry`: 28 for Qwen2-VL and
Qwen2.5-VL, 32 for Qwen3-VL; the functions below default to 28) within
``min_pixels``/``max_pixels``, and refuses aspect ratios over
:data:`~lychee_rerank.settings.MAX_ASPECT_RATIO`. Fitting here first means the
processor never resizes again and never raises:

1. extreme aspect ratios (over :data:`PAD_ASPECT_RATIO`) are shrunk along the
   long side and padded with white, centred (a warning);
2. images with a side under ``factor`` px are enlarged (a warning: the score may be
   unreliable);
3. the image is resized to :func:`target_size` (a note when it shrinks).

Images that need neither 1 nor 2 (:func:`needs_fitting`) are sized for scoring
by :func:`recipe_resize` instead, so they reach the processor exactly as in the
family's published recipe.
"""

from __future__ import annotations

import math

from PIL import Image

from ..geometry import QWEN2_VL, SIZE_AS_IS, SIZE_FETCH_BUDGET, Geometry
from ..settings import MAX_ASPECT_RATIO, MIN_PIXELS, PATCH_FACTOR

PAD_ASPECT_RATIO = 100  # we pad to this, leaving room for rounding sides to 28


def needs_fitting(size: tuple[int, int], factor: int = PATCH_FACTOR) -> bool:
    """Whether an image needs the geometric safety work below (extreme aspect ratio, a side under ``factor``)."""
    width, height = size
    return max(width, height) / min(width, height) > PAD_ASPECT_RATIO or min(width, height) < factor


def recipe_resize(
    image: Image.Image, geometry: Geometry = QWEN2_VL, *, min_pixels: int = MIN_PIXELS, max_pixels: int | None = None
) -> Image.Image:
    """What the family's published recipe does to an image before the processor.

    lychee (``fetch``): ``qwen_vl_utils.fetch_image`` makes sides multiples of 28 within 4..16384
    patches, and the processor then resizes to the pixel budget. Qwen3-VL-Reranker (``fetch-budget``):
    fetch_image with 16 px patches applies ``min_pixels``/``max_pixels`` itself and the processor
    keeps the size. MonoQwen2-VL (``as-is``): the RGB image goes to the processor unchanged.
    """
    if geometry.sizing == SIZE_AS_IS:
        return image if image.mode == "RGB" else image.convert("RGB")
    # lazy: qwen_vl_utils imports torch (seconds); collecting inputs must not pay for it
    from qwen_vl_utils import fetch_image

    element: dict = {"image": image}
    if geometry.sizing == SIZE_FETCH_BUDGET:
        element.update(min_pixels=min_pixels, max_pixels=max_pixels)
    return fetch_image(element, image_patch_size=geometry.patch_size)


def fit_to_processor(
    image: Image.Image, max_pixels: int, min_pixels: int = MIN_PIXELS, factor: int = PATCH_FACTOR
) -> Image.Image:
    """Resize to a size the processor keeps as is (sides multiple of ``factor``, within pixel bounds).

    Tiny images are enlarged and extreme aspect ratios padded with white; never raises.
    """
    return fit_with_report(image, max_pixels, min_pixels, factor)[0]


def fit_with_report(
    image: Image.Image, max_pixels: int, min_pixels: int, factor: int = PATCH_FACTOR
) -> tuple[Image.Image, list[str], list[str]]:
    """Fit ``image`` for the processor; returns (image, warnings, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGB")
    width, height = image.size
    ratio = max(width, height) / min(width, height)
    if ratio > PAD_ASPECT_RATIO:
        image = _pad_to_ratio(_limit_long_side(image, max_pixels, factor), PAD_ASPECT_RATIO)
        problems.append(
            f"extreme aspect ratio ({width}×{height}, {ratio:.0f}:1): padded with white to "
            f"{PAD_ASPECT_RATIO}:1 for the model"
        )
    if min(image.size) < factor:
        image = _enlarge_short_side(image, factor)
        problems.append(f"very small image ({width}×{height}): enlarged for the model; its score may be unreliable")
    target = target_size(image.size, max_pixels, min_pixels, factor)
    if target != image.size:
        if max(target) < max(image.size):
            notes.append(f"resized from {image.width}×{image.height} to {target[0]}×{target[1]}")
        image = image.resize(target, Image.Resampling.BICUBIC)
    return image, problems, notes


def target_size(size: tuple[int, int], max_pixels: int, min_pixels: int, factor: int = PATCH_FACTOR) -> tuple[int, int]:
    """(width, height) for the model: smart_resize picks the short side, the long side keeps the aspect.

    smart_resize rounds both sides independently, which for a 100:1 strip can give 28×4452
    (159:1) or a 0 px side with a small max_pixels; here the long side follows the true
    aspect ratio and the processor's own limits (ratio <= 200, pixels <= max_pixels) hold.
    """
    # lazy: qwen_vl_utils imports torch (seconds); collecting inputs must not pay for it
    from qwen_vl_utils import smart_resize

    width, height = size
    min_pixels = max(1, min(min_pixels, max_pixels))
    new_h, new_w = smart_resize(height, width, factor=factor, min_pixels=min_pixels, max_pixels=max(max_pixels, 1))
    short = max(factor, min(new_h, new_w, math.isqrt(max(max_pixels, 1)) // factor * factor))
    ratio = max(width, height) / min(width, height)
    room = max(factor, max_pixels // short // factor * factor)
    long = min(max(factor, round(short * ratio / factor) * factor), short * MAX_ASPECT_RATIO, room)
    return (long, short) if width >= height else (short, long)


def visual_tokens(
    size: tuple[int, int], max_pixels: int, min_pixels: int = MIN_PIXELS, factor: int = PATCH_FACTOR
) -> int:
    """How many visual tokens (merged patches of ``factor`` px) an image of ``size`` becomes within the bounds."""
    width, height = target_size(size, max_pixels, min_pixels, factor)
    return (width // factor) * (height // factor)


def _limit_long_side(image: Image.Image, max_pixels: int, factor: int) -> Image.Image:
    """Shrink a very long strip so that padding it to PAD_ASPECT_RATIO stays within max_pixels."""
    longest = max(factor, math.isqrt(max(max_pixels, 1) * PAD_ASPECT_RATIO))
    width, height = image.size
    if max(width, height) <= longest:
        return image
    scale = longest / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(new, Image.Resampling.BICUBIC)


def _pad_to_ratio(image: Image.Image, ratio: int) -> Image.Image:
    """Pad the short side with white, centred, so that long/short <= ratio."""
    width, height = image.size
    if width >= height:
        size = (width, max(height, math.ceil(width / ratio)))
    else:
        size = (max(width, math.ceil(height / ratio)), height)
    canvas = Image.new(image.mode, size, "white")
    canvas.paste(image, ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas


def _enlarge_short_side(image: Image.Image, side: int) -> Image.Image:
    """Scale up, keeping the aspect ratio, so the short side is at least ``side`` pixels."""
    width, height = image.size
    scale = side / min(width, height)
    new = (max(side, math.ceil(width * scale)), max(side, math.ceil(height * scale)))
    return image.resize(new, Image.Resampling.BICUBIC)
