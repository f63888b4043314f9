"""One run through the model: documents planned by size, prepared ahead, scored in batches, retried on OOM.

The Reranker hands each :class:`~.run.Run` to a :class:`RunExecutor`, which

1. plans the order: with more than one document per batch they are sorted by visual-token
   count, read from image headers (:func:`~.intake.header_size`), so each batch holds images
   of similar size and little of it is padding; with batches of one, input order;
2. prepares batches ahead of the model on a worker thread
   (:class:`~.runtime.prefetch.Prefetcher`): decode and resize each document, set failures and
   duplicates aside, run the chat template and processor (host memory, pinned on a GPU);
3. scores each batch on the calling thread and records every result as it comes. An
   out-of-memory error splits the batch in halves (and halves an auto batch's token budget);
   a single image is retried at a quarter of its pixels.

Every document is recorded exactly once, whatever fails; ``should_stop`` is polled between batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .intake import DocumentInput, ImageInput, PreparedImage, fit_to_processor, header_size, visual_tokens
from .results import join_warnings
from .run import Prepared, Run
from .runtime.batching import PROMPT_TOKENS, BatchPolicy
from .runtime.prefetch import Prefetcher
from .runtime.reclaim import MemoryReclaimer
from .scoring.base import Score, Scorer
from .settings import PARSE_FAILED, PATCH_FACTOR, PREFETCH_BATCHES

logger = logging.getLogger(__name__)

OOM_RETRY_PIXEL_FACTOR = 4  # retry an image that ran out of memory at a quarter of the pixels


@dataclass
class ReadyBatch:
    """One batch as the worker thread leaves it: what to score (with the processor's output) and what not."""

    scored: list[tuple[int, Prepared]] = field(default_factory=list)
    failed: list[tuple[int, Prepared]] = field(default_factory=list)
    duplicates: list[tuple[int, Prepared, int]] = field(default_factory=list)  # (index, prepared, first index)
    inputs: Any = None
    problem: str | None = None  # the processor failed on the batch: each document is then tried alone


@dataclass
class RunStats:
    """How a run used the model: batches, tokens and how many of them were padding."""

    pipelined: bool
    ordered: bool
    batches: int = 0
    tokens: int = 0
    padding_tokens: int = 0
    stopped: bool = False
    failure: Exception | None = None  # what ended the run early; the results before it are kept

    def count(self, inputs: Any) -> None:
        mask = inputs.get("attention_mask")
        if mask is not None:
            self.batches += 1
            self.tokens += mask.numel()
            self.padding_tokens += mask.numel() - int(mask.sum())

    def as_dict(self) -> dict[str, Any]:
        padding = self.padding_tokens / self.tokens if self.tokens else 0.0
        return {"pipelined": self.pipelined, "ordered_by_size": self.ordered, "batches": self.batches,
                "tokens": self.tokens, "padding_tokens": self.padding_tokens, "padding_fraction": padding,
                "stopped": self.stopped, "error": None if self.failure is None else describe_failure(self.failure)}


def describe_failure(exc: BaseException) -> str:
    """One line for an unexpected error: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


class RunExecutor:
    """Runs documents through one scorer: plan, prepare ahead, score, retry; see the module docstring."""

    def __init__(
        self, scorer: Scorer, policy: BatchPolicy, prepare: Callable[[ImageInput], PreparedImage],
        pixels: tuple[int, int], prefetch: int = PREFETCH_BATCHES, reclaimer: MemoryReclaimer | None = None,
        order_by_size: bool = True, factor: int = PATCH_FACTOR, prepare_nice: int = 0,
    ):
        self.scorer = scorer
        self.factor = factor  # the family's patch × merge: sides are multiples of it
        self.order_by_size = order_by_size
        self.policy = policy
        self.prepare = prepare
        self.min_pixels, self.max_pixels = pixels
        self.prefetch = prefetch
        self.prepare_nice = prepare_nice  # the preparing thread gives way to the model's (runtime.threads)
        self.reclaimer = reclaimer or MemoryReclaimer()

    def execute(self, run: Run, should_stop: Callable[[], bool] | None = None) -> RunStats:
        """Score ``run``'s documents, recording each result in ``run``; stopped runs leave the rest unrecorded."""
        ordered = self.order_by_size and (self.policy.auto or self.policy.size > 1)
        stats = RunStats(pipelined=self.prefetch > 0, ordered=ordered)
        costs = self._costs(run) if ordered else [0] * len(run.documents)
        order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
        batches = (self._prepare_batch(run, indices) for indices in self.policy.batches(order, costs.__getitem__))
        with Prefetcher(batches, self.prefetch, should_stop=should_stop, nice=self.prepare_nice) as ready:
            pending = iter(ready)
            while True:
                if should_stop is not None and should_stop():
                    stats.stopped = True
                    break
                try:
                    batch = next(pending, None)
                    if batch is None:
                        stats.stopped = ready.stopped  # stopped while waiting for a batch
                        break
                    self._record(run, batch, stats)
                except Exception as exc:  # noqa: BLE001 - the caller reports it in one line; the results so far stay
                    logger.debug("failed after %d of %d documents", len(run.results), len(run.documents), exc_info=True)
                    stats.failure = exc
                    break
        if stats.stopped:
            logger.info("stopped after %d of %d documents", len(run.results), len(run.documents))
        return stats

    # ------------------------------------------------------------ planning (calling thread)

    def _costs(self, run: Run) -> list[int]:
        """Tokens each document adds to a batch: its image's visual tokens, the query's, the prompt and text."""
        query = self._image_tokens(run.query.image.size) if run.query.image is not None else 0
        return [query + PROMPT_TOKENS + self._document_tokens(document) for document in run.documents]

    def _document_tokens(self, document: DocumentInput) -> int:
        text = len(document.text or "") // 2  # a rough token count: cheaper than tokenizing twice
        if document.source is None:
            return text
        return text + self._image_tokens(header_size(document.source))

    def _image_tokens(self, size: tuple[int, int] | None) -> int:
        if size is None or min(size) < 1:
            return self.max_pixels // (self.factor * self.factor)  # unknown: planned as the largest
        return visual_tokens(size, self.max_pixels, self.min_pixels, self.factor)

    # ------------------------------------------------------------ preparing (worker thread)

    def _prepare_batch(self, run: Run, indices: list[int]) -> ReadyBatch:
        batch = ReadyBatch()
        for index in indices:
            prepared = self._prepare_document(run.documents[index])
            first = run.first_by_digest.get(prepared.digest) if prepared.digest else None
            if prepared.failed:
                batch.failed.append((index, prepared))
            elif first is not None:
                batch.duplicates.append((index, prepared, first))
            else:
                if prepared.digest:
                    run.first_by_digest[prepared.digest] = index
                batch.scored.append((index, prepared))
        if batch.scored:
            contents = [prepared.content() for _, prepared in batch.scored]
            try:
                batch.inputs = self.scorer.preprocess(run.query, contents, run.instruction, on_device=False)
            except Exception as exc:  # noqa: BLE001 - becomes each document's warning, never the run's end
                logger.warning("the processor failed on a batch of %d (%s); trying each alone", len(contents), exc)
                batch.problem = f"{type(exc).__name__}: {exc}"
        return batch

    def _prepare_document(self, document: DocumentInput) -> Prepared:
        try:
            return Prepared(document, self.prepare(document.source) if document.source is not None else None)
        except Exception as exc:  # noqa: BLE001 - intake never raises by design; if it does, only this document fails
            logger.exception("preparing %s failed", document.name)
            return Prepared(document, None, problem=f"could not be prepared ({type(exc).__name__}: {exc})")

    # ------------------------------------------------------------ scoring (calling thread)

    def _record(self, run: Run, batch: ReadyBatch, stats: RunStats) -> None:
        for index, prepared in batch.failed:
            run.record(run.result(index, prepared, Score(0.0, "", PARSE_FAILED)))
        if batch.scored:
            scores = self._score_ready(run, batch, stats)
            for (index, prepared), score in zip(batch.scored, scores):
                run.record(run.result(index, prepared, score))
        for index, prepared, first in batch.duplicates:
            run.record(run.duplicate(index, prepared, run.results[first]))

    def _score_ready(self, run: Run, batch: ReadyBatch, stats: RunStats) -> list[Score]:
        items = [prepared for _, prepared in batch.scored]
        if batch.problem is not None:
            return [self._score_alone(run, prepared) for prepared in items]
        stats.count(batch.inputs)
        contents = [prepared.content() for prepared in items]
        try:
            return self._forward(lambda: self.scorer.score_inputs(batch.inputs, run.query, contents))
        except torch.OutOfMemoryError:
            batch.inputs = None  # the failed batch's tensors go before the retry needs the memory
            self._after_oom(len(items))
        return self._split(run, items)

    def _score_documents(self, run: Run, items: list[Prepared]) -> list[Score]:
        contents = [prepared.content() for prepared in items]
        try:
            return self._forward(lambda: self.scorer.score(run.query, contents, run.instruction))
        except torch.OutOfMemoryError:
            self._after_oom(len(items))
        return self._split(run, items)

    def _split(self, run: Run, items: list[Prepared]) -> list[Score]:
        """After an out-of-memory error: each half on its own, down to single documents at a smaller size."""
        if len(items) == 1:
            return [self._retry_smaller(run, items[0])]
        half = len(items) // 2
        logger.warning("out of memory on a batch of %d; scoring it in halves", len(items))
        return self._score_documents(run, items[:half]) + self._score_documents(run, items[half:])

    def _score_alone(self, run: Run, prepared: Prepared) -> Score:
        try:
            return self._score_documents(run, [prepared])[0]
        except Exception as exc:  # noqa: BLE001 - the processor failed on its batch: this document gets the warning
            return Score(0.0, "", PARSE_FAILED, warning=f"could not be scored ({type(exc).__name__}: {exc})")

    def _retry_smaller(self, run: Run, prepared: Prepared) -> Score:
        if prepared.image is None:
            return Score(0.0, "", PARSE_FAILED, warning="out of memory scoring this text; not scored")
        image = prepared.image.image
        # Relative to the image's own size: a small image that ran out of memory at max_pixels is already below it.
        pixels = min(self.max_pixels, image.width * image.height)
        smaller = fit_to_processor(image, max(self.min_pixels, pixels // OOM_RETRY_PIXEL_FACTOR), self.min_pixels,
                                   self.factor)
        logger.warning("out of memory on %s; retrying at %dx%d", prepared.document.name, *smaller.size)
        content = replace(prepared.content(), image=smaller)
        try:
            score = self._forward(lambda: self.scorer.score(run.query, [content], run.instruction))[0]
        except torch.OutOfMemoryError:
            self._after_oom(1)
            return Score(0.0, "", PARSE_FAILED, warning="out of GPU memory even at a smaller size; not scored")
        note = f"out of GPU memory at full size; scored at {smaller.width}x{smaller.height}"
        return replace(score, warning=join_warnings(note, score.warning))

    def _forward(self, scoring: Callable[[], list[Score]]) -> list[Score]:
        try:
            return scoring()
        finally:
            self.reclaimer.step()

    def _after_oom(self, batch_size: int) -> None:
        self.reclaimer.after_oom()
        if batch_size > 1:
            self.policy.halve()
