"""lightonai/MonoQwen2-VL-v0.1 (a LoRA on Qwen2-VL-2B-Instruct), scored by its authors' recipe.

As AnswerDotAI/rerankers' MonoVLM ranker runs it: the image, then the text "Assert the
relevance of the previous image document to the following query, answer True or False.
The query is: {query}", no system message beyond the chat template's own; the RGB image goes
to the base model's processor as it is (its own pixel budget); the score is the softmax
over the last position's [False, True] logits, P(True). Text queries and image documents only.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import UnsupportedModelError
from ...geometry import SIZE_AS_IS
from ...settings import MODE_YESNO, PARSE_FAILED, PARSE_YESNO
from ..base import Score, Scorer
from ..prompts import Content
from ..yesno import NAN_WARNING
from .base import Checkpoint, Family

PROMPT = (
    "Assert the relevance of the previous image document to the following query, answer True or False. "
    "The query is: {query}"
)


def monoqwen_messages(query: Content, document: Content) -> list[dict[str, Any]]:
    """MonoQwen2-VL's conversation for one (text query, image) pair."""
    return [{"role": "user", "content": [
        {"type": "image", "image": document.image},
        {"type": "text", "text": PROMPT.format(query=query.text or "")},
    ]}]


class MonoQwenScorer(Scorer):
    """One forward pass; P(True) from the [False, True] logits at the last position, × 10."""

    mode = MODE_YESNO
    reuses_features = True

    def __init__(self, model: Any, processor: Any, **budget: Any):
        super().__init__(model, processor, **budget)
        if not self.has_answer_tokens(processor.tokenizer):
            raise UnsupportedModelError("this tokenizer has no 'True'/'False' tokens: it is not MonoQwen2-VL's")
        vocab = processor.tokenizer.get_vocab()
        self.false_id, self.true_id = vocab["False"], vocab["True"]  # the recipe's convert_tokens_to_ids

    @classmethod
    def has_answer_tokens(cls, tokenizer: Any) -> bool:
        vocab = tokenizer.get_vocab()
        return "True" in vocab and "False" in vocab

    def messages(self, query: Content, document: Content, instruction: str | None) -> list[dict]:
        return monoqwen_messages(query, document)

    def forward(self, inputs: Any) -> torch.Tensor:
        logits = self.model(**inputs, logits_to_keep=1, use_cache=False).logits[:, -1, :]
        return logits[:, [self.false_id, self.true_id]].float().cpu()

    def postprocess(self, outputs: torch.Tensor) -> list[Score]:
        return [_score(row) for row in outputs]


def _score(pair: torch.Tensor) -> Score:
    if not torch.isfinite(pair).all():
        return Score(0.0, f"logits False/True = {pair.tolist()}", PARSE_FAILED, warning=NAN_WARNING)
    p_false, p_true = torch.softmax(pair, dim=-1).tolist()
    raw = f"P(True)={p_true:.4f}, P(False)={p_false:.4f}"
    return Score(round(10.0 * p_true, 4), raw, PARSE_YESNO, p_yes=p_true, p_no=p_false)


FAMILY = Family(
    name="monoqwen2-vl",
    title="MonoQwen2-VL",
    model_types=("qwen2_vl",),
    scorer=MonoQwenScorer,
    max_tokens=None,  # the base model's processor applies its own budget
    sizing=SIZE_AS_IS,
    shapes=frozenset({("text", "image")}),
    checkpoints=(Checkpoint("lightonai/MonoQwen2-VL-v0.1", "2.2B (LoRA on Qwen2-VL-2B-Instruct)", "qwen2-vl-2b",
                            "apache-2.0"),),
    summary="image, then the assertion prompt; P(True) against P(False) (a LoRA adapter: needs peft)",
)
