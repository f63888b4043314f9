"""The one safe image decoder: every input becomes an RGB image the processor accepts, or a placeholder.

Steps of :func:`prepare_image` (each records what it did):

1. read the bytes (disk, zip member, upload); read errors become placeholders;
2. sniff plugin formats (HEIC/HEIF registers ``pillow-heif`` lazily, AVIF needs
   Pillow's own AVIF support) and open the header with an allow-list of
   formats (:mod:`.sniff`);
3. refuse decompression bombs from the header size, before any pixel is decoded;
4. decode, JPEGs with ``Image.draft`` so a 48 MP photo is decoded at 1/2..1/8 size
   (never below the pixel budget the model sees); a multi-frame file gives its first frame;
5. EXIF orientation, 8-bit, integer shrink, alpha on white, sRGB (:mod:`.colour`);
6. fit to a size the Qwen2.5-VL processor keeps unchanged (:mod:`.fit`); or, with
   ``recipe_sizing`` (what scoring uses), size an image that needs no geometric
   safety work exactly as the published recipe does and leave the pixel budget to
   the processor: then JPEG drafts and integer shrinks only apply above the
   recipe's own 16384-patch limit, so an ordinary photo is decoded at full size.

A PIL image passed in by the caller skips steps 1-4 and is never modified in place.
A bad input never raises: it becomes a grey placeholder (``failed=True``) whose
``warnings`` say what was wrong. ``digest`` identifies identical inputs (the
encoded bytes, or a given image's pixels).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
from dataclasses import dataclass, field

from PIL import Image

from ..geometry import QWEN2_VL, Geometry
from ..results import join_warnings
from ..settings import MAX_DECODE_PIXELS, MIN_PIXELS, RECIPE_MAX_PIXELS
from .colour import normalise_colour
from .fit import fit_to_processor, fit_with_report, needs_fitting, recipe_resize
from .generation import PNG_SIGNATURE, GenerationInfo, generation_from_pil, pillow_safe_png, read_generation, scan_png
from .inputs import ImageInput, bytes_digest, image_digest
from .sniff import describe_decode_error, describe_read_error, open_formats, pillow_warnings, plugin_problem

logger = logging.getLogger(__name__)

PLACEHOLDER_SIZE = (224, 224)
PLACEHOLDER_GREY = (128, 128, 128)
ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG", "AVIF"})


@dataclass(frozen=True)
class _Sizing:
    """How a decoded image is sized: fitted to the budget, or the recipe's way (budget left to the processor)."""

    max_pixels: int
    min_pixels: int
    recipe: bool
    geometry: Geometry = QWEN2_VL

    @property
    def decode_pixels(self) -> int:
        """Above this area JPEG drafts and integer shrinks apply: no reduction an ordinary image would notice."""
        return RECIPE_MAX_PIXELS if self.recipe else self.max_pixels


