"""The Reranker: one loaded model turning (query, images) into ranked results."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from . import devices
from .errors import InvalidSettingError, TooManyImagesError
from .images import LoadedImage, fit_to_processor, load_image
from .loading import LoadedModel, load_model
from .memory import MemoryReclaimer
from .query import MAX_QUERY_TOKENS, validate_query
from .results import PARSE_FAILED, PARSE_SKIPPED, RankResult, rank_results
from .scoring import Score, choose_mode, make_scorer
from .sources import ImageInput, as_inputs

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 1280 * 28 * 28
MIN_MAX_PIXELS = 56 * 56
DEFAULT_MAX_IMAGES = 1000
OOM_RETRY_PIXEL_FACTOR = 4  # retry an image that ran out of memory at a quarter of the pixels

ProgressCallback = Callable[[int, int, RankResult], None]


class Ranking(list):
    """The ranked results (a plain list, best first) plus what applies to the whole run."""

    def __init__(self, results: Iterable[RankResult], *, mode: str, query: str, warnings: list[str], stopped: bool):
        super().__init__(results)
        self.mode = mode
        self.query = query
        self.warnings = warnings
        self.stopped = stopped


@dataclass
class _Run:
    """Mutable bookkeeping of one rank() call."""

    query: str
    instruction: str | None
    inputs: list[ImageInput]
    on_progress: ProgressCallback | None
    results: dict[int, RankResult] = field(default_factory=dict)
    first_by_digest: dict[str, int] = field(default_factory=dict)

    def record(self, result: RankResult) -> None:
        self.results[result.index] = result
        if self.on_progress is not None:
            self.on_progress(len(self.results), len(self.inputs), result)


class Reranker:
    """Ranks images against a text query with a Qwen2.5-VL based model.

    Create it with :meth:`from_pretrained`; call :meth:`rank`. One instance can
    be shared by several threads: runs are serialised by a lock.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        mode: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        batch_size: int = 1,
        max_images: int = DEFAULT_MAX_IMAGES,
    ):
        if batch_size < 1:
            raise InvalidSettingError(f"batch_size must be at least 1 (got {batch_size})")
        if max_pixels < MIN_MAX_PIXELS:
            raise InvalidSettingError(f"max_pixels must be at least {MIN_MAX_PIXELS} (got {max_pixels})")
        self.loaded = loaded
        self.model = loaded.model
        self.processor = loaded.processor
        self.mode = choose_mode(mode, self.model.config, self.processor.tokenizer, loaded.name)
        self.scorer = make_scorer(self.mode, self.model, self.processor)
        self.max_pixels = max_pixels
        self.batch_size = batch_size
        self.max_images = max_images
        self._lock = threading.RLock()
        self._reclaimer = MemoryReclaimer()
        self.forward_calls = 0  # how many model calls were made; the app's tests count them

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        device_map: Any = "auto",
        mode: str = "auto",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        batch_size: int = 1,
        attn_implementation: str = "sdpa",
        quantization: str | None = None,
        max_gpu_memory: float | None = None,
        memory_reserve_gib: float = devices.DEFAULT_RESERVE_GIB,
        max_images: int = DEFAULT_MAX_IMAGES,
    ) -> "Reranker":
        """Load a reranker from a hub id, a local folder, or ``"demo"``.

        ``dtype`` "auto" means bfloat16 on a GPU (float16 where bf16 is
        unsupported) and float32 on the CPU. ``max_gpu_memory`` (GiB) caps what
        device_map may put on each GPU; the rest is offloaded to the CPU.
        ``quantization`` is "int8" or "nf4" (CUDA + bitsandbytes).
        """
        loaded = load_model(
            name_or_path,
            dtype=dtype,
            device=device,
            device_map=device_map,
            attn_implementation=attn_implementation,
            quantization=quantization,
            reserve_gib=memory_reserve_gib,
            max_gpu_memory_gib=max_gpu_memory,
        )
        return cls(loaded, mode=mode, max_pixels=max_pixels, batch_size=batch_size, max_images=max_images)

    @property
    def busy(self) -> bool:
        """True while another caller is ranking with this model."""
        acquired = self._lock.acquire(blocking=False)
        if acquired:
            self._lock.release()
        return not acquired

    def describe(self) -> dict[str, Any]:
        """Where and how the model runs, for the app's settings panel and the CLI log."""
        return {
            "model": self.loaded.name,
            "path": self.loaded.path,
            "mode": self.mode,
            "device": self.loaded.device,
            "dtype": str(self.loaded.dtype).replace("torch.", ""),
            "max_pixels": self.max_pixels,
            "batch_size": self.batch_size,
            "vram_gib": devices.vram_in_use_gib(),
            "notes": list(self.loaded.notes),
        }

    def rank(
        self,
        query: str,
        images: Iterable[Any],
        *,
        instruction: str | None = None,
        on_progress: ProgressCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> Ranking:
        """Score every image against ``query`` and return them best first.

        ``images``: file paths, bytes, (name, bytes) pairs, PIL images or
        ImageInputs. Every input comes back exactly once; unreadable ones with a
        warning and the lowest score. ``on_progress(done, total, result)`` runs
        after each image, ``should_stop()`` is polled between images (stopping
        returns what was scored plus the rest marked skipped), and
        ``on_wait()`` runs once if another caller holds the model.
        """
        clean_query, query_warning = validate_query(
            query, max_tokens=MAX_QUERY_TOKENS, count_tokens=self._count_tokens
        )
        inputs = as_inputs(images)
        if len(inputs) > self.max_images:
            raise TooManyImagesError(
                f"{len(inputs)} images given, more than the limit of {self.max_images} per run; "
                "split them into several runs or raise max_images"
            )
        run = _Run(clean_query, instruction, inputs, on_progress)
        if not self._lock.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            self._lock.acquire()
        try:
            stopped = self._score_all(run, should_stop)
        finally:
            self._lock.release()
        for index in range(len(inputs)):
            if index not in run.results:
                run.results[index] = self._skipped(inputs[index], index)
        warnings = [query_warning] if query_warning else []
        return Ranking(rank_results(list(run.results.values())), mode=self.mode, query=clean_query, warnings=warnings, stopped=stopped)

    def _count_tokens(self, text: str) -> int:
        return len(self.processor.tokenizer.encode(text, add_special_tokens=False))

    def _score_all(self, run: _Run, should_stop: Callable[[], bool] | None) -> bool:
        for start in range(0, len(run.inputs), self.batch_size):
            if should_stop is not None and should_stop():
                logger.info("stopped after %d of %d images", len(run.results), len(run.inputs))
                return True
            indices = range(start, min(start + self.batch_size, len(run.inputs)))
            self._score_batch(run, [(i, load_image(run.inputs[i], max_pixels=self.max_pixels)) for i in indices])
        return False

    def _score_batch(self, run: _Run, batch: list[tuple[int, LoadedImage]]) -> None:
        to_score: list[tuple[int, LoadedImage]] = []
        duplicates: list[tuple[int, LoadedImage, int]] = []
        for index, loaded in batch:
            first = run.first_by_digest.get(loaded.digest) if loaded.digest else None
            if loaded.failed:
                run.record(self._result(index, loaded, Score(0.0, "", PARSE_FAILED)))
            elif first is not None:
                duplicates.append((index, loaded, first))
            else:
                if loaded.digest:
                    run.first_by_digest[loaded.digest] = index
                to_score.append((index, loaded))
        if to_score:
            scores = self._score_images(run, [loaded for _, loaded in to_score])
            for (index, loaded), score in zip(to_score, scores):
                run.record(self._result(index, loaded, score))
        for index, loaded, first in duplicates:
            run.record(self._duplicate(index, loaded, run.results[first]))

    def _score_images(self, run: _Run, loaded: list[LoadedImage]) -> list[Score]:
        images = [item.image for item in loaded]
        try:
            return self._forward(run, images)
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            if len(images) > 1:
                logger.warning("out of memory on a batch of %d; scoring its images one by one", len(images))
                return [score for item in loaded for score in self._score_images(run, [item])]
        return [self._retry_smaller(run, loaded[0])]

    def _retry_smaller(self, run: _Run, loaded: LoadedImage) -> Score:
        # Relative to the image's own size: a small image that ran out of memory at max_pixels is already below it.
        pixels = min(self.max_pixels, loaded.image.width * loaded.image.height)
        smaller_pixels = max(MIN_MAX_PIXELS, pixels // OOM_RETRY_PIXEL_FACTOR)
        smaller = fit_to_processor(loaded.image, smaller_pixels)
        logger.warning("out of memory on %s; retrying at %dx%d", loaded.source.name, *smaller.size)
        try:
            score = self._forward(run, [smaller])[0]
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            return Score(0.0, "", PARSE_FAILED, warning="out of GPU memory even at a smaller size; not scored")
        loaded.image = smaller
        note = f"out of GPU memory at full size; scored at {smaller.width}x{smaller.height}"
        return Score(score.score, score.raw_output, score.parse_method, score.p_yes, score.p_no, _join(note, score.warning))

    def _forward(self, run: _Run, images: list) -> list[Score]:
        self.forward_calls += 1
        try:
            return self.scorer.score(run.query, images, run.instruction)
        finally:
            self._reclaimer.step()

    def _result(self, index: int, loaded: LoadedImage, score: Score) -> RankResult:
        source = loaded.source
        return RankResult(
            rank=0,
            index=index,
            name=source.name,
            score=score.score,
            raw_output=score.raw_output,
            parse_method=score.parse_method,
            warning=_join(loaded.warning, score.warning),
            path=source.path,
            mode=self.mode,
            p_yes=score.p_yes,
            p_no=score.p_no,
            scored_size=None if loaded.failed else loaded.image.size,
            original_size=loaded.original_size,
            notes=tuple(loaded.notes),
            digest=loaded.digest,
        )

    def _duplicate(self, index: int, loaded: LoadedImage, first: RankResult) -> RankResult:
        note = f"duplicate of {first.name} (same bytes): scored once"
        base = self._result(index, loaded, Score(first.score, first.raw_output, first.parse_method, first.p_yes, first.p_no))
        return RankResult(**{**base.__dict__, "warning": _join(base.warning, note), "duplicate_of": first.index})

    def _skipped(self, source: ImageInput, index: int) -> RankResult:
        return RankResult(
            rank=0, index=index, name=source.name, score=0.0, raw_output="", parse_method=PARSE_SKIPPED,
            warning="not scored: the run was stopped before this image", path=source.path, mode=self.mode,
        )


def _join(*parts: str | None) -> str | None:
    text = "; ".join(part for part in parts if part)
    return text or None
