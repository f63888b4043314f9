"""What every scorer shares: a Score, and the preprocess → forward → postprocess stages.

A scorer turns one batch of (query, image) pairs into scores with one loaded
model. Its three stages follow transformers' pipelines: ``preprocess`` builds the
chat messages, renders the chat template and runs the processor (left padding,
the scorer's pixel budget, tensors on the model's device); ``forward`` only runs
the model; ``postprocess`` turns the model's output into :class:`Score` objects.
Each Score carries ``scored_size``: the size the model saw, read from the
processor's ``image_grid_thw`` (patches of 14 px), never our intention.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from ..settings import DEFAULT_MAX_PIXELS, MIN_PIXELS, PATCH_SIZE


@dataclass(frozen=True)
class Score:
    """What the model said about one image."""

    score: float
    raw_output: str
    parse_method: str
    p_yes: float | None = None
    p_no: float | None = None
    warning: str | None = None
    scored_size: tuple[int, int] | None = None  # (width, height) the model saw


class Scorer(ABC):
    """Scores batches of images against a query with one model and its processor."""

    mode = ""

    def __init__(
        self, model: Any, processor: Any, *, min_pixels: int = MIN_PIXELS, max_pixels: int = DEFAULT_MAX_PIXELS
    ):
        self.model = model
        self.processor = processor
        # Passed with every call, so variants with other budgets can share one loaded processor.
        self.size = {"shortest_edge": min_pixels, "longest_edge": max_pixels}

    @abstractmethod
    def messages(self, query: str, image: Image.Image, instruction: str | None) -> list[dict]:
        """The chat conversation for one (query, image) pair."""

    @abstractmethod
    def forward(self, inputs: Any) -> Any:
        """Run the model on a preprocessed batch (and nothing else)."""

    @abstractmethod
    def postprocess(self, outputs: Any) -> list[Score]:
        """One Score per row of ``forward``'s output."""

    def preprocess(self, query: str, images: list[Image.Image], instruction: str | None = None) -> Any:
        """Chat template + processor for a batch, left-padded, on the model's device."""
        texts = [
            self.processor.apply_chat_template(
                self.messages(query, image, instruction), tokenize=False, add_generation_prompt=True
            )
            for image in images
        ]
        batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt", size=self.size)
        return batch.to(self.model.device)

    def score(self, query: str, images: list[Image.Image], instruction: str | None = None) -> list[Score]:
        """Score a batch of images against ``query``: one Score per image, in order."""
        inputs = self.preprocess(query, images, instruction)
        with torch.inference_mode():
            outputs = self.forward(inputs)
        sizes = seen_sizes(inputs["image_grid_thw"])
        return [replace(score, scored_size=size) for score, size in zip(self.postprocess(outputs), sizes)]


def seen_sizes(image_grid_thw: torch.Tensor) -> list[tuple[int, int]]:
    """(width, height) in pixels of each image the model saw: its grid of 14-px patches."""
    return [(int(w) * PATCH_SIZE, int(h) * PATCH_SIZE) for _, h, w in image_grid_thw.tolist()]
