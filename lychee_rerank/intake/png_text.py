"""The text chunks of a PNG, read on the raw bytes with a cap on every chunk (compressed and decompressed).

:func:`scan_png` walks the chunks and keeps the texts generation metadata lives in; a text chunk over
the caps is left unread and marked, and :func:`pillow_safe_png` gives Pillow the file without it (Pillow
refuses the whole image for a zTXt that inflates past its own limit).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import PngImagePlugin

from .sd_formats import decode_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
WANTED_KEYS = ("parameters", "invokeai_metadata", "prompt")  # in the order they are preferred
MAX_TEXT_BYTES = 4 * 1024 * 1024  # one metadata text, compressed or not: a 10,000-node graph is ~2 MiB
MAX_CHUNKS = 100_000  # chunks walked per file; a real PNG has a handful plus its IDATs


@dataclass
class PngTexts:
    """The text chunks of a PNG that matter here, and the byte ranges of chunks Pillow must not see."""

    texts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of whole chunks


def pillow_safe_png(data: bytes, png: PngTexts) -> bytes:
    """``data`` without the text chunks Pillow would refuse the whole image for (the original is untouched)."""
    if not png.dropped:
        return data
    parts, start = [], 0
    for begin, end in png.dropped:
        parts.append(data[start:begin])
        start = end
    parts.append(data[start:])
    return b"".join(parts)


def scan_png(data: bytes) -> PngTexts:
    """Walk the PNG's chunks: read the wanted text chunks (capped), mark oversized text chunks to drop."""
    found = PngTexts()
    view = memoryview(data)
    memory = 0  # Pillow's own running total of text (MAX_TEXT_MEMORY): stay well under it
    for index, (kind, start, body, end) in enumerate(_chunks(view)):
        if index >= MAX_CHUNKS:
            found.notes.append(f"PNG has more than {MAX_CHUNKS} chunks; the rest were not read for metadata")
            break
        if kind not in TEXT_CHUNKS:
            continue
        key, text, problem = _text_chunk(kind, view[body:end - 4])
        if problem is not None:
            found.dropped.append((start, end))
            if key in WANTED_KEYS or key == "workflow":
                found.notes.append(f"PNG text chunk '{key}' not read: {problem}")
            continue
        memory += len(text or "")
        if memory > PngImagePlugin.MAX_TEXT_MEMORY // 2:
            found.dropped.append((start, end))
            found.notes.append("PNG holds more text than is safe to read; later text chunks were skipped")
            continue
        if key in WANTED_KEYS and text is not None and key not in found.texts:
            found.texts[key] = text
    return found


def _chunks(view: memoryview) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, chunk start, data start, chunk end) of each complete chunk; stops at IEND or a broken length."""
    position = len(PNG_SIGNATURE)
    while position + 12 <= len(view):
        length, kind = struct.unpack(">I4s", view[position:position + 8])
        end = position + 12 + length
        if end > len(view):
            return
        yield kind, position, position + 8, end
        if kind == b"IEND":
            return
        position = end


def _text_chunk(kind: bytes, body: memoryview) -> tuple[str, str | None, str | None]:
    """(key, text, problem) of one text chunk; text is None for a key we do not need (not decompressed)."""
    if len(body) > MAX_TEXT_BYTES:
        key = _key(bytes(body[:80]))
        return key, None, f"{len(body) / 1024**2:.1f} MiB, over the {MAX_TEXT_BYTES // 1024**2} MiB limit"
    raw = bytes(body)
    key_bytes, _, rest = raw.partition(b"\0")
    key = _key(key_bytes)
    if kind == b"tEXt":
        return key, decode_text(rest) if key in WANTED_KEYS else None, None
    if kind == b"zTXt":
        if not rest or rest[0] != 0:
            return key, None, "unknown compression method"
        return _inflated(key, rest[1:], latin=True)
    # iTXt: keyword, flag, method, language, translated keyword, text (UTF-8)
    if len(rest) < 2:
        return key, None, None
    compressed, method, rest = rest[0], rest[1], rest[2:]
    parts = rest.split(b"\0", 2)
    if len(parts) < 3:
        return key, None, None
    value = parts[2]
    if compressed:
        if method != 0:
            return key, None, "unknown compression method"
        return _inflated(key, value, latin=False)
    return key, _utf8(value) if key in WANTED_KEYS else None, None


def _inflated(key: str, compressed: bytes, *, latin: bool) -> tuple[str, str | None, str | None]:
    """Decompress at most the smaller of our cap and Pillow's (a larger text makes Pillow refuse the image)."""
    limit = min(MAX_TEXT_BYTES, PngImagePlugin.MAX_TEXT_CHUNK)
    inflater = zlib.decompressobj()
    try:
        value = inflater.decompress(compressed, limit + 1)
    except zlib.error:
        return key, None, "its compressed data is corrupt"
    if len(value) > limit or inflater.unconsumed_tail:
        return key, None, f"decompresses to more than the {limit // 1024**2} MiB limit"
    if key not in WANTED_KEYS:
        return key, None, None
    return key, decode_text(value) if latin else _utf8(value), None


def _key(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0][:79].decode("latin-1")


def _utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")
