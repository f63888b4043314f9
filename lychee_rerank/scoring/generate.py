"""Plain Qwen2.5-VL-Instruct models: a short greedy answer, read by the tolerant parser."""

from __future__ import annotations

import math
from typing import Any

from ..settings import GENERATE_MAX_NEW_TOKENS, MODE_GENERATE, PARSE_NONE
from .base import Score, Scorer
from .prompts import Content, generate_messages
from .score_parser import parse_score

NO_SCORE_WARNING = "no score found in the model's answer; scored 0.0"


class GenerateScorer(Scorer):
    """Asks for a 0-10 score in words and parses the answer."""

    mode = MODE_GENERATE

    def __init__(self, model: Any, processor: Any, max_new_tokens: int = GENERATE_MAX_NEW_TOKENS, **budget: int):
        super().__init__(model, processor, **budget)
        self.max_new_tokens = max_new_tokens

    def messages(self, query: Content, document: Content, instruction: str | None) -> list[dict]:
        return generate_messages(query, document, instruction)

    def forward(self, inputs: Any) -> list[str]:
        generated = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.tokenizer.pad_token_id,
        )
        new_tokens = generated[:, inputs["input_ids"].shape[1] :]
        with self.tokenizer_lock:
            return self.processor.batch_decode(new_tokens, skip_special_tokens=True)

    def postprocess(self, outputs: list[str]) -> list[Score]:
        return [_score_answer(text) for text in outputs]


def _score_answer(text: str) -> Score:
    parsed = parse_score(text)
    warning = NO_SCORE_WARNING if parsed.method == PARSE_NONE else None
    value = parsed.score if math.isfinite(parsed.score) else 0.0
    return Score(value, text, parsed.method, warning=warning)
