"""Held-out ranking tasks for the demo reranker, scored through the product's own ``Reranker.rank``.

Task ``t`` with seed ``E`` is drawn from ``Random(scenes.EVAL_SEED_BASE + E * 100_000 + t)``:
one query (English, Chinese or mixed), 12 candidate scenes, exactly one matching;
among the 11 others 3 share the colour (other shape) and 3 share the shape (other colour).
Training never draws from these seeds (see ``scenes``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..reranker import Reranker
from ..settings import DEMO_MODEL_DIR
from . import scenes

logger = logging.getLogger(__name__)


@dataclass
class EvalResult:
    tasks: int
    top1: float
    top3: float
    by_language: dict[str, float] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)


def eval_tasks(n: int, seed: int = 0, candidates: int = 12) -> list[tuple[str, list[scenes.Scene], int]]:
    """The held-out tasks: (query, scenes, index of the matching scene)."""
    seeds = (scenes.EVAL_SEED_BASE + seed * 100_000 + t for t in range(n))
    return [scenes.ranking_task(random.Random(task_seed), candidates) for task_seed in seeds]


def _language(query: str) -> str:
    has_han = any("\u4e00" <= ch <= "\u9fff" for ch in query)
    has_latin = any("a" <= ch.lower() <= "z" for ch in query)
    return "mixed" if has_han and has_latin else "zh" if has_han else "en"


def evaluate(
    model: str | Path = DEMO_MODEL_DIR, tasks: int = 200, seed: int = 0, batch_size: int = 12, reranker: Any = None
) -> EvalResult:
    """Top-1 / top-3 accuracy of ``Reranker.from_pretrained(model).rank`` on held-out tasks."""
    reranker = reranker or Reranker.from_pretrained(str(model), device="cpu", dtype="float32", batch_size=batch_size)
    top1 = top3 = 0
    per_lang: dict[str, list[int]] = {}
    failures = []
    for t, (query, task_scenes, target) in enumerate(eval_tasks(tasks, seed)):
        images = [(f"{i:02d}_{s.colour}_{s.shape}.png", s.draw()) for i, s in enumerate(task_scenes)]
        ranking = reranker.rank(query, [image for _, image in images])
        order = [r.index for r in ranking]
        position = order.index(target)
        top1 += position == 0
        top3 += position < 3
        per_lang.setdefault(_language(query), []).append(int(position == 0))
        if position != 0:
            failures.append({"task": t, "query": query, "target": task_scenes[target].label,
                             "top": task_scenes[order[0]].label, "position": position + 1})
        if (t + 1) % 50 == 0:
            logger.info("%d/%d tasks: top-1 %.3f", t + 1, tasks, top1 / (t + 1))
    by_language = {lang: sum(v) / len(v) for lang, v in sorted(per_lang.items())}
    return EvalResult(tasks, top1 / tasks, top3 / tasks, by_language, failures)
