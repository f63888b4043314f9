"""Which scoring mode a model gets: yes/no for rerankers, generate for plain Instruct models."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidSettingError
from ..settings import MODE_AUTO, MODE_GENERATE, MODE_YESNO, MODES
from .base import Scorer
from .generate import GenerateScorer
from .yesno import YesNoScorer, single_token_id


def is_reranker(config: Any, name: str) -> bool:
    """A yes/no reranker says so in its config (ours) or its name (lychee-rerank-mm, *-Reranker)."""
    if getattr(config, "lychee_reranker", None):
        return True
    return "rerank" in name.lower() or "rerank" in str(getattr(config, "_name_or_path", "")).lower()


def choose_mode(mode: str, config: Any, tokenizer: Any, name: str) -> str:
    """auto -> yesno for rerankers whose tokenizer has single yes/no tokens, generate otherwise."""
    if mode not in MODES:
        raise InvalidSettingError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if mode != MODE_AUTO:
        return mode
    has_tokens = single_token_id(tokenizer, "yes") is not None and single_token_id(tokenizer, "no") is not None
    return MODE_YESNO if has_tokens and is_reranker(config, name) else MODE_GENERATE


def make_scorer(mode: str, model: Any, processor: Any, *, min_pixels: int, max_pixels: int) -> Scorer:
    """The scorer for a resolved mode (``yesno`` or ``generate``) with its pixel budget."""
    if mode == MODE_YESNO:
        return YesNoScorer(model, processor, min_pixels=min_pixels, max_pixels=max_pixels)
    return GenerateScorer(model, processor, min_pixels=min_pixels, max_pixels=max_pixels)
