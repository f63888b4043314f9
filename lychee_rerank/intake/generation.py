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
import json
import logging
import re
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, PngImagePlugin

from .comfy_graph import ComfyPrompt, read_comfy_graph
from .inputs import ImageInput

logger = logging.getLogger(__name__)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
WANTED_KEYS = ("parameters", "invokeai_metadata", "prompt")  # in the order they are preferred
MAX_TEXT_BYTES = 4 * 1024 * 1024  # one metadata text, compressed or not: a 10,000-node graph is ~2 MiB
MAX_PARAMETERS_CHARS = 256 * 1024  # A1111 text: a long prompt is a few KiB
MAX_USER_COMMENT_BYTES = 1024 * 1024
MAX_CHUNKS = 100_000  # chunks walked per file; a real PNG has a handful plus its IDATs
USER_COMMENT = 0x9286
EXIF_IFD = 0x8769
_UNICODE, _ASCII = b"UNICODE\x00", b"ASCII\x00\x00\x00"

# One "Key: value" pair of the A1111 settings line, matched only where a pair starts (see _settings_pairs).
_PAIR = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


@dataclass(frozen=True)
class GenerationInfo:
    """How an image was generated, as far as its file says.

    ``generator`` names the writer (``AUTOMATIC1111``, ``Forge``, ``ComfyUI``, ``InvokeAI``);
    ``prompt`` is None when the file has metadata but no readable positive prompt (``notes`` say why);
    ``settings`` holds the other settings (sampler, steps, CFG, model, size...) as text, in the
    writer's order.
    """

    generator: str
    prompt: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    settings: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def settings_dict(self) -> dict[str, str]:
        """The settings as a plain dict (for JSON)."""
        return dict(self.settings)


@dataclass
class PngTexts:
    """The text chunks of a PNG that matter here, and the byte ranges of chunks Pillow must not see."""

    texts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of whole chunks


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


def _unreadable(exc: Exception) -> GenerationInfo:
    return GenerationInfo(generator="unknown", notes=(f"generation metadata could not be read ({type(exc).__name__})",))


# ---------------------------------------------------------------- PNG


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
        return key, _decode_text(rest) if key in WANTED_KEYS else None, None
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
    return key, _decode_text(value) if latin else _utf8(value), None


def _key(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0][:79].decode("latin-1")


def _decode_text(raw: bytes) -> str:
    """tEXt/zTXt are Latin-1 by the standard, but some writers put UTF-8 there: UTF-8 when it is valid."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _utf8(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


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
    if not _settings_pairs(text.strip().rsplit("\n", 1)[-1]):
        return None  # a camera's or editor's comment, not generation parameters
    return parse_parameters(text)


def decode_user_comment(raw: bytes) -> str:
    """An EXIF UserComment: an 8-byte charset code (``UNICODE``, ``ASCII``, blank) and the text."""
    head, body = raw[:8], raw[8:]
    if head == _UNICODE:
        # piexif (A1111, Forge) writes UTF-16 big-endian; some tools write little-endian: the first
        # character of a prompt is almost always ASCII, so its zero byte tells the order.
        little = len(body) >= 2 and body[0] != 0 and body[1] == 0
        return body.decode("utf-16-le" if little else "utf-16-be", "replace")
    if head in (_ASCII, b"\0" * 8):
        return _decode_text(body)
    return _decode_text(raw)


# ---------------------------------------------------------------- AUTOMATIC1111 / Forge text


def parse_parameters(text: Any) -> GenerationInfo:
    """Parse A1111's infotext (prompt, ``Negative prompt:`` lines, the settings line) as its own reader does."""
    if not isinstance(text, str):
        return GenerationInfo(generator="AUTOMATIC1111", notes=("'parameters' text is not a string; not read",))
    notes: tuple[str, ...] = ()
    if len(text) > MAX_PARAMETERS_CHARS:
        return GenerationInfo(generator="AUTOMATIC1111",
                              notes=(f"'parameters' text of {len(text)} characters is too long to be generation "
                                     f"parameters (limit {MAX_PARAMETERS_CHARS}); not read",))
    *lines, last = text.strip().split("\n")
    pairs = _settings_pairs(last)
    if len(pairs) < 3:  # A1111's rule: fewer than three pairs and the last line is still prompt
        lines.append(last)
        pairs = []
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    negative = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative_lines if negative else prompt_lines).append(line)
    settings = dict(pairs)
    seed = _int(settings.pop("Seed", None))
    version = settings.get("Version", "")
    generator = "Forge" if version.startswith("f") else "AUTOMATIC1111"
    prompt = "\n".join(prompt_lines).strip() or None
    return GenerationInfo(generator=generator, prompt=prompt, negative_prompt="\n".join(negative_lines).strip() or None,
                          seed=seed, settings=tuple(settings.items()), notes=notes)


