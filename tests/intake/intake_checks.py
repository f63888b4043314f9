"""Checks and small builders shared by the intake tests (the images themselves come from image_factory)."""

from __future__ import annotations

from pathlib import Path

from lychee_rerank.intake import ImageInput, PreparedImage, prepare_image
from lychee_rerank.settings import MAX_ASPECT_RATIO

import image_factory as factory

MAX_PIXELS = 1_000_000
PNG = factory.png((56, 56))


def load(data: bytes, name: str = "test.img", **kwargs: int) -> PreparedImage:
    """Prepare ``data`` as an upload named ``name`` (max_pixels defaults to MAX_PIXELS)."""
    kwargs.setdefault("max_pixels", MAX_PIXELS)
    return prepare_image(ImageInput(name=name, data=data), **kwargs)


def near(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected))


def assert_processor_ready(prepared: PreparedImage, max_pixels: int = MAX_PIXELS) -> None:
    """RGB, sides multiples of 28, within max_pixels and the processor's aspect limit."""
    width, height = prepared.image.size
    assert prepared.image.mode == "RGB"
    assert width % 28 == 0 and height % 28 == 0
    assert width >= 28 and height >= 28
    assert width * height <= max(max_pixels, 28 * 28)
    assert max(width, height) / min(width, height) <= MAX_ASPECT_RATIO


def assert_prepared_ok(prepared: PreparedImage) -> None:
    assert not prepared.failed, prepared.warnings
    assert_processor_ready(prepared)


def write(path: Path, data: bytes = PNG) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(inputs: list[ImageInput]) -> list[str]:
    return [item.name for item in inputs]


def prepare(item: ImageInput) -> PreparedImage:
    """Prepare a collected input at a small pixel budget (collection tests check what came through, not pixels)."""
    return prepare_image(item, max_pixels=200_000)
