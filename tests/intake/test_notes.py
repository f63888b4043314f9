"""Notes: every piece of safety work on an image says so in ``PreparedImage.notes``, and only that work does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image, ImageCms

from lychee_rerank.intake.colour import TRANSPARENCY_NOTE

import image_factory as factory
from intake_checks import assert_prepared_ok, load


@pytest.mark.parametrize(
    "build", [factory.rgba_png, factory.palette_png_transparent, factory.la_png], ids=["rgba", "palette", "la"]
)
def test_transparency_composited_on_white_is_noted(build: Callable[[], bytes]) -> None:
    prepared = load(build(), recipe_sizing=True)
    assert TRANSPARENCY_NOTE in prepared.notes and prepared.warnings == []


def test_an_alpha_channel_opaque_everywhere_is_not_noted() -> None:
    prepared = load(factory.encode(factory.solid((56, 56), (10, 20, 30, 255), "RGBA"), "PNG"))
    assert prepared.notes == []


def test_a_jpeg_over_the_recipes_limit_is_drafted_and_says_from_what() -> None:
    data = factory.encode(Image.new("RGB", (6000, 4000), factory.GREY), "JPEG", quality=50)
    prepared = load(data, max_pixels=1280 * 28 * 28, recipe_sizing=True)
    assert_prepared_ok_recipe(prepared)
    assert prepared.decoded_size == (1500, 1000), "1/4 scale still holds the model's 1280×28² pixel budget"
    assert prepared.notes == ["decoded at reduced size 1500×1000 (JPEG draft) from 6000×4000"]


def test_a_jpeg_within_the_recipes_limit_is_decoded_whole_without_a_note() -> None:
    data = factory.encode(Image.new("RGB", (3000, 2000), factory.GREY), "JPEG", quality=50)
    prepared = load(data, max_pixels=1280 * 28 * 28, recipe_sizing=True)
    assert prepared.decoded_size == (3000, 2000) and prepared.notes == []


def test_exif_rotation_is_noted_with_its_orientation() -> None:
    assert load(factory.oriented_jpeg(6)).notes == ["rotated upright from EXIF orientation 6"]
    assert load(factory.oriented_jpeg(1)).notes == []


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (factory.cmyk_jpeg((0, 255, 255, 0)),
         "converted from CMYK to RGB without a colour profile; colours are approximate"),
        (factory.gray16_png(32768), "16-bit greyscale scaled to 8-bit and converted to RGB"),
        (factory.encode(factory.solid((56, 56), 90, "L"), "JPEG"), "converted from greyscale to RGB"),
        (factory.encode(factory.solid((56, 56), 1, "1"), "PNG"), "converted from 1-bit black and white to RGB"),
    ],
    ids=["cmyk", "16-bit", "greyscale", "1-bit"],
)
def test_mode_conversions_are_noted(data: bytes, note: str) -> None:
    prepared = load(data)
    assert_prepared_ok(prepared)
    assert prepared.notes == [note]


def test_a_colour_profile_converted_to_srgb_is_noted_but_an_srgb_one_is_not() -> None:
    swapped = load(factory.jpeg_with_icc(factory.RED, factory.swapped_icc_profile()))
    assert swapped.notes == ["colours converted from the 'swapped red/green' profile to sRGB"]
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert load(factory.jpeg_with_icc((200, 100, 50), srgb)).notes == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_ordinary_rgb_image_has_no_notes(fmt: str) -> None:
    prepared = load(factory.encode(factory.noise_image((640, 480)), fmt), recipe_sizing=True)
    assert prepared.notes == [] and prepared.warnings == []


def assert_prepared_ok_recipe(prepared) -> None:
    """Recipe sizing leaves the pixel budget to the processor: sides are multiples of 28, mode RGB."""
    assert not prepared.failed, prepared.warnings
    width, height = prepared.image.size
    assert prepared.image.mode == "RGB" and width % 28 == 0 and height % 28 == 0
