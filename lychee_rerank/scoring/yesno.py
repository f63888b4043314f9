"""lychee-rerank-mm's own recipe: score = 10 × softmax([logit_no, logit_yes])[1] at the last position."""

from __future__ import annotations

from typing import Any

import torch

from ..errors import UnsupportedModelError
from ..settings import MODE_YESNO, PARSE_FAILED, PARSE_YESNO
from .base import Score, Scorer
from .prompts import Content, yesno_messages

NAN_WARNING = (
    "the model produced NaN/inf logits (float16 overflow is typical for Qwen2.5-VL): "
    "this image got the lowest score; use dtype bfloat16 or float32"
)


def single_token_id(tokenizer: Any, word: str) -> int | None:
    """The id of ``word`` when the tokenizer encodes it as exactly one token."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def yes_no_token_ids(tokenizer: Any) -> tuple[int, int]:
    """(id of "no", id of "yes"): the two logits the score is read from, in softmax order.

    Raises UnsupportedModelError when either word is not a single token.
    """
    no_id, yes_id = single_token_id(tokenizer, "no"), single_token_id(tokenizer, "yes")
    if yes_id is None or no_id is None:
        raise UnsupportedModelError(
            "this tokenizer has no single 'yes'/'no' tokens, so yes/no scoring cannot work; use mode='generate'"
        )
    return no_id, yes_id


class YesNoScorer(Scorer):
    """One forward pass; the judge's p("yes") against p("no") at the last position, × 10."""

    mode = MODE_YESNO
    reuses_features = True  # generate mode re-runs forward per token: it always sends pixels

    def __init__(self, model: Any, processor: Any, **budget: int):
        super().__init__(model, processor, **budget)
        # Looked up once at load, as Qwen's own rerankers do.
        self.no_id, self.yes_id = yes_no_token_ids(processor.tokenizer)

    @classmethod
    def has_answer_tokens(cls, tokenizer: Any) -> bool:
        return single_token_id(tokenizer, "yes") is not None and single_token_id(tokenizer, "no") is not None

    def messages(self, query: Content, document: Content, instruction: str | None) -> list[dict]:
        return yesno_messages(query, document, instruction)

    def forward(self, inputs: Any) -> torch.Tensor:
        # logits_to_keep=1: only the last position's logits, never the full [batch, seq, vocab];
        # use_cache=False: one pass, so no key/value cache is worth its memory.
        logits = self.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]
        return logits[:, [self.no_id, self.yes_id]].float().cpu()

    def postprocess(self, outputs: torch.Tensor) -> list[Score]:
        return [_score_pair(row) for row in outputs]


def _score_pair(pair: torch.Tensor) -> Score:
    if not torch.isfinite(pair).all():
        return Score(0.0, f"logits no/yes = {pair.tolist()}", PARSE_FAILED, warning=NAN_WARNING)
    p_no, p_yes = torch.softmax(pair, dim=-1).tolist()
    raw = f"p(yes)={p_yes:.4f}, p(no)={p_no:.4f}"
    return Score(round(10.0 * p_yes, 4), raw, PARSE_YESNO, p_yes=p_yes, p_no=p_no)
