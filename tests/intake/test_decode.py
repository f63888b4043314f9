"""The decoder survives every hostile image: each case builds its own file in memory."""

from __future__ import annotations

import io
import os
import sys
import time
import warnings
from pathlib import Path

import pytest
from PIL import Image

from lychee_rerank.intake import ImageInput, as_input, prepare_image, sniff
from lychee_rerank.intake.decode import PLACEHOLDER_GREY
from lychee_rerank.intake.sniff import AVIF_MISSING, HEIF_MISSING

import image_factory as factory
from intake_checks import MAX_PIXELS, assert_prepared_ok, assert_processor_ready, load, near

# ---------------------------------------------------------------- 5. animation


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_images_give_the_first_frame_and_say_so(fmt: str) -> None:
    prepared = load(factory.animated(fmt, 3))
    assert_prepared_ok(prepared)
    assert prepared.format == fmt
    assert near(prepared.image.getpixel((28, 28)), factory.RED, 3)
    assert prepared.warnings == ["animated image (3 frames): only the first frame was scored"]


def test_multi_picture_jpeg_is_a_note_not_a_warning() -> None:
    first, second = factory.solid((56, 56), factory.RED), factory.solid((56, 56), factory.BLUE)
    prepared = load(factory.encode(first, "MPO", save_all=True, append_images=[second]))
    assert_prepared_ok(prepared)
    assert prepared.format == "MPO" and prepared.warnings == []
    assert any("multi-picture" in note for note in prepared.notes)
    assert near(prepared.image.getpixel((28, 28)), factory.RED)


# ---------------------------------------------------------------- 6. HEIF / AVIF


def test_heif_loads_through_pillow_heif() -> None:
    pytest.importorskip("pillow_heif")
    prepared = load(factory.heif(factory.RED), name="IMG_0001.HEIC")
    assert_prepared_ok(prepared)
    assert prepared.format == "HEIF" and prepared.original_size == (64, 48)
    assert near(prepared.image.getpixel((28, 28)), factory.RED, 40)


@pytest.fixture
def heif_bytes() -> bytes:
    pytest.importorskip("pillow_heif")
    return factory.heif(factory.RED)


