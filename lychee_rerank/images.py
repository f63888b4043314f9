"""The one safe image loader: every source becomes an RGB image the processor accepts, or a placeholder.

Pipeline of :func:`load_image` (each step records what it did):

1. read the bytes (disk, zip member, upload); read errors become placeholders;
2. sniff plugin formats (HEIC/HEIF registers ``pillow-heif`` lazily, AVIF needs
   Pillow's own AVIF support) and open the header with an allow-list of formats;
3. refuse decompression bombs from the header size, before any pixel is decoded;
4. decode, JPEGs with ``Image.draft`` so a 48 MP photo is decoded at 1/2..1/8 size;
5. EXIF orientation, 16-bit to 8-bit, a cheap integer shrink toward ``max_pixels``,
   alpha composited on white, embedded ICC profile converted to sRGB;
6. pad extreme aspect ratios, enlarge tiny images and resize to a size the
   Qwen2.5-VL processor keeps unchanged (sides multiple of 28, within pixel bounds).

A bad input never raises: it becomes a grey placeholder (``failed=True``) whose
``warnings`` say what was wrong.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import math
import re
import warnings as pywarnings
from dataclasses import dataclass, field
from typing import Iterator

from PIL import Image, ImageOps, UnidentifiedImageError, features
from qwen_vl_utils import smart_resize

from .sources import ImageInput

try:  # Pillow wheels ship littlecms; a source build may not
    from PIL import ImageCms
except ImportError:  # pragma: no cover - depends on the Pillow build
    ImageCms = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

PLACEHOLDER_SIZE = (224, 224)
PLACEHOLDER_GREY = (128, 128, 128)
WHITE = (255, 255, 255)

PATCH = 28  # Qwen2.5-VL: 14 px patches merged 2×2, so sides are multiples of 28
MIN_PIXELS = 56 * 56
MAX_ASPECT_RATIO = 200  # qwen_vl_utils / transformers smart_resize raise beyond this
PAD_ASPECT_RATIO = 100  # we pad to this, leaving room for rounding sides to 28
MAX_DECODE_PIXELS = 100_000_000  # header size above this is refused (decompression bomb)

# Formats we let Pillow try. Others (EPS runs Ghostscript, PDF, fonts, ...) are refused.
SAFE_FORMATS = (
    "JPEG", "PNG", "GIF", "WEBP", "BMP", "DIB", "TIFF", "HEIF", "AVIF",
    "ICO", "PPM", "PSD", "JPEG2000", "QOI",
)
ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG", "AVIF"})

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
HEIF_MISSING = "HEIC/HEIF image, but the pillow-heif package is not installed: pip install pillow-heif"
AVIF_MISSING = "AVIF image, but this Pillow cannot decode AVIF: pip install -U pillow (Pillow >= 11.3 reads AVIF)"

_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"8BPS", "PSD"),
)

_heif_registered = False


@dataclass
class LoadedImage:
    """A decoded image ready for the processor, with what happened on the way.

    ``warnings`` are human-readable problems (shown to the user); ``notes`` are
    neutral facts (resized, colour profile applied). ``original_size`` is the
    size the file declares, ``decoded_size`` the size actually decoded (smaller
    for JPEGs decoded with draft), ``scored_size`` the size given to the model.
    """

    source: ImageInput
    image: Image.Image
    warnings: list[str]
    failed: bool = False
    original_size: tuple[int, int] | None = None
    digest: str | None = None
    notes: list[str] = field(default_factory=list)
    format: str | None = None
    decoded_size: tuple[int, int] | None = None

    @property
    def warning(self) -> str | None:
        """All warnings joined with '; ', or None."""
        return "; ".join(self.warnings) or None

    @property
    def name(self) -> str:
        """The name the user knows this image by (file name, relative path, zip member)."""
        return self.source.name

    @property
    def path(self) -> str | None:
        """The disk path (``archive.zip!member`` for zip members), None for uploads and bytes."""
        return self.source.path

    @property
    def scored_size(self) -> tuple[int, int]:
        """(width, height) of the image the model sees."""
        return self.image.size


# ---------------------------------------------------------------- fitting


def fit_to_processor(image: Image.Image, max_pixels: int, min_pixels: int = MIN_PIXELS) -> Image.Image:
    """Resize to a size the Qwen2.5-VL processor keeps as is (sides multiple of 28, within pixel bounds).

    Tiny images are enlarged and extreme aspect ratios padded with white; never raises.
    """
    return _fit(image, max_pixels, min_pixels)[0]


def _fit(image: Image.Image, max_pixels: int, min_pixels: int) -> tuple[Image.Image, list[str], list[str]]:
    """Fit ``image`` for the processor; returns (image, warnings, notes)."""
    problems: list[str] = []
    notes: list[str] = []
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGB")
    width, height = image.size
    ratio = max(width, height) / min(width, height)
    if ratio > PAD_ASPECT_RATIO:
        image = _pad_to_ratio(_limit_long_side(image, max_pixels), PAD_ASPECT_RATIO)
        problems.append(
            f"extreme aspect ratio ({width}×{height}, {ratio:.0f}:1): padded with white to "
            f"{PAD_ASPECT_RATIO}:1 for the model"
        )
    if min(image.size) < PATCH:
        image = _enlarge_short_side(image, PATCH)
        problems.append(f"very small image ({width}×{height}): enlarged for the model; its score may be unreliable")
    target = _target_size(image.size, max_pixels, min_pixels)
    if target != image.size:
        if max(target) < max(image.size):
            notes.append(f"resized from {image.width}×{image.height} to {target[0]}×{target[1]}")
        image = image.resize(target, Image.Resampling.BICUBIC)
    return image, problems, notes


def _target_size(size: tuple[int, int], max_pixels: int, min_pixels: int) -> tuple[int, int]:
    """(width, height) for the model: smart_resize picks the short side, the long side keeps the aspect.

    smart_resize rounds both sides independently, which for a 100:1 strip can give 28×4452
    (159:1) or a 0 px side with a small max_pixels; here the long side follows the true
    aspect ratio and the processor's own limits (ratio <= 200, pixels <= max_pixels) hold.
    """
    width, height = size
    min_pixels = max(1, min(min_pixels, max_pixels))
    new_h, new_w = smart_resize(height, width, factor=PATCH, min_pixels=min_pixels, max_pixels=max(max_pixels, 1))
    short = max(PATCH, min(new_h, new_w, math.isqrt(max(max_pixels, 1)) // PATCH * PATCH))
    ratio = max(width, height) / min(width, height)
    room = max(PATCH, max_pixels // short // PATCH * PATCH)
    long = min(max(PATCH, round(short * ratio / PATCH) * PATCH), short * MAX_ASPECT_RATIO, room)
    return (long, short) if width >= height else (short, long)


def _limit_long_side(image: Image.Image, max_pixels: int) -> Image.Image:
    """Shrink a very long strip so that padding it to PAD_ASPECT_RATIO stays within max_pixels."""
    longest = max(PATCH, math.isqrt(max(max_pixels, 1) * PAD_ASPECT_RATIO))
    width, height = image.size
    if max(width, height) <= longest:
        return image
    scale = longest / max(width, height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(new, Image.Resampling.BICUBIC)


def _pad_to_ratio(image: Image.Image, ratio: int) -> Image.Image:
    """Pad the short side with white, centred, so that long/short <= ratio."""
    width, height = image.size
    if width >= height:
        size = (width, max(height, math.ceil(width / ratio)))
    else:
        size = (max(width, math.ceil(height / ratio)), height)
    canvas = Image.new(image.mode, size, "white")
    canvas.paste(image, ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas


def _enlarge_short_side(image: Image.Image, side: int) -> Image.Image:
    """Scale up, keeping the aspect ratio, so the short side is at least ``side`` pixels."""
    width, height = image.size
    scale = side / min(width, height)
    new = (max(side, math.ceil(width * scale)), max(side, math.ceil(height * scale)))
    return image.resize(new, Image.Resampling.BICUBIC)


# ---------------------------------------------------------------- loading


def load_image(
    source: ImageInput,
    *,
    max_pixels: int,
    min_pixels: int = MIN_PIXELS,
    max_decode_pixels: int = MAX_DECODE_PIXELS,
) -> LoadedImage:
    """Decode ``source`` safely; never raises for a bad image (gives a placeholder with a warning).

    ``max_pixels``/``min_pixels`` bound the size given to the model;
    ``max_decode_pixels`` refuses files whose header declares more pixels.
    """
    if source.problem is not None:
        return _placeholder(source, source.problem, max_pixels=max_pixels)
    if source.image is not None:
        return _load_given(source, max_pixels=max_pixels, min_pixels=min_pixels, max_decode_pixels=max_decode_pixels)
    try:
        data = source.read_bytes()
    except Exception as exc:  # noqa: BLE001 - any read failure becomes a placeholder
        return _placeholder(source, describe_read_error(exc), max_pixels=max_pixels)
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return _placeholder(source, "file is empty (0 bytes)", digest, max_pixels=max_pixels)
    try:
        return _decode(source, data, digest, max_pixels, min_pixels, max_decode_pixels)
    except Exception as exc:  # noqa: BLE001 - any decoder failure must not end the run
        return _placeholder(source, describe_decode_error(exc, data), digest, max_pixels=max_pixels)


def _placeholder(
    source: ImageInput, reason: str, digest: str | None = None, *, max_pixels: int | None = None
) -> LoadedImage:
    logger.info("%s: %s", source.name, reason)
    image = Image.new("RGB", PLACEHOLDER_SIZE, PLACEHOLDER_GREY)
    if max_pixels is not None and PLACEHOLDER_SIZE[0] * PLACEHOLDER_SIZE[1] > max_pixels:
        image = fit_to_processor(image, max_pixels)
    return LoadedImage(source, image, [reason], failed=True, digest=digest)


def _decode(
    source: ImageInput, data: bytes, digest: str, max_pixels: int, min_pixels: int, max_decode_pixels: int
) -> LoadedImage:
    """Open, check and decode ``data``; exceptions are turned into placeholders by the caller."""
    problem = _plugin_problem(data)
    if problem:
        return _placeholder(source, problem, digest, max_pixels=max_pixels)
    with _pillow_warnings(max_decode_pixels):
        image = Image.open(io.BytesIO(data), formats=_open_formats())
        original = image.size
        problem = _bomb_problem(original, max_decode_pixels)
        if problem:
            refused = _placeholder(source, problem, digest, max_pixels=max_pixels)
            refused.original_size, refused.format = original, image.format
            return refused
        frames = _frame_count(image)
        _draft_jpeg(image, max_pixels)
        image.load()
    loaded = LoadedImage(source, image, [], original_size=original, digest=digest, format=image.format)
    loaded.decoded_size = image.size
    if image.size != original:
        loaded.notes.append(f"JPEG decoded at reduced size {image.width}×{image.height} (draft)")
    return _finish(loaded, image, frames, owned=True, max_pixels=max_pixels, min_pixels=min_pixels)


def _load_given(source: ImageInput, *, max_pixels: int, min_pixels: int, max_decode_pixels: int) -> LoadedImage:
    """Prepare a PIL image the caller passed in (never modified in place)."""
    image = source.image
    assert image is not None
    problem = _bomb_problem(image.size, max_decode_pixels)
    if problem:
        return _placeholder(source, problem, max_pixels=max_pixels)
    try:
        with _pillow_warnings(max_decode_pixels):
            frames = _frame_count(image)
            image.load()
        digest = hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()
        loaded = LoadedImage(source, image, [], original_size=image.size, digest=digest, format=image.format)
        loaded.decoded_size = image.size
        return _finish(loaded, image, frames, owned=False, max_pixels=max_pixels, min_pixels=min_pixels)
    except Exception as exc:  # noqa: BLE001
        return _placeholder(source, describe_decode_error(exc, b""), max_pixels=max_pixels)


def _finish(
    loaded: LoadedImage, image: Image.Image, frames: int, *, owned: bool, max_pixels: int, min_pixels: int
) -> LoadedImage:
    """Orientation, colour and size normalisation of a decoded image."""
    if image.width < 1 or image.height < 1:
        return _placeholder(loaded.source, "image has zero width or height", loaded.digest, max_pixels=max_pixels)
    if frames > 1:  # phones' multi-picture JPEGs (depth maps, previews) are normal: a note, not a warning
        (loaded.notes if image.format == "MPO" else loaded.warnings).append(_frames_message(image.format, frames))
    icc = image.info.get("icc_profile")
    image = _upright(image, owned, loaded)
    image = _normalize_mode(image, loaded)
    image = _shrink(image, max_pixels)
    image = _flatten_alpha(image)
    image = _to_srgb(image, icc, loaded)
    image, problems, notes = _fit(image, max_pixels, min_pixels)
    loaded.warnings.extend(problems)
    loaded.notes.extend(notes)
    loaded.image = image
    return loaded


@contextlib.contextmanager
def _pillow_warnings(max_decode_pixels: int) -> Iterator[None]:
    """Local warning policy: DecompressionBombWarning is an error unless the caller allowed more pixels.

    Other Pillow warnings (corrupt EXIF...) are logged, not printed.
    Note: ``warnings.catch_warnings`` is process-global, not thread-safe.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    action = "error" if pillow_limit is None or max_decode_pixels <= pillow_limit else "ignore"
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always")
        pywarnings.simplefilter(action, Image.DecompressionBombWarning)  # type: ignore[arg-type]
        yield
    for item in caught:
        logger.debug("pillow: %s", item.message)


