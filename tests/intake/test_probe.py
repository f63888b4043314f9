"""Sizes read from headers (no decoding), what the run's size ordering is planned from."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from lychee_rerank.intake import ImageInput, as_input, collect_inputs, header_size, visual_tokens

from helpers import jpeg_bytes, png_bytes


def test_sizes_from_bytes_files_and_images(tmp_path: Path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes("red", (300, 200)))
    assert header_size(as_input(path, 0)) == (300, 200)
    assert header_size(as_input(png_bytes("blue", (40, 90)), 0)) == (40, 90)
    assert header_size(as_input(Image.new("RGB", (7, 9)), 0)) == (7, 9)


def test_unknown_sizes_are_none_never_an_error(tmp_path: Path):
    assert header_size(as_input(b"not an image", 0)) is None
    assert header_size(as_input(tmp_path / "missing.png", 0)) is None
    assert header_size(ImageInput(name="gone.png", problem="file vanished")) is None
    archive = tmp_path / "pics.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", png_bytes("red", (50, 50)))
    member = collect_inputs([archive]).inputs[0]
    assert header_size(member) is None  # a zip member is not decompressed twice


def test_a_header_declaring_a_bomb_is_unknown_not_decoded():
    buffer = io.BytesIO()
    Image.new("1", (1, 1)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = (200_000).to_bytes(4, "big") * 2  # IHDR width and height: 4e10 pixels
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # a valid chunk: only the size is wrong
    with pytest.raises(Image.DecompressionBombError):  # a well-formed header, refused for its size alone
        Image.open(io.BytesIO(bytes(data)), formats=["PNG"])
    assert header_size(as_input(bytes(data), 0)) is None


def test_visual_tokens_follow_the_processors_grid():
    assert visual_tokens((1024, 768), max_pixels=1280 * 28 * 28) == (1008 // 28) * (756 // 28)
    assert visual_tokens((4032, 3024), max_pixels=1280 * 28 * 28) <= 1280
    assert visual_tokens((56, 56), max_pixels=1280 * 28 * 28) == 4