def test_heif_without_pillow_heif_says_what_to_install(heif_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pillow_heif", None)  # import pillow_heif now raises ImportError
    prepared = load(heif_bytes, name="IMG.HEIC")
    assert prepared.failed
    assert prepared.warnings == [HEIF_MISSING]
    assert "pip install pillow-heif" in prepared.warning


def test_avif_loads_when_pillow_supports_it() -> None:
    if not sniff._pillow_has_avif():
        pytest.skip("this Pillow has no AVIF codec")
    prepared = load(factory.avif(factory.RED), name="photo.avif")
    assert_prepared_ok(prepared)
    assert prepared.format == "AVIF"
    assert near(prepared.image.getpixel((28, 28)), factory.RED, 40)


def test_avif_without_support_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    if not sniff._pillow_has_avif():
        pytest.skip("cannot build an AVIF without a codec")
    data = factory.avif(factory.RED)
    monkeypatch.setattr(sniff, "_pillow_has_avif", lambda: False)
    monkeypatch.setitem(sys.modules, "pillow_heif", None)
    prepared = load(data, name="photo.avif")
    assert prepared.failed and prepared.warnings == [AVIF_MISSING]


# ---------------------------------------------------------------- 8. large photos


def test_large_jpeg_is_decoded_with_draft_and_bounded() -> None:
    data = factory.encode(Image.new("L", (6000, 8000), 128), "JPEG", quality=50)
    started = time.perf_counter()
    prepared = load(data, max_pixels=MAX_PIXELS)
    assert_prepared_ok(prepared)
    assert prepared.original_size == (6000, 8000)
    assert prepared.decoded_size is not None and prepared.decoded_size[0] <= 1500 and prepared.decoded_size[1] <= 2000
    assert any("draft" in note for note in prepared.notes)
    assert abs(prepared.image.size[0] / prepared.image.size[1] - 0.75) < 0.05
    assert time.perf_counter() - started < 5


def test_rotated_phone_photo_is_drafted_then_turned_upright() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = factory.encode(Image.new("RGB", (4000, 3000), factory.GREY), "JPEG", quality=50, exif=exif.tobytes())
    prepared = load(data)
    assert_prepared_ok(prepared)
    assert prepared.decoded_size == (2000, 1500)
    width, height = prepared.image.size
    assert height > width and abs(height / width - 4 / 3) < 0.05



# ---------------------------------------------------------------- 9. decompression bombs


def test_decompression_bomb_header_is_refused_before_decoding() -> None:
    data = factory.png_claiming(30000, 30000)
    limit_before = Image.MAX_IMAGE_PIXELS
    filters_before = list(warnings.filters)
    started = time.perf_counter()
    prepared = load(data, name="bomb.png")
    assert prepared.failed and "decompression bomb" in prepared.warning
    assert time.perf_counter() - started < 2
    assert Image.MAX_IMAGE_PIXELS == limit_before
    assert warnings.filters == filters_before


def test_our_own_pixel_limit_refuses_with_the_declared_size() -> None:
    prepared = load(factory.png_claiming(12000, 9000))  # 108 MP: between our 100 MP and Pillow's error
    assert prepared.failed
    assert "12000×9000" in prepared.warning and "decompression bomb" in prepared.warning
    small = load(factory.png_claiming(2000, 1000), max_decode_pixels=1_000_000)
    assert small.failed and "1 MP safety limit" in small.warning


def test_pillow_bomb_warning_is_an_error_for_the_loader_only() -> None:
    data = factory.png_claiming(10000, 9000)  # 90 MP: Pillow warns (> 89.5 MP)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepared = load(data, max_decode_pixels=Image.MAX_IMAGE_PIXELS)
    assert prepared.failed and "decompression bomb" in prepared.warning
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
    prepared = load(data, name="photo.jpg")
    assert prepared.failed
    assert expected in prepared.warning, prepared.warning
    assert prepared.image.getpixel((5, 5)) == PLACEHOLDER_GREY
    assert_processor_ready(prepared)


def test_file_that_vanishes_after_listing(tmp_path: Path) -> None:
    path = tmp_path / "gone.jpg"
    path.write_bytes(factory.jpeg())
    source = as_input(path, 0)
    path.unlink()
    prepared = prepare_image(source, max_pixels=MAX_PIXELS)
    assert prepared.failed and prepared.warning == "file disappeared before it could be read"
    assert prepared.name == "gone.jpg" and prepared.path == str(path)


def test_permission_denied_simulated() -> None:
    def opener() -> bytes:
        raise PermissionError(13, "Permission denied")

    prepared = prepare_image(ImageInput(name="secret.jpg", opener=opener), max_pixels=MAX_PIXELS)
    assert prepared.failed and "permission denied" in prepared.warning


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read chmod 000 files")
def test_permission_denied_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "locked.jpg"
    path.write_bytes(factory.jpeg())
    path.chmod(0)
    try:
        prepared = prepare_image(as_input(path, 0), max_pixels=MAX_PIXELS)
    finally:
        path.chmod(0o644)
    assert prepared.failed and "permission denied" in prepared.warning


def test_a_folder_given_as_an_image(tmp_path: Path) -> None:
    prepared = prepare_image(as_input(tmp_path, 0), max_pixels=MAX_PIXELS)
    assert prepared.failed and "folder" in prepared.warning


def test_problem_inputs_become_placeholders() -> None:
    prepared = prepare_image(ImageInput(name="x.png", problem="broken symlink"), max_pixels=MAX_PIXELS)
    assert prepared.failed and prepared.warnings == ["broken symlink"]


def test_prepare_image_does_not_raise_on_a_lying_pil_image() -> None:
    lazy = Image.open(io.BytesIO(factory.truncated(factory.encode(factory.noise_image(), "PNG"))))
    prepared = prepare_image(as_input(lazy, 0), max_pixels=MAX_PIXELS)
    assert prepared.failed and "truncated" in prepared.warning


# ---------------------------------------------------------------- 11. duplicates and metadata


def test_duplicates_share_a_digest() -> None:
    # The Reranker scores one image per digest and marks the rest (tests/test_reranker.py).
    same = factory.jpeg(color=factory.RED)
    prepared = [load(same, "a.jpg"), load(factory.jpeg(), "b.jpg"), load(same, "c.jpg")]
    assert prepared[0].digest == prepared[2].digest != prepared[1].digest


def test_prepared_image_carries_name_path_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"
    path.write_bytes(factory.jpeg((4000, 3000)))
    prepared = prepare_image(as_input(path, 0), max_pixels=MAX_PIXELS)
    assert (prepared.name, prepared.path) == ("holiday.jpg", str(path))
    assert prepared.original_size == (4000, 3000)
    width, height = prepared.image.size
    assert width * height <= MAX_PIXELS
    assert prepared.warning is None and not prepared.failed
    assert prepared.digest is not None and len(prepared.digest) == 64
