"""What a generated image says about how it was made: prompt, negative prompt, seed and settings.

:func:`read_generation` reads the metadata the common Stable Diffusion front ends write:

* AUTOMATIC1111 / Forge: the PNG text chunk ``parameters`` (tEXt, zTXt or iTXt, as Pillow's
  ``PngInfo.add_text`` picks), or the same text in the EXIF ``UserComment`` of a JPEG or WebP
  (``UNICODE\\0`` + UTF-16, as ``piexif.helper.UserComment.dump(..., encoding="unicode")`` writes it).
  The text is the prompt, an optional ``Negative prompt: ...`` line, then a ``Steps: 20, Sampler: ...,
  Seed: 1, Size: 512x512, Model: ...`` line (values with ``,``, ``:`` or a newline JSON-quoted).
* ComfyUI: the PNG chunk ``prompt``, the API-format graph (:mod:`.comfy_graph` follows the
  sampler's ``positive``/``negative`` inputs to the text encoders). The ``workflow`` chunk (the
  editor's UI graph) is never read.
* InvokeAI: the PNG chunk ``invokeai_metadata`` (JSON: ``positive_prompt``, ``negative_prompt``,
  ``seed``, ``model``...).

The work is split: :mod:`.png_text` walks a PNG's chunks, :mod:`.sd_formats` parses each writer's text,
:mod:`.comfy_graph` resolves ComfyUI's graph; this module picks the container and puts them together.

Hostile files are expected: PNG chunks are walked on the raw bytes with caps on every chunk
(compressed and decompressed), JSON is size-capped before parsing, the settings line is parsed in
linear time, and nothing raises: a chunk that cannot be read becomes a note in
:attr:`GenerationInfo.notes`, never a failed image. :func:`pillow_safe_png` drops the text chunks
Pillow itself would refuse the whole image for (a zTXt over its 1 MiB limit), so such a file is
still ranked.

Why not the ``sd-parsers`` library: its ComfyUI parser needs the ``workflow`` UI graph (it raises
without one, and reads links from it), it has no size caps, and its extractors re-open the file with
Pillow; the three formats here are small enough to read directly, with the limits this app needs.
"""

from __future__ import annotations

import io
import logging

from PIL import Image

from .inputs import ImageInput
from .png_text import MAX_TEXT_BYTES, PNG_SIGNATURE, WANTED_KEYS, PngTexts, pillow_safe_png, scan_png
from .sd_formats import (
    GenerationInfo,
    decode_user_comment,
    parse_comfy,
    parse_invokeai,
    parse_parameters,
    settings_pairs,
)

__all__ = ["PNG_SIGNATURE", "GenerationInfo", "generation_from_pil", "generation_of", "pillow_safe_png",
           "read_generation", "scan_png"]

logger = logging.getLogger(__name__)

MAX_USER_COMMENT_BYTES = 1024 * 1024
USER_COMMENT = 0x9286
EXIF_IFD = 0x8769


def read_generation(
    data: bytes, image: Image.Image | None = None, *, png: PngTexts | None = None
) -> GenerationInfo | None:
    """The generation info in an encoded image, None when it has none; never raises.

    ``image`` is the same file already opened by Pillow (its EXIF is read from it); ``png`` a
    :func:`scan_png` result already made for these bytes.
    """
    try:
        if data.startswith(PNG_SIGNATURE):
            return _from_png(png if png is not None else scan_png(data), image)
        if data.startswith(b"\xff\xd8") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            return _from_exif(data, image)
        return None
    except Exception as exc:  # noqa: BLE001 - metadata never fails an image; a bug here becomes a note
        logger.debug("reading generation metadata failed", exc_info=True)
        return _unreadable(exc)


def generation_of(source: ImageInput) -> GenerationInfo | None:
    """Read the generation info of one input before it is decoded (to learn its prompt); never raises."""
    if source.problem is not None:
        return None
    if source.image is not None:
        return generation_from_pil(source.image)
    try:
        data = source.read_bytes()
    except Exception:  # noqa: BLE001 - an unreadable file is reported when it is decoded
        return None
    return read_generation(data)


def generation_from_pil(image: Image.Image) -> GenerationInfo | None:
    """The generation info of a PIL image the caller opened (its text chunks or EXIF); never raises."""
    try:
        texts = {key: value for key, value in image.info.items() if key in WANTED_KEYS and isinstance(value, str)}
        oversized = [key for key, value in texts.items() if len(value) > MAX_TEXT_BYTES]
        png = PngTexts(texts={k: v for k, v in texts.items() if k not in oversized},
                       notes=[f"PNG text chunk '{key}' not read: over the {MAX_TEXT_BYTES // 1024**2} MiB limit"
                              for key in oversized])
        if png.texts or png.notes:
            return _from_png(png, image)
        if image.format in ("JPEG", "MPO", "WEBP"):
            return _from_exif(b"", image)
        return None
    except Exception as exc:  # noqa: BLE001 - as read_generation
        logger.debug("reading generation metadata failed", exc_info=True)
        return _unreadable(exc)


def _unreadable(exc: Exception) -> GenerationInfo:
    return GenerationInfo(generator="unknown", notes=(f"generation metadata could not be read ({type(exc).__name__})",))

def _from_png(png: PngTexts, image: Image.Image | None) -> GenerationInfo | None:
    notes = tuple(png.notes)
    texts = png.texts
    if "parameters" in texts:
        return _with_notes(parse_parameters(texts["parameters"]), notes)
    if "invokeai_metadata" in texts:
        return _with_notes(parse_invokeai(texts["invokeai_metadata"]), notes)
    if "prompt" in texts:
        return _with_notes(parse_comfy(texts["prompt"]), notes)
    if notes:
        return GenerationInfo(generator="unknown", notes=notes)
    return None


def _with_notes(info: GenerationInfo | None, notes: tuple[str, ...]) -> GenerationInfo | None:
    if info is None:
        return GenerationInfo(generator="unknown", notes=notes) if notes else None
    return GenerationInfo(info.generator, info.prompt, info.negative_prompt, info.seed, info.settings,
                          notes + info.notes) if notes else info

# ---------------------------------------------------------------- JPEG / WebP EXIF


def _from_exif(data: bytes, image: Image.Image | None) -> GenerationInfo | None:
    if image is None:
        image = Image.open(io.BytesIO(data))  # header only: the pixels are never decoded here
    comment = image.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
    if comment is None:
        return None
    if not isinstance(comment, (bytes, str)):
        return GenerationInfo(generator="unknown", notes=("EXIF UserComment is not text; not read",))
    if len(comment) > MAX_USER_COMMENT_BYTES:
        return GenerationInfo(generator="unknown", notes=("EXIF UserComment over 1 MiB; not read",))
    text = decode_user_comment(comment) if isinstance(comment, bytes) else comment
    text = text.strip("\0")
    if not settings_pairs(text.strip().rsplit("\n", 1)[-1]):
        return None  # a camera's or editor's comment, not generation parameters
    return parse_parameters(text)
