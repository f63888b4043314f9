"""A result's generation info for the page: the lines a card and the full-size view show, and a copyable text.

Labels go through the page's ``tr`` (keys ``gen_*`` in :mod:`.text`); values are the file's own text.
"""

from __future__ import annotations

from collections.abc import Callable

from ..results import RankResult

# Settings worth a line of their own, as A1111 names them (ComfyUI and InvokeAI are read into these names).
SHOWN_SETTINGS = (("Sampler", "gen_sampler"), ("Steps", "gen_steps"), ("CFG scale", "gen_cfg"),
                  ("Model", "gen_model"), ("Size", "gen_size"))


def generation_lines(result: RankResult, tr: Callable[[str], str]) -> list[tuple[str, str]]:
    """(label, value) pairs for what the image's file says: prompt, negative prompt, seed, settings, writer."""
    if not result.has_generation:
        return []
    settings = dict(result.generation)
    lines = [(tr("gen_prompt"), result.prompt), (tr("gen_negative"), result.negative_prompt),
             (tr("gen_seed"), None if result.seed is None else str(result.seed))]
    lines += [(tr(key), settings.get(name)) for name, key in SHOWN_SETTINGS]
    lines.append((tr("gen_generator"), result.generator))
    return [(label, value) for label, value in lines if value]


def generation_text(result: RankResult) -> str:
    """The generation info as A1111 writes it (prompt, ``Negative prompt:``, the settings line): paste-ready."""
    if not result.has_generation:
        return ""
    parts = [result.prompt or ""]
    if result.negative_prompt:
        parts.append(f"Negative prompt: {result.negative_prompt}")
    settings = dict(result.generation)
    if result.seed is not None:
        settings = {**settings, "Seed": str(result.seed)}
    if settings:
        parts.append(", ".join(f"{key}: {value}" for key, value in settings.items()))
    return "\n".join(part for part in parts if part)
