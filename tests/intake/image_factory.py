"""Builds every hostile image the loader must survive, as bytes in memory (nothing is downloaded)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterable

from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
GREY = (128, 128, 128)

# ---------------------------------------------------------------- basics


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """Save ``image`` in ``fmt`` to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def solid(size: tuple[int, int], color: object = GREY, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, size, color)  # type: ignore[arg-type]


def png(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = GREY) -> bytes:
    return encode(solid(size, color), "PNG")


def jpeg(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = GREY, **params: object) -> bytes:
    return encode(solid(size, color), "JPEG", quality=95, **params)


def noise_image(size: tuple[int, int] = (256, 256)) -> Image.Image:
    """Incompressible content, so truncating the file really cuts pixel data."""
    return Image.merge("RGB", [Image.effect_noise(size, 80).convert("L") for _ in range(3)])


# ---------------------------------------------------------------- 1. EXIF orientation

STORED_SIZE = (84, 56)  # multiples of 28: the loader does not resize it
MARK = 20


def oriented_jpeg(orientation: int) -> bytes:
    """A JPEG whose *stored* pixels have red in the top-left and green in the top-right corner."""
    image = solid(STORED_SIZE, BLUE)
    width, _ = STORED_SIZE
    image.paste(RED, (0, 0, MARK, MARK))
    image.paste(GREEN, (width - MARK, 0, width, MARK))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif.tobytes())


def displayed_position(orientation: int, x: int, y: int, size: tuple[int, int] = STORED_SIZE) -> tuple[int, int]:
    """Where stored pixel (x, y) must appear once displayed, from the EXIF 2.3 definition of each tag value."""
    w, h = size
    return {
        1: (x, y),
        2: (w - 1 - x, y),
        3: (w - 1 - x, h - 1 - y),
        4: (x, h - 1 - y),
        5: (y, x),
        6: (h - 1 - y, x),
        7: (h - 1 - y, w - 1 - x),
        8: (y, w - 1 - x),
    }[orientation]


# ---------------------------------------------------------------- 2. transparency


def palette_png_transparent() -> bytes:
    """P-mode PNG: left half palette index 0 (transparent, black), right half red."""
    image = Image.new("P", (56, 56), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (28, 0, 56, 56))
    return encode(image, "PNG", transparency=0)


def rgba_png() -> bytes:
    """RGBA: left half transparent black, right half opaque blue, a half-transparent red strip at the bottom."""
    image = Image.new("RGBA", (56, 56), (0, 0, 0, 0))
    image.paste((0, 0, 255, 255), (28, 0, 56, 56))
    image.paste((255, 0, 0, 128), (0, 42, 28, 56))
    return encode(image, "PNG")


def la_png() -> bytes:
    """LA greyscale: left half transparent black, right half opaque black."""
    image = Image.new("LA", (56, 56), (0, 0))
    image.paste((0, 255), (28, 0, 56, 56))
    return encode(image, "PNG")


# ---------------------------------------------------------------- 3. CMYK, YCCK, ICC


def cmyk_jpeg(cmyk: tuple[int, int, int, int]) -> bytes:
    """Pillow writes CMYK JPEGs Adobe-style (inverted samples, APP14 transform 0)."""
    return encode(solid((56, 56), cmyk, "CMYK"), "JPEG", quality=95)


