"""What every scorer shares: a Score, and the preprocess → forward → postprocess stages.

A scorer turns one batch of (query, image) pairs into scores with one loaded
model. Its three stages follow transformers' pipelines: ``preprocess`` builds the
chat messages, renders the chat template and runs the processor (left padding,
tensors on the model's device); ``forward`` only runs the model; ``postprocess``
turns the model's output into :class:`Score` objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image


@dataclass(frozen=True)
class Score:
    """What the model said about one image."""

    score: float
    raw_output: str
    parse_method: str
    p_yes: float | None = None
    p_no: float | None = None
    warning: str | None = None


class Scorer(ABC):
    """Scores batches of images against a query with one model and its processor."""

    mode = ""

    def __init__(self, model: Any, processor: Any):
        self.model = model
        self.processor = processor

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
        batch = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        return batch.to(self.model.device)

    def score(self, query: str, images: list[Image.Image], instruction: str | None = None) -> list[Score]:
        """Score a batch of images against ``query``: one Score per image, in order."""
        inputs = self.preprocess(query, images, instruction)
        with torch.inference_mode():
            outputs = self.forward(inputs)
        return self.postprocess(outputs)
