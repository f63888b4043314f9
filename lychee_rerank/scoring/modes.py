"""Which scoring mode a model gets: its family's judge for rerankers, generate for plain Instruct models."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidSettingError
from ..geometry import Geometry
from ..settings import MODE_AUTO, MODE_GENERATE, MODE_YESNO, MODES
from .base import Scorer
from .families import Family
from .generate import GenerateScorer


def choose_mode(mode: str, family: Family, tokenizer: Any) -> str:
    """auto -> the family's judge (yesno) when the tokenizer has its answer tokens; generate otherwise."""
    if mode not in MODES:
        raise InvalidSettingError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if mode != MODE_AUTO:
        return mode
    return MODE_YESNO if family.judge and family.scorer.has_answer_tokens(tokenizer) else MODE_GENERATE


def make_scorer(
    mode: str, family: Family, model: Any, processor: Any, *, min_pixels: int, max_pixels: int, geometry: Geometry
) -> Scorer:
    """The scorer for a resolved mode (``yesno``: the family's judge; ``generate``) with its pixel budget."""
    scorer = family.scorer if mode == MODE_YESNO else GenerateScorer
    return scorer(model, processor, min_pixels=min_pixels, max_pixels=max_pixels, geometry=geometry)
