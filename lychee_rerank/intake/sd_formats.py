"""The three writers' formats as text: AUTOMATIC1111/Forge infotext, InvokeAI's JSON, ComfyUI's API graph.

Each parser takes the text a file carried and returns a :class:`GenerationInfo`; what it cannot read is a
note on it, never an exception. See :mod:`.generation` for where the texts come from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .comfy_graph import ComfyPrompt, read_comfy_graph

MAX_PARAMETERS_CHARS = 256 * 1024  # A1111 text: a long prompt is a few KiB
_UNICODE, _ASCII = b"UNICODE\x00", b"ASCII\x00\x00\x00"

# One "Key: value" pair of the A1111 settings line, matched only where a pair starts (see settings_pairs).
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


def decode_text(raw: bytes) -> str:
    """tEXt/zTXt are Latin-1 by the standard, but some writers put UTF-8 there: UTF-8 when it is valid."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")



def decode_user_comment(raw: bytes) -> str:
    """An EXIF UserComment: an 8-byte charset code (``UNICODE``, ``ASCII``, blank) and the text."""
    head, body = raw[:8], raw[8:]
    if head == _UNICODE:
        # piexif (A1111, Forge) writes UTF-16 big-endian; some tools write little-endian: the first
        # character of a prompt is almost always ASCII, so its zero byte tells the order.
        little = len(body) >= 2 and body[0] != 0 and body[1] == 0
        return body.decode("utf-16-le" if little else "utf-16-be", "replace")
    if head in (_ASCII, b"\0" * 8):
        return decode_text(body)
    return decode_text(raw)


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
    pairs = settings_pairs(last)
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


def settings_pairs(line: str) -> list[tuple[str, str]]:
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