def _settings_pairs(line: str) -> list[tuple[str, str]]:
    """The ``Key: value`` pairs of a settings line, in linear time.

    A1111 runs ``re.findall`` over the line, which is quadratic on a long run of words without a
    colon; here a pair is only tried where one can start (the line start, after a comma), and a
    failed try skips to the next comma, which the pattern never crosses.
    """
    pairs: list[tuple[str, str]] = []
    position = 0
    while position < len(line):
        match = _PAIR.match(line, position)
        if match is None or match.end() == position:
            comma = line.find(",", position)
            if comma < 0:
                break
            position = comma + 1
            continue
        key, value = match.group(1).strip(), match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if not isinstance(value, str):
            value = str(value)
        pairs.append((key, value))
        position = match.end()
    return pairs


# ---------------------------------------------------------------- InvokeAI


def parse_invokeai(text: str) -> GenerationInfo:
    """InvokeAI's ``invokeai_metadata`` (its CoreMetadata model as JSON)."""
    data, problem = _json(text, "invokeai_metadata")
    if problem:
        return GenerationInfo(generator="InvokeAI", notes=(problem,))
    if not isinstance(data, dict):
        return GenerationInfo(generator="InvokeAI", notes=("'invokeai_metadata' is not a JSON object; not read",))
    notes: list[str] = []
    prompt = _text_field(data.get("positive_prompt"), "positive_prompt", notes)
    negative = _text_field(data.get("negative_prompt"), "negative_prompt", notes)
    settings: list[tuple[str, str]] = []
    model = data.get("model")
    if isinstance(model, dict) and isinstance(model.get("name"), str):
        settings.append(("Model", model["name"]))
    for key, label in (("generation_mode", "Mode"), ("scheduler", "Scheduler"), ("steps", "Steps"),
                       ("cfg_scale", "CFG scale")):
        if isinstance(data.get(key), (str, int, float)) and not isinstance(data.get(key), bool):
            settings.append((label, str(data[key])))
    width, height = data.get("width"), data.get("height")
    if isinstance(width, int) and isinstance(height, int):
        settings.append(("Size", f"{width}x{height}"))
    return GenerationInfo(generator="InvokeAI", prompt=prompt, negative_prompt=negative, seed=_int(data.get("seed")),
                          settings=tuple(settings), notes=tuple(notes))


# ---------------------------------------------------------------- ComfyUI


def parse_comfy(text: str) -> GenerationInfo:
    """ComfyUI's ``prompt`` chunk: the API graph, resolved by :mod:`.comfy_graph`."""
    data, problem = _json(text, "prompt")
    if problem:
        return GenerationInfo(generator="ComfyUI", notes=(problem,))
    resolved: ComfyPrompt = read_comfy_graph(data)
    return GenerationInfo(generator="ComfyUI", prompt=resolved.prompt, negative_prompt=resolved.negative,
                          seed=resolved.seed, settings=tuple(resolved.settings), notes=tuple(resolved.notes))


# ---------------------------------------------------------------- shared


def _json(text: str, name: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except RecursionError:
        return None, f"'{name}' JSON is nested too deeply; not read"
    except ValueError as exc:
        return None, f"'{name}' is not valid JSON ({exc.__class__.__name__}); not read"


def _text_field(value: Any, name: str, notes: list[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append(f"'{name}' is not text ({type(value).__name__}); not used")
        return None
    return value.strip() or None


def _int(value: Any) -> int | None:
    """A seed as an int: from an int, or text of digits; anything else is no seed."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,40}", value.strip()):
        return int(value.strip())
    return None


def generation_settings(info: GenerationInfo | None) -> Mapping[str, str]:
    """The settings of ``info`` as a dict (empty for None)."""
    return info.settings_dict if info is not None else {}
