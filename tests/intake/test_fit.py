"""Fitting: tiny, huge and extreme shapes all reach a size the Qwen2.5-VL processor keeps unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from lychee_rerank.intake import fit, fit_to_processor
from lychee_rerank.settings import MAX_ASPECT_RATIO, MIN_PIXELS

import image_factory as factory
from intake_checks import MAX_PIXELS, assert_processor_ready, load, near

# ---------------------------------------------------------------- 7. tiny and extreme shapes


@pytest.mark.parametrize("size", [(1, 1), (20, 300), (300, 20), (10000, 50), (50, 10000), (3, 900), (27, 27)])
@pytest.mark.parametrize("max_pixels", [MAX_PIXELS, 200_000, 28 * 28 * 4])
def test_tiny_and_extreme_images_fit_the_processor(size: tuple[int, int], max_pixels: int) -> None:
    prepared = load(factory.png(size, factory.RED), max_pixels=max_pixels)
    assert not prepared.failed
    assert_processor_ready(prepared, max_pixels)
    assert prepared.original_size == size
    ratio = max(size) / min(size)
    if min(size) < 28 or ratio > fit.PAD_ASPECT_RATIO:
        assert prepared.warnings, "a reshaped image must say so"


def test_extreme_aspect_is_padded_with_white() -> None:
    prepared = load(factory.png((10000, 50), factory.RED))
    width, height = prepared.image.size
    assert near(prepared.image.getpixel((width // 2, height // 2)), factory.RED, 10)
    assert near(prepared.image.getpixel((width // 2, 0)), (255, 255, 255), 10)
    assert "extreme aspect ratio" in prepared.warning


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    max_pixels=st.integers(28 * 28, 2_000_000),
)
def test_fit_to_processor_always_gives_a_valid_size(width: int, height: int, max_pixels: int) -> None:
    fitted = fit_to_processor(Image.new("RGB", (width, height), "red"), max_pixels)
    w, h = fitted.size
    assert w % 28 == 0 and h % 28 == 0 and w >= 28 and h >= 28
    assert w * h <= max_pixels
    assert max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(28, 200_000),
    ratio=st.floats(1, fit.PAD_ASPECT_RATIO),
    max_pixels=st.integers(28 * 28, 20_000_000),
    tall=st.booleans(),
)
def test_target_size_holds_for_any_padded_shape(width: int, ratio: float, max_pixels: int, tall: bool) -> None:
    size = (width, max(28, round(width / ratio)))
    if tall:
        size = size[::-1]
    w, h = fit.target_size(size, max_pixels, MIN_PIXELS)
    assert w % 28 == 0 and h % 28 == 0 and w >= 28 and h >= 28
    assert w * h <= max_pixels
    assert max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


def test_target_size_keeps_the_aspect_of_normal_photos() -> None:
    w, h = fit.target_size((4000, 3000), MAX_PIXELS, MIN_PIXELS)
    assert abs(w / h - 4 / 3) < 0.05 and w * h <= MAX_PIXELS



def test_large_png_is_shrunk_within_max_pixels() -> None:
    prepared = load(factory.png((4000, 3000), factory.BLUE), max_pixels=300_000)
    assert_processor_ready(prepared, 300_000)
    assert near(prepared.image.getpixel((50, 50)), factory.BLUE, 2)