def ycck_jpeg(cmyk: tuple[int, int, int, int]) -> bytes:
    """A JPEG with Adobe APP14 transform 2 (YCCK), holding the colour ``cmyk``.

    Pillow cannot write YCCK, so we store the YCC samples libjpeg will convert back
    (R,G,B = C,M,Y before YCbCr; K inverted, Adobe style) and flip the transform byte.
    """
    c, m, y, k = cmyk
    ycc = solid((1, 1), (c, m, y)).convert("YCbCr").getpixel((0, 0))
    stored = tuple(255 - v for v in ycc) + (k,)  # Pillow inverts CMYK samples on write
    data = bytearray(encode(solid((56, 56), stored, "CMYK"), "JPEG", quality=95))
    adobe = data.find(b"\xff\xeeAdobe"[:2])
    assert data[adobe + 4 : adobe + 9] == b"Adobe"
    data[adobe + 15] = 2
    return bytes(data)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_tag(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _desc_tag(text: str) -> bytes:
    ascii_text = text.encode("ascii") + b"\0"
    return (
        b"desc\0\0\0\0" + struct.pack(">I", len(ascii_text)) + ascii_text
        + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\0" * 67
    )


def rgb_icc_profile(
    red: tuple[float, float, float], green: tuple[float, float, float], blue: tuple[float, float, float],
    description: str = "test RGB",
) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 primaries and gamma 2.2."""
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(2.2 * 256)) + b"\0\0"
    tags = [
        (b"desc", _desc_tag(description)),
        (b"wtpt", _xyz_tag((0.9642, 1.0, 0.8249))),
        (b"rXYZ", _xyz_tag(red)), (b"gXYZ", _xyz_tag(green)), (b"bXYZ", _xyz_tag(blue)),
        (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0public domain\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + b"\0" * 12 + b"acsp" + b"\0" * 24 + struct.pack(">I", 0)
        + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


SRGB_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def swapped_icc_profile() -> bytes:
    """An RGB profile whose 'red' channel is sRGB green and 'green' is sRGB red: only a real conversion fixes it."""
    red, green, blue = SRGB_D50
    return rgb_icc_profile(green, red, blue, description="swapped red/green")


def jpeg_with_icc(color: tuple[int, int, int], icc: bytes) -> bytes:
    return encode(solid((56, 56), color), "JPEG", quality=95, icc_profile=icc)


# ---------------------------------------------------------------- 4. 16-bit


def gray16(value: int, size: tuple[int, int] = (56, 56)) -> Image.Image:
    return Image.new("I;16", size, value)


def gray16_png(value: int) -> bytes:
    return encode(gray16(value), "PNG")


def gray16_tiff(value: int) -> bytes:
    return encode(gray16(value), "TIFF")


# ---------------------------------------------------------------- 5. animation

FRAME_COLORS = (RED, GREEN, BLUE, GREY)


def _frames(count: int) -> list[Image.Image]:
    return [solid((56, 56), FRAME_COLORS[i % len(FRAME_COLORS)]) for i in range(count)]


def animated(fmt: str, count: int = 3) -> bytes:
    """GIF, WEBP or PNG (APNG) with ``count`` frames; the first one is red."""
    first, *rest = _frames(count)
    params: dict[str, object] = {"save_all": True, "append_images": rest, "duration": 100, "loop": 0}
    if fmt == "WEBP":
        params["lossless"] = True
    return encode(first, fmt, **params)


# ---------------------------------------------------------------- 6. HEIF / AVIF


def heif(color: tuple[int, int, int] = RED, size: tuple[int, int] = (64, 48)) -> bytes:
    # lazy: pillow-heif is optional; only the HEIF tests need it, and they skip without it
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(solid(size, color)).save(buffer, format="HEIF", quality=95)
    return buffer.getvalue()


def avif(color: tuple[int, int, int] = RED, size: tuple[int, int] = (64, 48)) -> bytes:
    return encode(solid(size, color), "AVIF", quality=95)


# ---------------------------------------------------------------- 9. bombs


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width``×``height`` RGB pixels (nothing that size is allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# ---------------------------------------------------------------- 10. broken files


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def text() -> bytes:
    return b"shopping list:\n- lychees\n- rice\n"


def html() -> bytes:
    return b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not Found</body></html>"


# ---------------------------------------------------------------- zips


def zip_bytes(members: Iterable[tuple[str | zipfile.ZipInfo, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding ``members`` ((name or ZipInfo, data) pairs), written with zipfile."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def _patch_flags(archive: bytes, set_bits: int = 0, clear_bits: int = 0) -> bytes:
    """Change the general-purpose flags of the first member in both the local and the central header."""
    data = bytearray(archive)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        flags = struct.unpack_from("<H", data, at + flag_offset)[0]
        struct.pack_into("<H", data, at + flag_offset, (flags | set_bits) & ~clear_bits)
    return bytes(data)


def zip_legacy_utf8_name(name: str, data: bytes) -> bytes:
    """A zip storing ``name`` as UTF-8 bytes without the UTF-8 flag (old macOS/Windows tools)."""
    return _patch_flags(zip_bytes([(name, data)]), clear_bits=0x800)


def zip_encrypted_flag(name: str, data: bytes) -> bytes:
    """A zip whose member is flagged as encrypted (zipfile then demands a password)."""
    return _patch_flags(zip_bytes([(name, data)], compression=zipfile.ZIP_STORED), set_bits=0x1)
