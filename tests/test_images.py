"""The loader survives every hostile image: each case builds its own file in memory."""

from __future__ import annotations

import io
import os
import sys
import time
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

import image_factory as factory
from lychee_rerank import images
from lychee_rerank.images import (
    AVIF_MISSING,
    HEIF_MISSING,
    MAX_ASPECT_RATIO,
    PLACEHOLDER_GREY,
    LoadedImage,
    fit_to_processor,
    load_image,
)
from lychee_rerank.sources import ImageInput, as_input

MAX_PIXELS = 1_000_000


def load(data: bytes, name: str = "test.img", **kwargs: int) -> LoadedImage:
    kwargs.setdefault("max_pixels", MAX_PIXELS)
    return load_image(ImageInput(name=name, data=data), **kwargs)


def near(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected))


def assert_processor_ready(loaded: LoadedImage, max_pixels: int = MAX_PIXELS) -> None:
    width, height = loaded.scored_size
    assert loaded.image.mode == "RGB"
    assert width % 28 == 0 and height % 28 == 0
    assert width >= 28 and height >= 28
    assert width * height <= max(max_pixels, 28 * 28)
    assert max(width, height) / min(width, height) <= MAX_ASPECT_RATIO


def assert_loaded_ok(loaded: LoadedImage) -> None:
    assert not loaded.failed, loaded.warnings
    assert_processor_ready(loaded)


# ---------------------------------------------------------------- 1. EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation: int) -> None:
    loaded = load(factory.oriented_jpeg(orientation))
    assert_loaded_ok(loaded)
    width, height = factory.STORED_SIZE
    assert loaded.scored_size == ((width, height) if orientation <= 4 else (height, width))
    middle = factory.MARK // 2
    red_at = factory.displayed_position(orientation, middle, middle)
    green_at = factory.displayed_position(orientation, width - 1 - middle, middle)
    assert near(loaded.image.getpixel(red_at), factory.RED), orientation
    assert near(loaded.image.getpixel(green_at), factory.GREEN), orientation
    assert loaded.warnings == []


# ---------------------------------------------------------------- 2. transparency on white


def test_palette_png_with_transparency_is_composited_on_white() -> None:
    loaded = load(factory.palette_png_transparent())
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((10, 28)), (255, 255, 255), 2)
    assert near(loaded.image.getpixel((45, 28)), factory.RED, 2)


def test_rgba_png_is_composited_on_white_not_black() -> None:
    loaded = load(factory.rgba_png())
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((10, 10)), (255, 255, 255), 2)
    assert near(loaded.image.getpixel((45, 10)), factory.BLUE, 2)
    assert near(loaded.image.getpixel((10, 50)), (255, 127, 127), 3)  # half-transparent red over white


def test_la_greyscale_with_alpha_is_composited_on_white() -> None:
    loaded = load(factory.la_png())
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((10, 28)), (255, 255, 255), 2)
    assert near(loaded.image.getpixel((45, 28)), (0, 0, 0), 2)


def test_pil_image_with_alpha_is_composited_without_touching_the_original() -> None:
    original = Image.new("RGBA", (56, 56), (0, 0, 0, 0))
    loaded = load_image(as_input(original, 0), max_pixels=MAX_PIXELS)
    assert near(loaded.image.getpixel((5, 5)), (255, 255, 255), 2)
    assert original.mode == "RGBA" and original.getpixel((5, 5)) == (0, 0, 0, 0)


# ---------------------------------------------------------------- 3. CMYK, YCCK, ICC


@pytest.mark.parametrize(
    ("cmyk", "rgb"),
    [((0, 255, 255, 0), factory.RED), ((0, 0, 255, 0), (255, 255, 0)), ((0, 0, 0, 128), (127, 127, 127))],
)
@pytest.mark.parametrize("build", [factory.cmyk_jpeg, factory.ycck_jpeg], ids=["cmyk", "ycck"])
def test_cmyk_and_ycck_jpegs_come_out_in_rgb(build, cmyk, rgb) -> None:
    data = build(cmyk)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    loaded = load(data)
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((28, 28)), rgb), loaded.image.getpixel((28, 28))


def test_ycck_marker_really_says_ycck() -> None:
    assert Image.open(io.BytesIO(factory.ycck_jpeg((0, 255, 255, 0)))).info.get("adobe_transform") == 2