def _open_formats() -> tuple[str, ...]:
    """SAFE_FORMATS that are registered in this Pillow (Image.open fails on unknown names)."""
    Image.init()
    return tuple(name for name in SAFE_FORMATS if name in Image.OPEN)


def _bomb_problem(size: tuple[int, int], limit: int) -> str | None:
    width, height = size
    if width * height <= limit:
        return None
    return (
        f"refused: image claims {width}×{height} pixels ({width * height / 1e6:.0f} MP), over the "
        f"{limit / 1e6:.0f} MP safety limit (possible decompression bomb)"
    )


def _frame_count(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a broken later frame does not stop the first one
        with contextlib.suppress(Exception):
            image.seek(0)
        return 1


def _frames_message(fmt: str | None, frames: int) -> str:
    if fmt in ANIMATED_FORMATS:
        return f"animated image ({frames} frames): only the first frame was scored"
    if fmt == "MPO":
        return f"multi-picture JPEG ({frames} pictures): only the main picture was scored"
    return f"file holds {frames} images/pages: only the first was scored"


def _draft_jpeg(image: Image.Image, max_pixels: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the photo is larger than needed."""
    if image.format not in ("JPEG", "MPO") or image.width * image.height <= max_pixels:
        return
    scale = math.sqrt(max_pixels / (image.width * image.height))
    request = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    with contextlib.suppress(Exception):
        image.draft(None, request)


def _upright(image: Image.Image, owned: bool, loaded: LoadedImage) -> Image.Image:
    """Apply the EXIF orientation (a failure is a warning, not a placeholder)."""
    try:
        orientation = image.getexif().get(0x0112, 1)
        if orientation not in range(2, 9):
            return image
        if owned:
            ImageOps.exif_transpose(image, in_place=True)
        else:
            image = ImageOps.exif_transpose(image)
        loaded.notes.append(f"rotated upright (EXIF orientation {orientation})")
    except Exception as exc:  # noqa: BLE001
        loaded.warnings.append(f"could not apply the EXIF orientation ({exc}); the image may be rotated")
    return image


def _normalize_mode(image: Image.Image, loaded: LoadedImage) -> Image.Image:
    """Bring any mode to L, LA, RGB, RGBA or CMYK (alpha kept, 16-bit scaled to 8-bit)."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return image
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode.startswith("I") or mode == "F":
        loaded.notes.append(f"{'16-bit' if mode.startswith('I;16') else mode + ' mode'} image scaled to 8-bit")
        return _to_8bit(image)
    if mode == "LAB" and ImageCms is not None:
        lab, srgb = ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(image, lab, srgb, outputMode="RGB")  # type: ignore[return-value]
    if mode == "1":
        return image.convert("L")
    return image.convert("RGBA" if "A" in mode or "a" in mode else "RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8-bit L without clipping to white."""
    if image.mode != "F":
        image = image.convert("I")
    low, high = image.getextrema()
    if image.mode == "I" and low >= 0 and high <= 65535:
        scale, offset = 1 / 256, 0.0  # 16-bit data: 32768 -> 128
    elif image.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    else:
        span = (high - low) or 1
        scale, offset = 255 / span, -low * 255 / span
    return image.point(lambda value: value * scale + offset).convert("L")


def _shrink(image: Image.Image, max_pixels: int) -> Image.Image:
    """Cheap integer box reduction toward max_pixels before colour work (fit does the exact resize)."""
    factor = math.isqrt(image.width * image.height // max(max_pixels, 1))
    if factor < 2:
        return image
    return image.reduce(factor)


def _flatten_alpha(image: Image.Image) -> Image.Image:
    """Composite transparency on white; returns L, RGB or CMYK."""
    if image.mode in ("L", "RGB") and "transparency" in image.info:
        image = image.convert(image.mode + "A")
    if image.mode not in ("LA", "RGBA"):
        return image
    base_mode = image.mode[:-1]
    canvas = Image.new(base_mode, image.size, "white")
    canvas.paste(image.convert(base_mode), mask=image.getchannel("A"))
    return canvas


_PROFILE_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}


def _to_srgb(image: Image.Image, icc: bytes | None, loaded: LoadedImage) -> Image.Image:
    """Convert with the embedded ICC profile to sRGB when there is one, else plain convert to RGB."""
    if icc and ImageCms is not None:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = _PROFILE_MODES.get(profile.profile.xcolor_space.strip())
            if space == image.mode:
                converted = ImageCms.profileToProfile(image, profile, ImageCms.createProfile("sRGB"), outputMode="RGB")
                description = ImageCms.getProfileDescription(profile).strip() or "embedded"
                loaded.notes.append(f"colours converted from the {description!r} profile to sRGB")
                return converted  # type: ignore[return-value]
            loaded.notes.append(f"ignored a {profile.profile.xcolor_space.strip()} colour profile on {image.mode} data")
        except Exception as exc:  # noqa: BLE001 - a broken profile only costs colour accuracy
            loaded.warnings.append(f"embedded colour profile could not be applied ({exc}); colours may be off")
    if image.mode == "CMYK" and not icc:
        loaded.notes.append("CMYK image converted to RGB without a colour profile; colours are approximate")
    return image if image.mode == "RGB" else image.convert("RGB")


# ---------------------------------------------------------------- plugins and sniffing


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
        from pillow_heif import register_avif_opener  # type: ignore[attr-defined]
    except ImportError:
        return False
    register_avif_opener()
    return True


def _plugin_problem(data: bytes) -> str | None:
    """Register the plugin the data needs; a warning text when it is missing."""
    kind = _ftyp_kind(data)
    if kind == "heif" and not _register_heif():
        return HEIF_MISSING
    if kind == "avif" and not _avif_available():
        return AVIF_MISSING
    return None


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
