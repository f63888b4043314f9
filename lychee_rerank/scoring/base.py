"""What every scorer shares: a Score, and the preprocess → forward → postprocess stages.

A scorer turns one batch of (query, document) pairs into scores with one loaded
model; a query and each document are :class:`~.prompts.Content` (an image, a text,
or both), so every modality goes through the same stages. They follow
transformers' pipelines: ``preprocess`` builds the chat messages, renders the
chat template and runs the processor (left padding,
the scorer's pixel budget, tensors on the model's device); ``forward`` only runs
the model; ``postprocess`` turns the model's output into :class:`Score` objects.
Each Score carries ``scored_size``: the size of the document image the model saw,
read from the processor's ``image_grid_thw`` (times the family's patch size: 14 px for
Qwen2/2.5-VL, 16 px for Qwen3-VL), never our intention.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import torch
from PIL import Image

from ..geometry import QWEN2_VL, SIZE_FETCH_BUDGET, Geometry
from ..settings import DEFAULT_MAX_PIXELS, MIN_PIXELS
from .prompts import Content
from .vision_cache import VisionCache, with_cached_features

Pair = Content | str | Image.Image  # one side of a (query, document) pair, or its shorthand
_LOCKS_GUARD = threading.Lock()


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
    reuses_features = False  # True where one forward pass per batch lets cached vision features stand in

    def __init__(
        self, model: Any, processor: Any, *, min_pixels: int = MIN_PIXELS, max_pixels: int = DEFAULT_MAX_PIXELS,
        geometry: Geometry = QWEN2_VL,
    ):
        self.model = model
        self.processor = processor
        self.geometry = geometry
        # Passed with every call, so variants with other budgets can share one loaded processor. Where the
        # recipe's fetch_image already applied the budget (Qwen3-VL-Reranker), the processor must not resize again.
        if geometry.sizing == SIZE_FETCH_BUDGET:
            self.resize: dict[str, Any] = {"do_resize": False}
        else:
            self.resize = {"size": {"shortest_edge": min_pixels, "longest_edge": max_pixels}}
        self.vision_cache: VisionCache | None = None  # set by the Reranker; None computes every image
        self.cache_tag = (str(getattr(model, "name_or_path", "")), str(getattr(model, "dtype", "")))
        self.tokenizer_lock = tokenizer_lock(processor)

    @classmethod
    def has_answer_tokens(cls, tokenizer: Any) -> bool:
        """Whether ``tokenizer`` has the tokens this scorer reads its score from (generate mode reads text)."""
        return True

    @abstractmethod
    def messages(self, query: Content, document: Content, instruction: str | None) -> list[dict]:
        """The chat conversation for one (query, document) pair."""

    @abstractmethod
    def forward(self, inputs: Any) -> Any:
        """Run the model on a preprocessed batch (and nothing else)."""

    @abstractmethod
    def postprocess(self, outputs: Any) -> list[Score]:
        """One Score per row of ``forward``'s output."""

    def preprocess(
        self, query: Pair, documents: list[Pair], instruction: str | None = None, *, on_device: bool = True
    ) -> Any:
        """Chat template + processor for a batch, left-padded, on the model's device.

        Each sample's images go to the processor in the order they appear in its
        messages (the query's, then the document's), which is how ``image_grid_thw``'s rows line up.
        ``on_device=False`` leaves the batch in host memory (pinned when the model is on a GPU), for
        :meth:`score_inputs` to copy without blocking: how a run prepares batches ahead on a worker thread.
        """
        query, documents = as_content(query), [as_content(d) for d in documents]
        texts = [
            self.processor.apply_chat_template(
                self.messages(query, document, instruction), tokenize=False, add_generation_prompt=True
            )
            for document in documents
        ]
        images = [c.image for d in documents for c in (query, d) if c.image is not None]
        with self.tokenizer_lock:
            batch = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt", **self.resize)
        batch = self.finish_batch(batch)
        if on_device:
            return batch.to(self.model.device)
        return _pinned(batch) if torch.device(self.model.device).type == "cuda" else batch

    def finish_batch(self, batch: Any) -> Any:
        """A family's last step on the processor's batch (Qwen3-VL-Reranker cuts rows at its max length)."""
        return batch

    def score(self, query: Pair, documents: list[Pair], instruction: str | None = None) -> list[Score]:
        """Score a batch of documents against ``query``: one Score per document, in order."""
        query, documents = as_content(query), [as_content(d) for d in documents]
        return self.score_inputs(self.preprocess(query, documents, instruction, on_device=False), query, documents)

    def score_inputs(self, inputs: Any, query: Pair, documents: list[Pair]) -> list[Score]:
        """Forward + postprocess a batch :meth:`preprocess` made for ``query`` and ``documents``."""
        query, documents = as_content(query), [as_content(d) for d in documents]
        inputs = inputs.to(self.model.device, non_blocking=True)
        with torch.inference_mode():
            outputs = self.forward(self._model_inputs(inputs, query, documents))
        sizes = document_sizes(inputs.get("image_grid_thw"), query, documents, self.geometry.patch_size)
        return [replace(score, scored_size=size) for score, size in zip(self.postprocess(outputs), sizes)]

    def _model_inputs(self, inputs: Any, query: Content, documents: list[Content]) -> Any:
        """The processor's batch, with cached vision features in place of pixels where the cache allows."""
        if self.vision_cache is None or not self.reuses_features or "pixel_values" not in inputs:
            return inputs
        keys = [c.key for d in documents for c in (query, d) if c.image is not None]
        return with_cached_features(self.model, inputs, keys, self.vision_cache, self.cache_tag)


def tokenizer_lock(processor: Any) -> threading.Lock:
    """One lock per processor: its Rust tokenizer refuses a second thread mid-call ("Already borrowed").

    A prefetching run tokenizes on a worker thread while the model thread may decode a generated answer.
    """
    with _LOCKS_GUARD:
        lock = getattr(processor, "_lychee_tokenizer_lock", None)
        if lock is None:
            lock = threading.Lock()
            processor._lychee_tokenizer_lock = lock
        return lock


def _pinned(batch: Any) -> Any:
    """The batch's tensors in page-locked memory, so the copy to the GPU can overlap other work."""
    for name, value in list(batch.items()):
        if isinstance(value, torch.Tensor):
            batch[name] = value.pin_memory()
    return batch


def as_content(item: Pair) -> Content:
    """A Content from a plain text or a bare image (the text→image shorthand of a query and its documents)."""
    if isinstance(item, Content):
        return item
    if isinstance(item, Image.Image):
        return Content(image=item)
    return Content(text=item)


def document_sizes(
    image_grid_thw: torch.Tensor | None, query: Content, documents: list[Content], patch_size: int
) -> list[tuple[int, int] | None]:
    """(width, height) in pixels of each document image the model saw (its grid of ``patch_size`` patches)."""
    rows = iter(image_grid_thw.tolist() if image_grid_thw is not None else [])
    sizes: list[tuple[int, int] | None] = []
    for document in documents:
        if query.image is not None:
            next(rows)  # the query image comes first in every sample
        if document.image is None:
            sizes.append(None)
            continue
        _, height, width = next(rows)
        sizes.append((int(width) * patch_size, int(height) * patch_size))
    return sizes
