"""vec-ai/lychee-rerank-mm (Qwen2.5-VL 7B): the judge prompt, p("yes") against p("no") (DESIGN.md §3)."""

from __future__ import annotations

from ..yesno import YesNoScorer
from .base import Checkpoint, Family

FAMILY = Family(
    name="lychee",
    title="lychee-rerank-mm",
    model_types=("qwen2_5_vl", "qwen2_vl"),
    scorer=YesNoScorer,
    max_tokens=1280,  # the published recipe's max_pixels = 1280·28²
    checkpoints=(
        Checkpoint("vec-ai/lychee-rerank-mm", "8.3B", "qwen2.5-vl-7b-arch", "see the model card"),
    ),
    summary="the judge prompt; 10 × p(yes) against p(no) at the last position",
)
