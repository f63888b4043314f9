"""Orientation and colour: every decoded image comes out upright, 8-bit, on white, in sRGB."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageCms

from lychee_rerank.intake import as_input, prepare_image

import image_factory as factory
from intake_checks import MAX_PIXELS, assert_prepared_ok, load, near

# ---------------------------------------------------------------- 1. EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    prepared = load(factory.oriented_jpeg(orientation))
    assert_prepared_ok(prepared)
    width, height = factory.STORED_SIZE
    assert prepared.image.size == ((width, height) if orientation <= 4 else (height, width))
    middle = factory.MARK // 2
    red_at = factory.displayed_position(orientation, middle, middle)
    green_at = factory.displayed_position(orientation, width - 1 - middle, middle)
    assert near(prepared.image.getpixel(red_at), factory.RED), orientation
    assert near(prepared.image.getpixel(green_at), factory.GREEN), orientation
    assert prepared.warnings == []


# ---------------------------------------------------------------- 2. transparency on white


def test_palette_png_with_transparency_is_composited_on_white() -> None:
    prepared = load(factory.palette_png_transparent())
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((10, 28)), (255, 255, 255), 2)
    assert near(prepared.image.getpixel((45, 28)), factory.RED, 2)


def test_rgba_png_is_composited_on_white_not_black() -> None:
    prepared = load(factory.rgba_png())
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((10, 10)), (255, 255, 255), 2)
    assert near(prepared.image.getpixel((45, 10)), factory.BLUE, 2)
    assert near(prepared.image.getpixel((10, 50)), (255, 127, 127), 3)  # half-transparent red over white


def test_la_greyscale_with_alpha_is_composited_on_white() -> None:
    prepared = load(factory.la_png())
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((10, 28)), (255, 255, 255), 2)
    assert near(prepared.image.getpixel((45, 28)), (0, 0, 0), 2)


def test_pil_image_with_alpha_is_composited_without_touching_the_original() -> None:
    original = Image.new("RGBA", (56, 56), (0, 0, 0, 0))
    prepared = prepare_image(as_input(original, 0), max_pixels=MAX_PIXELS)
    assert near(prepared.image.getpixel((5, 5)), (255, 255, 255), 2)
    assert original.mode == "RGBA" and original.getpixel((5, 5)) == (0, 0, 0, 0)


# ---------------------------------------------------------------- 3. CMYK, YCCK, ICC


@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [((0, 255, 255, 0), factory.RED), ((0, 0, 255, 0), (255, 255, 0)), ((0, 0, 0, 128), (127, 127, 127))],
)
@pytest.mark.parametrize("build", [factory.cmyk_jpeg, factory.ycck_jpeg], ids=["cmyk", "ycck"])
def test_cmyk_and_ycck_jpegs_come_out_in_rgb(
    build: Callable[[tuple[int, ...]], bytes], cmyk: tuple[int, ...], rgb: tuple[int, ...]
) -> None:
    data = build(cmyk)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    prepared = load(data)
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((28, 28)), rgb), prepared.image.getpixel((28, 28))


def test_ycck_marker_really_says_ycck() -> None:
    assert Image.open(io.BytesIO(factory.ycck_jpeg((0, 255, 255, 0)))).info.get("adobe_transform") == 2


def test_embedded_icc_profile_is_converted_to_srgb() -> None:
    prepared = load(factory.jpeg_with_icc(factory.RED, factory.swapped_icc_profile()))
    assert_prepared_ok(prepared)
    # red in a profile whose red primary is sRGB green: only a real conversion gives green
    assert near(prepared.image.getpixel((28, 28)), factory.GREEN), prepared.image.getpixel((28, 28))
    assert any("swapped red/green" in note for note in prepared.notes)


def test_srgb_icc_profile_keeps_colours() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    prepared = load(factory.jpeg_with_icc((200, 100, 50), srgb))
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((28, 28)), (200, 100, 50), 6)


def test_broken_icc_profile_is_a_warning_not_a_failure() -> None:
    prepared = load(factory.jpeg_with_icc((200, 100, 50), b"not a colour profile at all"))
    assert_prepared_ok(prepared)
    assert "colour profile could not be applied" in prepared.warning
    assert near(prepared.image.getpixel((28, 28)), (200, 100, 50), 6)


# ---------------------------------------------------------------- 4. 16-bit


@pytest.mark.parametrize("build", [factory.gray16_png, factory.gray16_tiff], ids=["png", "tiff"])
@pytest.mark.parametrize(("value", "grey"), [(32768, 128), (0, 0), (65535, 255), (16384, 64)])
def test_16bit_greyscale_is_scaled_not_clipped(build: Callable[[int], bytes], value: int, grey: int) -> None:
    prepared = load(build(value))
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((10, 10)), (grey, grey, grey), 1)


def test_float_tiff_is_scaled() -> None:
    prepared = load(factory.encode(Image.new("F", (56, 56), 0.5), "TIFF"))
    assert_prepared_ok(prepared)
    assert near(prepared.image.getpixel((10, 10)), (128, 128, 128), 1)