@dataclass
class PreparedImage:
    """A decoded image ready for the processor, with what happened on the way.

    ``warnings`` are human-readable problems (shown to the user); ``notes`` are
    neutral facts (resized, colour profile applied). ``original_size`` is the
    size the file declares, ``decoded_size`` the size actually decoded (smaller
    for JPEGs decoded with draft). ``image`` is what goes to the processor, which
    may resize it again to its pixel budget: the size the model saw comes from
    the processor's ``image_grid_thw`` (``RankResult.scored_size``).
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
    generation: GenerationInfo | None = None  # the prompt and settings a generated image carries

    @property
    def warning(self) -> str | None:
        """All warnings joined with '; ', or None."""
        return join_warnings(*self.warnings)

    @property
    def name(self) -> str:
        """The name the user knows this image by (file name, relative path, zip member)."""
        return self.source.name

    @property
    def path(self) -> str | None:
        """The disk path (``archive.zip!member`` for zip members), None for uploads and bytes."""
        return self.source.path


def prepare_image(
    source: ImageInput,
    *,
    max_pixels: int,
    min_pixels: int = MIN_PIXELS,
    max_decode_pixels: int = MAX_DECODE_PIXELS,
    recipe_sizing: bool = False,
    geometry: Geometry = QWEN2_VL,
) -> PreparedImage:
    """Decode ``source`` safely; never raises for a bad image (gives a placeholder with a warning).

    ``max_pixels``/``min_pixels`` bound the size given to the model; with
    ``recipe_sizing`` an image that needs no geometric safety work is sized as the
    published recipe sizes it instead (the processor then applies the bounds).
    ``max_decode_pixels`` refuses files whose header declares more pixels. ``geometry`` is the model
    family's (sides in multiples of its factor, and its recipe's sizing).
    """
    sizing = _Sizing(max_pixels, min_pixels, recipe_sizing, geometry)
    if source.problem is not None:
        return _placeholder(source, source.problem, sizing=sizing)
    if source.image is not None:
        return _prepare_given(source, sizing, max_decode_pixels)
    try:
        data = source.read_bytes()
    except Exception as exc:  # noqa: BLE001 - any read failure becomes a placeholder
        return _placeholder(source, describe_read_error(exc), sizing=sizing)
    digest = bytes_digest(data)
    if not data:
        return _placeholder(source, "file is empty (0 bytes)", digest, sizing=sizing)
    try:
        return _decode(source, data, digest, sizing, max_decode_pixels)
    except Exception as exc:  # noqa: BLE001 - any decoder failure must not end the run
        return _placeholder(source, describe_decode_error(exc, data), digest, sizing=sizing)


def _placeholder(source: ImageInput, reason: str, digest: str | None = None, *, sizing: _Sizing) -> PreparedImage:
    logger.info("%s: %s", source.name, reason)
    image = Image.new("RGB", PLACEHOLDER_SIZE, PLACEHOLDER_GREY)  # 224 px: a multiple of 28 and of 32
    if PLACEHOLDER_SIZE[0] * PLACEHOLDER_SIZE[1] > sizing.max_pixels:
        image = fit_to_processor(image, sizing.max_pixels, factor=sizing.geometry.factor)
    return PreparedImage(source, image, [reason], failed=True, digest=digest)


def _decode(source: ImageInput, data: bytes, digest: str, sizing: _Sizing, max_decode_pixels: int) -> PreparedImage:
    """Open, check and decode ``data``; exceptions are turned into placeholders by the caller."""
    problem = plugin_problem(data)
    if problem:
        return _placeholder(source, problem, digest, sizing=sizing)
    # Text chunks Pillow would refuse the whole image for (a zTXt over its limit) are left out of
    # what Pillow sees: a bad metadata chunk is a note, never a failed image.
    png = scan_png(data) if data.startswith(PNG_SIGNATURE) else None
    with pillow_warnings(max_decode_pixels):
        image = Image.open(io.BytesIO(pillow_safe_png(data, png) if png else data), formats=open_formats())
        original = image.size
        problem = _bomb_problem(original, max_decode_pixels)
        if problem:
            refused = _placeholder(source, problem, digest, sizing=sizing)
            refused.original_size, refused.format = original, image.format
            return refused
        frames = _frame_count(image)
        _draft_jpeg(image, above=sizing.decode_pixels, keep=sizing.max_pixels)
        image.load()
    prepared = PreparedImage(source, image, [], original_size=original, digest=digest, format=image.format)
    prepared.decoded_size = image.size
    _add_generation(prepared, read_generation(data, image, png=png))
    if image.size != original:
        prepared.notes.append(
            f"decoded at reduced size {image.width}×{image.height} (JPEG draft) from {original[0]}×{original[1]}"
        )
    return _finish(prepared, image, frames, owned=True, sizing=sizing)


def _prepare_given(source: ImageInput, sizing: _Sizing, max_decode_pixels: int) -> PreparedImage:
    """Prepare a PIL image the caller passed in (never modified in place)."""
    image = source.image
    assert image is not None
    problem = _bomb_problem(image.size, max_decode_pixels)
    if problem:
        return _placeholder(source, problem, sizing=sizing)
    try:
        with pillow_warnings(max_decode_pixels):
            frames = _frame_count(image)
            image.load()
        prepared = PreparedImage(
            source, image, [], original_size=image.size, digest=image_digest(image), format=image.format
        )
        prepared.decoded_size = image.size
        _add_generation(prepared, generation_from_pil(image))
        return _finish(prepared, image, frames, owned=False, sizing=sizing)
    except Exception as exc:  # noqa: BLE001 - a lazily loaded PIL image can still fail to decode
        return _placeholder(source, describe_decode_error(exc, b""), sizing=sizing)


def _finish(prepared: PreparedImage, image: Image.Image, frames: int, *, owned: bool, sizing: _Sizing) -> PreparedImage:
    """Orientation, colour and size normalisation of a decoded image."""
    if image.width < 1 or image.height < 1:
        reason = "image has zero width or height"
        return _placeholder(prepared.source, reason, prepared.digest, sizing=sizing)
    if frames > 1:  # phones' multi-picture JPEGs (depth maps, previews) are normal: a note, not a warning
        (prepared.notes if image.format == "MPO" else prepared.warnings).append(_frames_message(image.format, frames))
    image = normalise_colour(
        image, owned=owned, max_pixels=sizing.decode_pixels, notes=prepared.notes, warnings=prepared.warnings
    )
    factor = sizing.geometry.factor
    if sizing.recipe and not needs_fitting(image.size, factor):
        prepared.image = recipe_resize(
            image, sizing.geometry, min_pixels=sizing.min_pixels, max_pixels=sizing.max_pixels
        )
        return prepared
    image, problems, notes = fit_with_report(image, sizing.max_pixels, sizing.min_pixels, factor)
    prepared.warnings.extend(problems)
    prepared.notes.extend(notes)
    prepared.image = image
    return prepared


def _add_generation(prepared: PreparedImage, info: GenerationInfo | None) -> None:
    """Keep the generation info; what could not be read of it is a note (the image itself is fine)."""
    prepared.generation = info
    if info is not None:
        prepared.notes.extend(info.notes)


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


def _draft_jpeg(image: Image.Image, *, above: int, keep: int) -> None:
    """Let libjpeg decode a JPEG of more than ``above`` pixels at 1/2, 1/4 or 1/8 scale, keeping at least
    ``keep`` pixels (the budget the processor resizes to, so the model loses nothing)."""
    area = image.width * image.height
    if image.format not in ("JPEG", "MPO") or area <= above:
        return
    scale = math.sqrt(min(keep, area) / area)
    request = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    with contextlib.suppress(Exception):
        image.draft(None, request)