def test_embedded_icc_profile_is_converted_to_srgb() -> None:
    loaded = load(factory.jpeg_with_icc(factory.RED, factory.swapped_icc_profile()))
    assert_loaded_ok(loaded)
    # red in a profile whose red primary is sRGB green: only a real conversion gives green
    assert near(loaded.image.getpixel((28, 28)), factory.GREEN), loaded.image.getpixel((28, 28))
    assert any("swapped red/green" in note for note in loaded.notes)


def test_srgb_icc_profile_keeps_colours() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    loaded = load(factory.jpeg_with_icc((200, 100, 50), srgb))
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((28, 28)), (200, 100, 50), 6)


def test_broken_icc_profile_is_a_warning_not_a_failure() -> None:
    loaded = load(factory.jpeg_with_icc((200, 100, 50), b"not a colour profile at all"))
    assert_loaded_ok(loaded)
    assert "colour profile could not be applied" in loaded.warning
    assert near(loaded.image.getpixel((28, 28)), (200, 100, 50), 6)


# ---------------------------------------------------------------- 4. 16-bit


@pytest.mark.parametrize("build", [factory.gray16_png, factory.gray16_tiff], ids=["png", "tiff"])
@pytest.mark.parametrize(("value", "grey"), [(32768, 128), (0, 0), (65535, 255), (16384, 64)])
def test_16bit_greyscale_is_scaled_not_clipped(build, value: int, grey: int) -> None:
    loaded = load(build(value))
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((10, 10)), (grey, grey, grey), 1)


def test_float_tiff_is_scaled() -> None:
    loaded = load(factory.encode(Image.new("F", (56, 56), 0.5), "TIFF"))
    assert_loaded_ok(loaded)
    assert near(loaded.image.getpixel((10, 10)), (128, 128, 128), 1)


# ---------------------------------------------------------------- 5. animation


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_give_the_first_frame_and_say_so(fmt: str) -> None:
    loaded = load(factory.animated(fmt, 3))
    assert_loaded_ok(loaded)
    assert loaded.format == fmt
    assert near(loaded.image.getpixel((28, 28)), factory.RED, 3)
    assert loaded.warnings == ["animated image (3 frames): only the first frame was scored"]


def test_multi_picture_jpeg_is_a_note_not_a_warning() -> None:
    first, second = factory.solid((56, 56), factory.RED), factory.solid((56, 56), factory.BLUE)
    loaded = load(factory.encode(first, "MPO", save_all=True, append_images=[second]))
    assert_loaded_ok(loaded)
    assert loaded.format == "MPO" and loaded.warnings == []
    assert any("multi-picture" in note for note in loaded.notes)
    assert near(loaded.image.getpixel((28, 28)), factory.RED)


# ---------------------------------------------------------------- 6. HEIF / AVIF


def test_heif_loads_through_pillow_heif() -> None:
    pytest.importorskip("pillow_heif")
    loaded = load(factory.heif(factory.RED), name="IMG_0001.HEIC")
    assert_loaded_ok(loaded)
    assert loaded.format == "HEIF" and loaded.original_size == (64, 48)
    assert near(loaded.image.getpixel((28, 28)), factory.RED, 40)


@pytest.fixture
def heif_bytes() -> bytes:
    pytest.importorskip("pillow_heif")
    return factory.heif(factory.RED)


