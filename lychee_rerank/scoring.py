"""Turn (query, images) batches into scores: preprocess, forward, postprocess.

yes/no mode is lychee-rerank-mm's recipe (10 * p(yes) at the last position);
generate mode asks a plain Instruct model for a score and parses its answer.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .prompts import generate_messages, yesno_messages
from .results import PARSE_FAILED, PARSE_YESNO
from .score_parser import parse_score

logger = logging.getLogger(__name__)

MODE_AUTO, MODE_YESNO, MODE_GENERATE = "auto", "yesno", "generate"
MODES = (MODE_AUTO, MODE_YESNO, MODE_GENERATE)
GENERATE_MAX_NEW_TOKENS = 24
NAN_WARNING = (
    "the model produced NaN/inf logits (float16 overflow is typical for Qwen2.5-VL): "
    "this image got the lowest score; use dtype bfloat16 or float32"
)


@dataclass(frozen=True)
class Score:
    """What the model said about one image."""

    score: float
    raw_output: str
    parse_method: str
    p_yes: float | None = None
    p_no: float | None = None
    warning: str | None = None


def single_token_id(tokenizer: Any, word: str) -> int | None:
    """The id of ``word`` when the tokenizer encodes it as exactly one token."""
    ids = tokenizer.encode(word, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def is_reranker(config: Any, name: str) -> bool:
    """A yes/no reranker says so in its config (ours) or its name (lychee-rerank-mm, *-Reranker)."""
    if getattr(config, "lychee_reranker", None):
        return True
    return "rerank" in name.lower() or "rerank" in str(getattr(config, "_name_or_path", "")).lower()


def choose_mode(mode: str, config: Any, tokenizer: Any, name: str) -> str:
    """auto -> yesno for rerankers whose tokenizer has single yes/no tokens, generate otherwise."""
    if mode not in MODES:
        from .errors import InvalidSettingError

        raise InvalidSettingError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    if mode != MODE_AUTO:
        return mode
    has_tokens = single_token_id(tokenizer, "yes") is not None and single_token_id(tokenizer, "no") is not None
    return MODE_YESNO if has_tokens and is_reranker(config, name) else MODE_GENERATE


class Scorer:
    """Shared preprocessing: chat template, processor, left-padded batch on the model's device."""

    mode = ""

    def __init__(self, model: Any, processor: Any):
        self.model = model
        self.processor = processor

    def messages(self, query: str, image: Image.Image, instruction: str | None) -> list[dict]:
        raise NotImplementedError

    def preprocess(self, query: str, images: list[Image.Image], instruction: str | None = None) -> Any:
        texts = [
            self.processor.apply_chat_template(
                self.messages(query, image, instruction), tokenize=False, add_generation_prompt=True
            )
            for image in images
        ]
        batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        return batch.to(self.model.device)

    def score(self, query: str, images: list[Image.Image], instruction: str | None = None) -> list[Score]:
        inputs = self.preprocess(query, images, instruction)
        with torch.inference_mode():
            outputs = self.forward(inputs)
        return self.postprocess(outputs)

    def forward(self, inputs: Any) -> Any:
        raise NotImplementedError

    def postprocess(self, outputs: Any) -> list[Score]:
        raise NotImplementedError


class YesNoScorer(Scorer):
    """score = 10 * softmax([logit_no, logit_yes])[1] at the last position."""

    mode = MODE_YESNO

    def __init__(self, model: Any, processor: Any):
        super().__init__(model, processor)
        tokenizer = processor.tokenizer
        self.yes_id = single_token_id(tokenizer, "yes")
        self.no_id = single_token_id(tokenizer, "no")
        if self.yes_id is None or self.no_id is None:
            from .errors import UnsupportedModelError

            raise UnsupportedModelError(
                "this tokenizer has no single 'yes'/'no' tokens, so yes/no scoring cannot work; use mode='generate'"
            )

    def messages(self, query: str, image: Image.Image, instruction: str | None) -> list[dict]:
        return yesno_messages(query, image, instruction)

    def forward(self, inputs: Any) -> torch.Tensor:
        # logits_to_keep=1: only the last position's logits, never the full [batch, seq, vocab].
        logits = self.model(**inputs, logits_to_keep=1).logits[:, -1, :]
        return logits[:, [self.no_id, self.yes_id]].float().cpu()

    def postprocess(self, outputs: torch.Tensor) -> list[Score]:
        return [self._one(row) for row in outputs]

    def _one(self, pair: torch.Tensor) -> Score:
        if not torch.isfinite(pair).all():
            return Score(0.0, f"logits no/yes = {pair.tolist()}", PARSE_FAILED, warning=NAN_WARNING)
        p_no, p_yes = torch.softmax(pair, dim=-1).tolist()
        raw = f"p(yes)={p_yes:.4f}, p(no)={p_no:.4f}"
        return Score(round(10.0 * p_yes, 4), raw, PARSE_YESNO, p_yes=p_yes, p_no=p_no)


class GenerateScorer(Scorer):
    """A short greedy answer, read by the tolerant parser."""

    mode = MODE_GENERATE

    def __init__(self, model: Any, processor: Any, max_new_tokens: int = GENERATE_MAX_NEW_TOKENS):
        super().__init__(model, processor)
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = 0  # benchmarks force full-length answers so early EOS cannot flatter timing

    def messages(self, query: str, image: Image.Image, instruction: str | None) -> list[dict]:
        return generate_messages(query, image, instruction)

    def forward(self, inputs: Any) -> list[str]:
        tokenizer = self.processor.tokenizer
        generated = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=self.min_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = generated[:, inputs["input_ids"].shape[1] :]
        return self.processor.batch_decode(new_tokens, skip_special_tokens=True)

    def postprocess(self, outputs: list[str]) -> list[Score]:
        scores = []
        for text in outputs:
            parsed = parse_score(text)
            warning = None if parsed.method != "none" else "no score found in the model's answer; scored 0.0"
            scores.append(Score(parsed.score if math.isfinite(parsed.score) else 0.0, text, parsed.method, warning=warning))
        return scores


def make_scorer(mode: str, model: Any, processor: Any) -> Scorer:
    """The scorer for a resolved mode."""
    if mode == MODE_YESNO:
        return YesNoScorer(model, processor)
    return GenerateScorer(model, processor)
