"""Plain Qwen2-VL / Qwen2.5-VL / Qwen3-VL Instruct models: they write a score in words (generate mode)."""

from __future__ import annotations

from ..yesno import YesNoScorer
from .base import Checkpoint, Family

FAMILY = Family(
    name="instruct",
    title="Qwen-VL Instruct",
    model_types=("qwen2_5_vl", "qwen2_vl", "qwen3_vl"),
    scorer=YesNoScorer,  # only with mode="yesno": lychee's judge prompt on a model not trained for it
    judge=False,
    max_tokens=1280,
    checkpoints=(  # examples: any Qwen2-VL / Qwen2.5-VL / Qwen3-VL Instruct checkpoint runs
        Checkpoint("Qwen/Qwen2.5-VL-7B-Instruct", "8.3B", "qwen2.5-vl-7b-arch", "apache-2.0"),
        Checkpoint("Qwen/Qwen3-VL-8B-Instruct", "8.8B", "qwen3-vl-reranker-8b", "apache-2.0"),
    ),
    summary="asks for a 0-10 score and reads it with the tolerant parser (generate mode)",
)