def test_heif_without_pillow_heif_says_what_to_install(heif_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif now raises ImportError
    loaded = load(heif_bytes, name="IMG.HEIC")
    assert loaded.failed
    assert loaded.warnings == [HEIF_MISSING]
    assert "pip install pillow-heif" in loaded.warning


def test_avif_loads_when_pillow_supports_it() -> None:
    if not images._pillow_has_avif():
        pytest.skip("this Pillow has no AVIF codec")
    loaded = load(factory.avif(factory.RED), name="photo.avif")
    assert_loaded_ok(loaded)
    assert loaded.format == "AVIF"
    assert near(loaded.image.getpixel((28, 28)), factory.RED, 40)


def test_avif_without_support_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if not images._pillow_has_avif():
        pytest.skip("cannot build an AVIF without a codec")
    data = factory.avif(factory.RED)
    monkeypatch.setattr(images, "_pillow_has_avif", lambda: False)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    loaded = load(data, name="photo.avif")
    assert loaded.failed and loaded.warnings == [AVIF_MISSING]


# ---------------------------------------------------------------- 7. tiny and extreme shapes


@pytest.mark.parametrize("size", [(1, 1), (20, 300), (300, 20), (10000, 50), (50, 10000), (3, 900), (27, 27)])
@pytest.mark.parametrize("max_pixels", [MAX_PIXELS, 200_000, 28 * 28 * 4])
def test_tiny_and_extreme_images_fit_the_processor(size: tuple[int, int], max_pixels: int) -> None:
    loaded = load(factory.png(size, factory.RED), max_pixels=max_pixels)
    assert not loaded.failed
    assert_processor_ready(loaded, max_pixels)
    assert loaded.original_size == size
    ratio = max(size) / min(size)
    if min(size) < 28 or ratio > images.PAD_ASPECT_RATIO:
        assert loaded.warnings, "a reshaped image must say so"


def test_extreme_aspect_is_padded_with_white() -> None:
    loaded = load(factory.png((10000, 50), factory.RED))
    width, height = loaded.scored_size
    assert near(loaded.image.getpixel((width // 2, height // 2)), factory.RED, 10)
    assert near(loaded.image.getpixel((width // 2, 0)), (255, 255, 255), 10)
    assert "extreme aspect ratio" in loaded.warning


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
    ratio=st.floats(1, images.PAD_ASPECT_RATIO),
    max_pixels=st.integers(28 * 28, 20_000_000),
    tall=st.booleans(),
)
def test_target_size_holds_for_any_padded_shape(width: int, ratio: float, max_pixels: int, tall: bool) -> None:
    size = (width, max(28, round(width / ratio)))
    if tall:
        size = size[::-1]
    w, h = images._target_size(size, max_pixels, images.MIN_PIXELS)
    assert w % 28 == 0 and h % 28 == 0 and w >= 28 and h >= 28
    assert w * h <= max_pixels
    assert max(w, h) / min(w, h) <= MAX_ASPECT_RATIO


def test_target_size_keeps_the_aspect_of_normal_photos() -> None:
    w, h = images._target_size((4000, 3000), MAX_PIXELS, images.MIN_PIXELS)
    assert abs(w / h - 4 / 3) < 0.05 and w * h <= MAX_PIXELS


# ---------------------------------------------------------------- 8. large photos


def test_large_jpeg_is_decoded_with_draft_and_bounded() -> None:
    data = factory.encode(Image.new("L", (6000, 8000), 128), "JPEG", quality=50)
    started = time.perf_counter()
    loaded = load(data, max_pixels=MAX_PIXELS)
    assert_loaded_ok(loaded)
    assert loaded.original_size == (6000, 8000)
    assert loaded.decoded_size is not None and loaded.decoded_size[0] <= 1500 and loaded.decoded_size[1] <= 2000
    assert any("draft" in note for note in loaded.notes)
    assert abs(loaded.scored_size[0] / loaded.scored_size[1] - 0.75) < 0.05
    assert time.perf_counter() - started < 5


def test_rotated_phone_photo_is_drafted_then_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = factory.encode(Image.new("RGB", (4000, 3000), factory.GREY), "JPEG", quality=50, exif=exif.tobytes())
    loaded = load(data)
    assert_loaded_ok(loaded)
    assert loaded.decoded_size == (2000, 1500)
    width, height = loaded.scored_size
    assert height > width and abs(height / width - 4 / 3) < 0.05


def test_large_png_is_shrunk_within_max_pixels() -> None:
    loaded = load(factory.png((4000, 3000), factory.BLUE), max_pixels=300_000)
    assert_processor_ready(loaded, 300_000)
    assert near(loaded.image.getpixel((50, 50)), factory.BLUE, 2)


# ---------------------------------------------------------------- 9. decompression bombs


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    data = factory.png_claiming(30000, 30000)
    limit_before = Image.MAX_IMAGE_PIXELS
    filters_before = list(warnings.filters)
    started = time.perf_counter()
    loaded = load(data, name="bomb.png")
    assert loaded.failed and "decompression bomb" in loaded.warning
    assert time.perf_counter() - started < 2
    assert Image.MAX_IMAGE_PIXELS == limit_before
    assert warnings.filters == filters_before


def test_our_own_pixel_limit_refuses_with_the_declared_size() -> None:
    loaded = load(factory.png_claiming(12000, 9000))  # 108 MP: between our 100 MP and Pillow's error
    assert loaded.failed
    assert "12000×9000" in loaded.warning and "decompression bomb" in loaded.warning
    small = load(factory.png_claiming(2000, 1000), max_decode_pixels=1_000_000)
    assert small.failed and "1 MP safety limit" in small.warning


def test_pillow_bomb_warning_is_an_error_for_the_loader_only() -> None:
    data = factory.png_claiming(10000, 9000)  # 90 MP: Pillow warns (> 89.5 MP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load(data, max_decode_pixels=Image.MAX_IMAGE_PIXELS)
    assert loaded.failed and "decompression bomb" in loaded.warning
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


# ---------------------------------------------------------------- 10. broken files


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "file is empty (0 bytes)"),
        (factory.truncated(factory.encode(factory.noise_image(), "JPEG")), "truncated image data"),
        (factory.truncated(factory.encode(factory.noise_image(), "PNG")), "truncated image data"),
        (factory.encode(factory.noise_image(), "PNG")[:40], "truncated or corrupt image data"),
        (factory.pdf(), "not an image: looks like a PDF"),
        (factory.text(), "not an image: looks like a text file"),
        (factory.html(), "looks like a web page"),
        (bytes(range(256)) * 4, "not a recognised image format"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),  # EPS: never run Ghostscript
        (factory.zip_bytes([("a.png", factory.png())]), "looks like a zip archive"),
    ],
    ids=["empty", "trunc-jpeg", "trunc-png", "png-header", "pdf", "text", "html", "garbage", "eps", "zip"],
)
def test_broken_files_become_a_grey_placeholder_with_the_reason(data: bytes, expected: str) -> None:
    loaded = load(data, name="photo.jpg")
    assert loaded.failed
    assert expected in loaded.warning, loaded.warning
    assert loaded.image.getpixel((5, 5)) == PLACEHOLDER_GREY
    assert_processor_ready(loaded)


def test_file_that_vanishes_after_listing(tmp_path) -> None:
    path = tmp_path / "gone.jpg"
    path.write_bytes(factory.jpeg())
    source = as_input(path, 0)
    path.unlink()
    loaded = load_image(source, max_pixels=MAX_PIXELS)
    assert loaded.failed and loaded.warning == "file disappeared before it could be read"
    assert loaded.name == "gone.jpg" and loaded.path == str(path)


def test_permission_denied_simulated() -> None:
    def opener() -> bytes:
        raise PermissionError(13, "Permission denied")

    loaded = load_image(ImageInput(name="secret.jpg", opener=opener), max_pixels=MAX_PIXELS)
    assert loaded.failed and "permission denied" in loaded.warning


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read chmod 000 files")
def test_permission_denied_on_disk(tmp_path) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(factory.jpeg())
    path.chmod(0)
    try:
        loaded = load_image(as_input(path, 0), max_pixels=MAX_PIXELS)
    finally:
        path.chmod(0o644)
    assert loaded.failed and "permission denied" in loaded.warning


def test_a_folder_given_as_an_image(tmp_path) -> None:
    loaded = load_image(as_input(tmp_path, 0), max_pixels=MAX_PIXELS)
    assert loaded.failed and "folder" in loaded.warning


def test_problem_inputs_become_placeholders() -> None:
    loaded = load_image(ImageInput(name="x.png", problem="broken symlink"), max_pixels=MAX_PIXELS)
    assert loaded.failed and loaded.warnings == ["broken symlink"]


def test_load_image_does_not_raise_on_a_lying_pil_image() -> None:
    lazy = Image.open(io.BytesIO(factory.truncated(factory.encode(factory.noise_image(), "PNG"))))
    loaded = load_image(as_input(lazy, 0), max_pixels=MAX_PIXELS)
    assert loaded.failed and "truncated" in loaded.warning


# ---------------------------------------------------------------- 11. duplicates and metadata


def test_duplicates_share_a_digest() -> None:
    # The Reranker scores one image per digest and marks the rest (tests/test_reranker.py).
    same = factory.jpeg(color=factory.RED)
    loaded = [load(same, "a.jpg"), load(factory.jpeg(), "b.jpg"), load(same, "c.jpg")]
    assert loaded[0].digest == loaded[2].digest != loaded[1].digest


def test_loaded_image_carries_name_path_and_sizes(tmp_path) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_bytes(factory.jpeg((4000, 3000)))
    loaded = load_image(as_input(path, 0), max_pixels=MAX_PIXELS)
    assert (loaded.name, loaded.path) == ("holiday.jpg", str(path))
    assert loaded.original_size == (4000, 3000)
    assert loaded.scored_size == loaded.image.size and loaded.scored_size[0] * loaded.scored_size[1] <= MAX_PIXELS
    assert loaded.warning is None and not loaded.failed
    assert loaded.digest is not None and len(loaded.digest) == 64
