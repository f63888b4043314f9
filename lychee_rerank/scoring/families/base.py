"""A model family: its authors' published recipe behind one interface.

A family says how a (query, document) conversation is laid out, how a score is read
from the model (its scorer class), how images are cut (its :class:`~lychee_rerank.geometry.Geometry`),
its default pixel budget and instruction, which query/document shapes it supports, and
the published checkpoints (for ``lychee-rerank models``). Knowledge of a family lives in
its own module only; the rest of the package asks the Family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...errors import UnsupportedTaskError
from ...geometry import QWEN2_VL, QWEN3_VL, Geometry
from ..prompts import task_instruction

if TYPE_CHECKING:
    from ..base import Scorer

# The image geometry of each architecture we can load (config.json's model_type).
ARCHITECTURE_GEOMETRY: dict[str, Geometry] = {"qwen2_vl": QWEN2_VL, "qwen2_5_vl": QWEN2_VL, "qwen3_vl": QWEN3_VL}
ALL_SHAPES = frozenset(
    (query, document) for query in ("text", "image", "image+text") for document in ("text", "image", "image+text")
)


@dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint of a family: what ``lychee-rerank models`` lists."""

    hub_id: str
    parameters: str  # as its model card gives it, e.g. "8.3B"
    architecture: str  # the published shape's name in benchmarks/model_shapes.py (GPU memory from it)
    licence: str


@dataclass(frozen=True)
class Family:
    """One family's recipe; see the module docstring."""

    name: str
    title: str
    model_types: tuple[str, ...]
    scorer: type[Scorer]  # its judge; generate mode always uses GenerateScorer
    judge: bool = True  # False: a plain Instruct model, scored in generate mode unless told otherwise
    max_tokens: int | None = 1280  # default max_pixels = max_tokens × factor²; None: the processor's own budget
    instruction: str | None = None  # the default instruction for every shape; None: the task's (TASK_INSTRUCTIONS)
    shapes: frozenset[tuple[str, str]] = ALL_SHAPES  # (query kind, document kind) pairs it can score
    sizing: str | None = None  # overrides the architecture's recipe sizing (MonoQwen2-VL: as-is)
    max_length: int | None = None  # tokens before the generation prompt; longer inputs are cut (Qwen3-VL-Reranker)
    checkpoints: tuple[Checkpoint, ...] = ()
    summary: str = ""

    def geometry(self, model_type: str) -> Geometry:
        """The architecture's patch × merge geometry, with this family's recipe sizing."""
        geometry = ARCHITECTURE_GEOMETRY.get(model_type, QWEN2_VL)
        return replace(geometry, sizing=self.sizing) if self.sizing else geometry

    def default_pixels(self, model_type: str, processor: Any) -> tuple[int, int]:
        """(min_pixels, max_pixels) when neither the user nor the model folder gives them."""
        geometry = self.geometry(model_type)
        if self.max_tokens is None:  # the processor's own bounds, as the family's recipe leaves them
            size = getattr(processor.image_processor, "size", None) or {}
            return int(size.get("shortest_edge", geometry.min_pixels)), int(size.get("longest_edge", 0)) or (
                16384 * geometry.factor**2)
        return geometry.min_pixels, self.max_tokens * geometry.factor**2

    def default_instruction(self, query_kind: str, document_kind: str) -> str:
        return self.instruction or task_instruction(query_kind, document_kind)

    def check_shape(self, query_kind: str, document_kinds: set[str]) -> None:
        """Refuse, before any model work, a query/document shape this family's recipe does not define."""
        for document_kind in sorted(document_kinds):
            if (query_kind, document_kind) not in self.shapes:
                supported = ", ".join(f"{q}→{d}" for q, d in sorted(self.shapes))
                raise UnsupportedTaskError(
                    f"{self.title} cannot score a {query_kind} query against {document_kind} documents; "
                    f"it supports {supported}. Use another model (e.g. lychee-rerank-mm) for this task"
                )

    @property
    def modalities(self) -> str:
        """The supported shapes, for listings."""
        if self.shapes == ALL_SHAPES:
            return "text/image/both → text/image/both"
        return ", ".join(f"{q}→{d}" for q, d in sorted(self.shapes))
