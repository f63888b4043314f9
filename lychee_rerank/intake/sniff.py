"""What bytes are before Pillow decodes them, and what to tell the user when it cannot.

* Format sniffing: ISO-BMFF files (``ftyp`` box) are told apart as HEIF, AVIF
  or video from their brands; HEIF registers the optional ``pillow-heif``
  plugin on first use, AVIF needs Pillow's own codec (>= 11.3) or an old
  pillow-heif. A missing plugin is a sentence saying what to install.
* Pillow only tries :data:`SAFE_FORMATS` (EPS would run Ghostscript; PDF,
  fonts and the like are refused).
* :func:`pillow_warnings` is the warning policy while decoding: Pillow's
  DecompressionBombWarning becomes an error, other Pillow warnings are logged.
* Read and decode errors become one user-facing sentence each; bytes Pillow
  cannot identify are described by their magic (PDF, zip, HTML, text, SVG...).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import threading
import warnings as pywarnings
from collections.abc import Iterator

from PIL import Image, UnidentifiedImageError, features

from .inputs import RefusedFileError

logger = logging.getLogger(__name__)

# Formats we let Pillow try. Others (EPS runs Ghostscript, PDF, fonts, ...) are refused.
SAFE_FORMATS = (
    "JPEG", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "HEIF", "AVIF",
    "ICO", "PPM", "PSD", "JPEG2000", "QOI",
)

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_MISSING = "HEIC/HEIF image, but the pillow-heif package is not installed: pip install pillow-heif"
AVIF_MISSING = "AVIF image, but this Pillow cannot decode AVIF: pip install -U pillow (Pillow >= 11.3 reads AVIF)"

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"8BPS", "PSD"),
)

_heif_registered = False
# catch_warnings swaps process-wide state: two threads inside it at once would restore each other's filters.
_WARNINGS_LOCK = threading.RLock()


# ---------------------------------------------------------------- what Pillow may open


def open_formats() -> tuple[str, ...]:
    """SAFE_FORMATS that are registered in this Pillow (Image.open fails on unknown names)."""
    Image.init()
    return tuple(name for name in SAFE_FORMATS if name in Image.OPEN)


@contextlib.contextmanager
def pillow_warnings(max_decode_pixels: int) -> Iterator[None]:
    """Local warning policy: DecompressionBombWarning is an error unless the caller allowed more pixels.

    Other Pillow warnings (corrupt EXIF...) are logged, not printed. ``warnings.catch_warnings``
    is process-global, so threads decoding at once (a prefetching run, two app tabs) take turns here.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    action = "error" if pillow_limit is None or max_decode_pixels <= pillow_limit else "ignore"
    with _WARNINGS_LOCK, pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        pywarnings.simplefilter(action, Image.DecompressionBombWarning)  # type: ignore[arg-type]
        yield
    for item in caught:
        logger.debug("pillow: %s", item.message)


# ---------------------------------------------------------------- plugins


def _ftyp_kind(data: bytes) -> str | None:
    """'heif', 'avif', 'video' for ISO-BMFF files (ftyp box), else None."""
    if data[4:8] != b"ftyp":
        return None
    box_end = min(int.from_bytes(data[0:4], "big"), 256)
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, max(16, box_end), 4)}
    if brands & AVIF_BRANDS:
        return "avif"
    if brands & HEIF_BRANDS:
        return "heif"
    return "video"


def _register_heif() -> bool:
    """Import pillow-heif and register its opener once; False when it is not installed."""
    global _heif_registered
    try:
        # lazy: pillow-heif is optional and only needed once a HEIC/HEIF file shows up
        import pillow_heif
    except ImportError:
        return False
    if not _heif_registered:
        pillow_heif.register_heif_opener()
        _heif_registered = True
    return True


def _pillow_has_avif() -> bool:
    try:
        return bool(features.check("avif"))
    except Exception:  # noqa: BLE001 - old Pillow without the feature name
        return False


def _avif_available() -> bool:
    """Pillow's own AVIF (>= 11.3 wheels), or the AVIF opener of an old pillow-heif (< 1.0)."""
    if _pillow_has_avif():
        return True
    try:
        # lazy: optional package, and only an old pillow-heif (< 1.0) still has an AVIF opener
        from pillow_heif import register_avif_opener  # type: ignore[attr-defined]
    except ImportError:
        return False
    register_avif_opener()
    return True


def plugin_problem(data: bytes) -> str | None:
    """Register the plugin the data needs; a warning text when it is missing."""
    kind = _ftyp_kind(data)
    if kind == "heif" and not _register_heif():
        return HEIF_MISSING
    if kind == "avif" and not _avif_available():
        return AVIF_MISSING
    return None


# ---------------------------------------------------------------- what went wrong


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)
    return printable / len(head) >= 0.95


def sniff_non_image(data: bytes) -> str:
    """Say what ``data`` (which Pillow could not identify) looks like."""
    head = data[:1024]
    lower = head.lstrip().lower()
    if head.startswith(b"%PDF"):
        return "not an image: looks like a PDF"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "not an image: looks like a zip archive (give the .zip path to read the images inside)"
    kind = _ftyp_kind(data)
    if kind in ("heif", "avif"):
        return f"{kind.upper()} image that could not be decoded (corrupt or an unsupported variant)"
    if kind == "video":
        return "not an image: looks like a video (MP4/MOV)"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "JPEG XL image: not supported here; convert it to JPEG or PNG"
    if b"<svg" in lower:
        return "SVG vector image: not supported; export it as PNG or JPEG"
    if lower.startswith((b"<!doctype html", b"<html")):
        return "not an image: looks like a web page (HTML), perhaps a failed download"
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            return f"truncated or corrupt image data (a {fmt} file whose header cannot be read)"
    if _looks_like_text(head):
        return "not an image: looks like a text file"
    return f"not a recognised image format (file starts with {head[:8].hex(' ')})"


def describe_read_error(exc: BaseException) -> str:
    """A user-facing sentence for an error raised while reading a file's bytes."""
    if isinstance(exc, RefusedFileError):
        return exc.strerror
    if isinstance(exc, FileNotFoundError):
        return "file disappeared before it could be read"
    if isinstance(exc, PermissionError):
        return "permission denied: the file cannot be read"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not an image file"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return f"file too large: {exc.strerror}"
    if isinstance(exc, OSError):
        return f"could not read the file ({exc.strerror or exc})"
    return f"could not read the file ({type(exc).__name__}: {exc})"


def describe_decode_error(exc: BaseException, data: bytes) -> str:
    """A user-facing sentence for an error raised while opening or decoding image data."""
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        match = re.search(r"\((\d+) pixels\)", str(exc))
        claimed = f" ({int(match.group(1)) / 1e6:.0f} MP)" if match else ""
        return f"refused: image claims too many pixels{claimed} to decode safely (possible decompression bomb)"
    if isinstance(exc, UnidentifiedImageError):
        return sniff_non_image(data)
    message = str(exc)
    if isinstance(exc, EOFError) or "truncated" in message.lower():
        return "truncated image data: the file ends early (incomplete download or copy?)"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode this image"
    return f"corrupt image data ({type(exc).__name__}: {message})"
