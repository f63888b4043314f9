"""The demo model's report card: ranking tasks in every modality, on either renderer, at any canvas size.

Task ``t`` of a cell with seed ``E`` is drawn from
``Random(SUITE_SEED_BASE + E * 100_000 + t)``: the same seed gives the same
scenes at every canvas size, so the scale rows compare like with like. Training
draws below 10^9, the first evaluation from 10^9 + E * 10^5, so they never meet.
Every task goes through the product's own ``Reranker.rank`` / ``rank_texts``.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict, dataclass
from typing import Any

from ..reranker import Reranker
from . import heldout, tasks
from .augment import random_aug_scene

logger = logging.getLogger(__name__)

SUITE_SEED_BASE = 2_000_000_000
RENDERERS = {
    "heldout": lambda rng, target: heldout.random_heldout_scene(rng, *target),
    "training": lambda rng, target: random_aug_scene(rng, *target),
}
LANGUAGE_SETS = {"en": ["en"], "zh": ["zh"], "en+zh": ["en", "zh"]}


@dataclass(frozen=True)
class Cell:
    """One row of the report: a modality, its query languages, a renderer and a canvas size."""

    modality: str
    languages: str = "en+zh"
    renderer: str = "heldout"
    canvas: int = 300  # px; 0 = the training renderer's own random canvas


@dataclass
class CellResult:
    cell: Cell
    tasks: int
    top1: float
    top3: float
    seconds: float

    def row(self) -> dict[str, Any]:
        return {**asdict(self.cell), "tasks": self.tasks, "top1": round(self.top1, 3), "top3": round(self.top3, 3),
                "seconds": round(self.seconds, 1)}


def cell_task(cell: Cell, t: int, seed: int = 0) -> tasks.RankingTask:
    """Task ``t`` of ``cell`` (languages alternate task by task)."""
    languages = LANGUAGE_SETS[cell.languages]
    rng = random.Random(SUITE_SEED_BASE + seed * 100_000 + t)
    return tasks.ranking_task(rng, cell.modality, languages[t % len(languages)], RENDERERS[cell.renderer], cell.canvas)


def position_of_relevant(reranker: Any, task: tasks.RankingTask) -> int:
    """0-based rank the product gives the matching candidate."""
    rank = reranker.rank if tasks.DOCUMENT_KIND[task.modality] == "image" else reranker.rank_texts
    ranking = rank(task.query_text, task.candidates, query_image=task.query_image)
    return [r.index for r in ranking].index(task.relevant)


def run_cell(reranker: Any, cell: Cell, n: int, seed: int = 0) -> CellResult:
    """Top-1 / top-3 of ``reranker`` on ``n`` tasks of ``cell``."""
    start = time.time()
    # one task at a time: a 4000 px task holds 12 large images, never keep them all
    positions = [position_of_relevant(reranker, cell_task(cell, t, seed)) for t in range(n)]
    result = CellResult(cell, n, sum(p == 0 for p in positions) / n, sum(p < 3 for p in positions) / n,
                        time.time() - start)
    logger.info("%s: top-1 %.3f top-3 %.3f (%d tasks, %.0f s)", cell, result.top1, result.top3, n, result.seconds)
    return result


ACCEPTANCE = [
    Cell("text-image", "en"), Cell("text-image", "zh"), Cell("image-image"), Cell("image-text"), Cell("text-text"),
]
SCALE = [Cell("text-image", "en", canvas=c) for c in (56, 84, 300, 1000, 4000)]  # the same tasks at each size
TRAINING = [Cell(m, renderer="training", canvas=0) for m in tasks.MODALITIES]


def load(model: Any) -> Any:
    """The product's reranker on the CPU, as the report runs it (the model's declared pixel budget)."""
    return Reranker.from_pretrained(str(model), device="cpu", dtype="float32", batch_size=12)
