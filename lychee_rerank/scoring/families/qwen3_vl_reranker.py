"""Qwen/Qwen3-VL-Reranker-2B/-8B, scored by Qwen's own recipe (QwenLM/Qwen3-VL-Embedding).

The conversation is lychee's judge layout with each side's images before its text and an
empty side written as ``NULL``; images are sized by ``qwen_vl_utils`` with 16 px patches
within 4·32²..1800·32² pixels and the processor does not resize again; inputs longer than
10,240 tokens (before the 5-token generation prompt) keep every special token (so every
image) and their first ordinary tokens. The score is sigmoid(h · (W[yes] − W[no])), h the
language model's last hidden state at the last position and W the LM head, in the
model's dtype: no vocabulary-sized logits are made.
"""

from __future__ import annotations

from typing import Any

import torch

from ...settings import MODE_YESNO, PARSE_FAILED, PARSE_YESNO
from ..base import Score, Scorer
from ..prompts import JUDGE_SYSTEM_PROMPT, Content
from ..yesno import NAN_WARNING, YesNoScorer, yes_no_token_ids
from .base import Checkpoint, Family

DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
MAX_LENGTH = 10_240
PROMPT_TAIL = 5  # <|im_end|> \n <|im_start|> assistant \n: never cut
TRUNCATED = "lychee_truncated"  # the batch key that marks rows cut at MAX_LENGTH (not a model input)
TRUNCATED_WARNING = f"the input was longer than the model's {MAX_LENGTH:,} tokens: its text was cut"
ROW_TENSORS = ("input_ids", "attention_mask", "mm_token_type_ids")


def qwen3_messages(query: Content, document: Content, instruction: str) -> list[dict[str, Any]]:
    """Qwen3-VL-Reranker's conversation for one pair."""
    return [
        {"role": "system", "content": [{"type": "text", "text": JUDGE_SYSTEM_PROMPT}]},
        {"role": "user", "content": [
            {"type": "text", "text": f"<Instruct>: {instruction}"},
            *_side("<Query>:", query),
            *_side("\n<Document>:", document),
        ]},
    ]


def _side(prefix: str, content: Content) -> list[dict[str, Any]]:
    parts = content.parts()  # image first, then text: the recipe's order
    return [{"type": "text", "text": prefix}, *(parts or [{"type": "text", "text": "NULL"}])]


def keep_mask(row: list[int], special: set[int], max_length: int = MAX_LENGTH) -> list[bool]:
    """Which tokens of an unpadded row the recipe keeps: all when short enough; else every special
    token before the generation prompt and the first ordinary ones, up to ``max_length``, then the prompt."""
    head = row[:-PROMPT_TAIL]
    if len(head) <= max_length:
        return [True] * len(row)
    budget = max_length - sum(1 for token in head if token in special)
    keep = []
    for token in head:
        ordinary = token not in special
        keep.append(not ordinary or budget > 0)
        budget -= ordinary
    return keep + [True] * PROMPT_TAIL


class Qwen3RerankerScorer(Scorer):
    """One pass of the language model; the yes-minus-no head on its last hidden state."""

    mode = MODE_YESNO
    reuses_features = True

    def __init__(self, model: Any, processor: Any, **budget: Any):
        super().__init__(model, processor, **budget)
        no_id, yes_id = yes_no_token_ids(processor.tokenizer)
        weights = model.get_output_embeddings().weight
        # Computed once, in the weights' dtype, as the recipe's score head is.
        self.head = (weights[yes_id] - weights[no_id]).detach().unsqueeze(0)
        self.special = set(processor.tokenizer.all_special_ids)

    has_answer_tokens = YesNoScorer.has_answer_tokens  # the same single "yes"/"no" tokens

    def messages(self, query: Content, document: Content, instruction: str | None) -> list[dict]:
        return qwen3_messages(query, document, instruction or DEFAULT_INSTRUCTION)

    def finish_batch(self, batch: Any) -> Any:
        """Rows over MAX_LENGTH cut as the recipe cuts them, then left-padded again."""
        mask = batch["attention_mask"].bool()
        rows = [ids[m].tolist() for ids, m in zip(batch["input_ids"], mask)]
        keeps = [keep_mask(row, self.special) for row in rows]
        truncated = torch.tensor([not all(keep) for keep in keeps])
        if truncated.any():
            width = max(sum(keep) for keep in keeps)
            for name in ROW_TENSORS:
                if name in batch:
                    batch[name] = _repad(batch[name], mask, keeps, width, self._pad_value(name))
        batch[TRUNCATED] = truncated
        return batch

    def _pad_value(self, name: str) -> int:
        return int(self.processor.tokenizer.pad_token_id) if name == "input_ids" else 0

    def forward(self, inputs: Any) -> tuple[torch.Tensor, list[bool]]:
        inputs = dict(inputs)
        truncated = inputs.pop(TRUNCATED, None)
        hidden = self.model.model(**inputs, use_cache=False).last_hidden_state[:, -1]
        head = self.head.to(hidden.device, hidden.dtype)
        probability = torch.sigmoid(torch.nn.functional.linear(hidden, head)).squeeze(-1)
        flags = truncated.tolist() if truncated is not None else [False] * len(probability)
        return probability.float().cpu(), flags

    def postprocess(self, outputs: tuple[torch.Tensor, list[bool]]) -> list[Score]:
        probabilities, truncated = outputs
        return [_score(p, cut) for p, cut in zip(probabilities.tolist(), truncated)]


def _repad(values: torch.Tensor, mask: torch.Tensor, keeps: list[list[bool]], width: int, pad: int) -> torch.Tensor:
    out = torch.full((len(keeps), width), pad, dtype=values.dtype)
    for i, keep in enumerate(keeps):
        kept = values[i][mask[i]][torch.tensor(keep)]
        out[i, width - len(kept):] = kept
    return out


def _score(p_yes: float, truncated: bool) -> Score:
    if p_yes != p_yes or p_yes in (float("inf"), float("-inf")):  # NaN/inf: float16 overflow
        return Score(0.0, f"p(yes)={p_yes}", PARSE_FAILED, warning=NAN_WARNING)
    raw = f"p(yes)={p_yes:.4f}, p(no)={1 - p_yes:.4f}"
    return Score(round(10.0 * p_yes, 4), raw, PARSE_YESNO, p_yes=p_yes, p_no=1 - p_yes,
                 warning=TRUNCATED_WARNING if truncated else None)


FAMILY = Family(
    name="qwen3-vl-reranker",
    title="Qwen3-VL-Reranker",
    model_types=("qwen3_vl",),
    scorer=Qwen3RerankerScorer,
    max_tokens=1800,  # the recipe's max_pixels = 1800·32²
    instruction=DEFAULT_INSTRUCTION,
    max_length=MAX_LENGTH,
    checkpoints=(
        Checkpoint("Qwen/Qwen3-VL-Reranker-2B", "2B", "qwen3-vl-reranker-2b", "apache-2.0"),
        Checkpoint("Qwen/Qwen3-VL-Reranker-8B", "8B", "qwen3-vl-reranker-8b", "apache-2.0"),
    ),
    summary="the judge prompt; sigmoid of the yes-minus-no head on the last hidden state",
)
