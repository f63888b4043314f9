"""The Reranker: one loaded model turning (query, images) into ranked results.

``intake`` prepares each image, ``scoring`` scores batches, ``runtime`` loads the model; the
Reranker owns the run (lock, batches, duplicates, out-of-memory retries, progress, stop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from .errors import InvalidSettingError
from .intake import ImageInput, PreparedImage, as_inputs, check_image_count, fit_to_processor, prepare_image
from .results import Ranking, RankResult, join_warnings, rank_results
from .runtime import devices
from .runtime.loading import LoadedModel, load_model, pixel_budget
from .runtime.reclaim import MemoryReclaimer
from .scoring.base import Score
from .scoring.modes import choose_mode, make_scorer
from .scoring.prompts import resolve_instruction
from .scoring.query import validate_query
from .settings import DEFAULT_MAX_IMAGES, GPU_MEMORY_RESERVE_GIB, PARSE_FAILED, PARSE_SKIPPED

logger = logging.getLogger(__name__)

OOM_RETRY_PIXEL_FACTOR = 4  # retry an image that ran out of memory at a quarter of the pixels
STOPPED_WARNING = "not scored: the run was stopped before this image"

ProgressCallback = Callable[[int, int, RankResult], None]


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
        self, loaded_model: LoadedModel, *, mode: str = "auto", max_pixels: int | None = None,
        min_pixels: int | None = None, batch_size: int = 1, max_images: int = DEFAULT_MAX_IMAGES,
    ):
        if batch_size < 1:
            raise InvalidSettingError(f"batch_size must be at least 1 (got {batch_size})")
        self.loaded_model = loaded_model
        self.model = loaded_model.model
        self.processor = loaded_model.processor
        self.min_pixels, self.max_pixels = pixel_budget(self.model.config, max_pixels, min_pixels)
        self.mode = choose_mode(mode, self.model.config, self.processor.tokenizer, loaded_model.name)
        self.scorer = make_scorer(
            self.mode, self.model, self.processor, min_pixels=self.min_pixels, max_pixels=self.max_pixels
        )
        self.batch_size = batch_size
        self.max_images = max_images
        self._lock = threading.RLock()
        self._reclaimer = MemoryReclaimer()

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, *, dtype: str = "auto", device: str = "auto", device_map: Any = "auto",
        mode: str = "auto", max_pixels: int | None = None, min_pixels: int | None = None, batch_size: int = 1,
        attn_implementation: str = "sdpa", quantization: str | None = None, max_gpu_memory: float | None = None,
        memory_reserve_gib: float = GPU_MEMORY_RESERVE_GIB, max_images: int = DEFAULT_MAX_IMAGES,
    ) -> Reranker:
        """Load a reranker from a hub id, a local folder, or ``"demo"`` (the bundled demo model).

        Args:
            name_or_path: ``"vec-ai/lychee-rerank-mm"`` (from the local Hugging Face cache, or
                downloaded when online), a folder holding ``config.json``, or ``"demo"``.
            dtype: ``"auto"`` (bfloat16 on a GPU, float16 where bf16 is unsupported, float32
                on the CPU), ``"bfloat16"``, ``"float16"`` or ``"float32"``.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
            device_map: passed to transformers; ``"auto"`` keeps ``memory_reserve_gib`` free on
                each GPU and reports layers that spill to the CPU.
            mode: ``"auto"`` (yes/no for rerankers, generate for plain Instruct models),
                ``"yesno"`` or ``"generate"``.
            max_pixels: the largest image area the model sees; None means the model's own: what its
                folder declares (``lychee_reranker.max_pixels`` in config.json), else the published
                recipe's 1280·28². Images are sized as the recipe sizes them and the processor applies it.
            min_pixels: the smallest image area, likewise (the recipe's 4·28²).
            batch_size: images per forward pass.
            attn_implementation: ``"sdpa"``, ``"eager"`` or ``"flash_attention_2"``.
            quantization: ``None``, ``"int8"`` or ``"nf4"`` (CUDA and bitsandbytes only).
            max_gpu_memory: GiB per GPU that device_map may use; the rest goes to the CPU.
            memory_reserve_gib: GiB left free on each GPU for image tensors.
            max_images: the most images one :meth:`rank` call accepts.

        Returns:
            A Reranker holding the loaded model.

        Raises:
            ModelNotFoundError, IncompleteModelError, UnsupportedModelError, ModelLoadError,
            InvalidSettingError: each with a message that says how to fix the call.

        Example::

            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> reranker.describe()["mode"], reranker.describe()["device"]
            ('yesno', 'cpu')
        """
        loaded_model = load_model(
            name_or_path, dtype=dtype, device=device, device_map=device_map, attn_implementation=attn_implementation,
            quantization=quantization, reserve_gib=memory_reserve_gib, max_gpu_memory_gib=max_gpu_memory,
        )
        return cls(
            loaded_model, mode=mode, max_pixels=max_pixels, min_pixels=min_pixels, batch_size=batch_size,
            max_images=max_images,
        )

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
            "model": self.loaded_model.name,
            "path": self.loaded_model.path,
            "mode": self.mode,
            "device": self.loaded_model.device,
            "dtype": str(self.loaded_model.dtype).replace("torch.", ""),
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "batch_size": self.batch_size,
            "vram_gib": devices.vram_in_use_gib(),
            "notes": list(self.loaded_model.notes),
        }

    def rank(
        self, query: str, images: Iterable[Any], *, instruction: str | None = None,
        on_progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> Ranking:
        """Score every image against ``query`` and return them best first.

        Args:
            query: what the user wants, in Chinese, English or both; normalised first
                (:func:`~lychee_rerank.scoring.query.normalize_query`), cut at 512 tokens.
            images: file paths, raw bytes, ``(name, bytes)`` pairs, PIL images or
                ``ImageInput`` objects, in any mix.
            instruction: an instruction preset (``default``, ``product``, ``design``,
                ``generated``) or free text; ``None`` means ``default``.
            on_progress: called as ``on_progress(done, total, result)`` after each image.
            should_stop: polled between batches; when it returns True the run ends, keeping
                what was scored and marking the rest ``skipped``.
            on_wait: called once if another caller holds the model and this run must wait.

        Returns:
            A :class:`~lychee_rerank.results.Ranking` (a list, best first) with one
            :class:`~lychee_rerank.results.RankResult` per input. Unreadable images come last
            with a warning and score 0.0. ``.mode``, ``.warnings`` and ``.stopped`` describe the run.

        Raises:
            InvalidQueryError: the query is empty (before any model work).
            TooManyImagesError: more than ``max_images`` images.

        Example::

            >>> from lychee_rerank.settings import DEMO_EXAMPLES_DIR as examples
            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> images = [examples / "red_circle.png", examples / "blue_square_on_yellow.png"]
            >>> ranking = reranker.rank("a red circle", images)
            >>> [(r.rank, r.name, r.score) for r in ranking]
            [(1, 'red_circle.png', 9.9909), (2, 'blue_square_on_yellow.png', 0.0029)]
        """
        clean_query, query_warning = validate_query(query, count_tokens=self._count_tokens)
        inputs = as_inputs(images)
        check_image_count(len(inputs), self.max_images, "the images given")
        run = _Run(clean_query, instruction, inputs, on_progress)
        self._acquire(on_wait)
        try:
            stopped = self._score_all(run, should_stop)
        finally:
            self._lock.release()
        for index, source in enumerate(inputs):
            run.results.setdefault(index, self._skipped(source, index))
        warnings = [query_warning] if query_warning else []
        ranked = rank_results(run.results.values())
        return Ranking(ranked, mode=self.mode, query=clean_query, warnings=warnings, stopped=stopped)

    def _acquire(self, on_wait: Callable[[], None] | None) -> None:
        if not self._lock.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            self._lock.acquire()

    def _count_tokens(self, text: str) -> int:
        return len(self.processor.tokenizer.encode(text, add_special_tokens=False))

    def _score_all(self, run: _Run, should_stop: Callable[[], bool] | None) -> bool:
        for start in range(0, len(run.inputs), self.batch_size):
            if should_stop is not None and should_stop():
                logger.info("stopped after %d of %d images", len(run.results), len(run.inputs))
                return True
            indices = range(start, min(start + self.batch_size, len(run.inputs)))
            self._score_batch(run, [(i, self._prepare(run.inputs[i])) for i in indices])
        return False

    def _prepare(self, source: ImageInput) -> PreparedImage:
        return prepare_image(source, max_pixels=self.max_pixels, min_pixels=self.min_pixels, recipe_sizing=True)

    def _score_batch(self, run: _Run, batch: list[tuple[int, PreparedImage]]) -> None:
        to_score: list[tuple[int, PreparedImage]] = []
        duplicates: list[tuple[int, PreparedImage, int]] = []
        for index, prepared in batch:
            first = run.first_by_digest.get(prepared.digest) if prepared.digest else None
            if prepared.failed:
                run.record(self._result(run, index, prepared, Score(0.0, "", PARSE_FAILED)))
            elif first is not None:
                duplicates.append((index, prepared, first))
            else:
                if prepared.digest:
                    run.first_by_digest[prepared.digest] = index
                to_score.append((index, prepared))
        if to_score:
            scores = self._score_images(run, [prepared for _, prepared in to_score])
            for (index, prepared), score in zip(to_score, scores):
                run.record(self._result(run, index, prepared, score))
        for index, prepared, first in duplicates:
            run.record(self._duplicate(run, index, prepared, run.results[first]))

    def _score_images(self, run: _Run, batch: list[PreparedImage]) -> list[Score]:
        try:
            return self._forward(run, [prepared.image for prepared in batch])
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            if len(batch) > 1:
                logger.warning("out of memory on a batch of %d; scoring its images one by one", len(batch))
                return [score for prepared in batch for score in self._score_images(run, [prepared])]
        return [self._retry_smaller(run, batch[0])]

    def _retry_smaller(self, run: _Run, prepared: PreparedImage) -> Score:
        # Relative to the image's own size: a small image that ran out of memory at max_pixels is already below it.
        pixels = min(self.max_pixels, prepared.image.width * prepared.image.height)
        smaller = fit_to_processor(prepared.image, max(self.min_pixels, pixels // OOM_RETRY_PIXEL_FACTOR))
        logger.warning("out of memory on %s; retrying at %dx%d", prepared.source.name, *smaller.size)
        try:
            score = self._forward(run, [smaller])[0]
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            return Score(0.0, "", PARSE_FAILED, warning="out of GPU memory even at a smaller size; not scored")
        prepared.image = smaller
        note = f"out of GPU memory at full size; scored at {smaller.width}x{smaller.height}"
        return replace(score, warning=join_warnings(note, score.warning))

    def _forward(self, run: _Run, images: list) -> list[Score]:
        try:
            return self.scorer.score(run.query, images, run.instruction)
        finally:
            self._reclaimer.step()

    def _result(self, run: _Run, index: int, prepared: PreparedImage, score: Score) -> RankResult:
        return RankResult(
            rank=0, index=index, name=prepared.source.name, score=score.score, raw_output=score.raw_output,
            parse_method=score.parse_method, warning=join_warnings(prepared.warning, score.warning),
            path=prepared.source.path, mode=self.mode, p_yes=score.p_yes, p_no=score.p_no,
            scored_size=score.scored_size, original_size=prepared.original_size, notes=tuple(prepared.notes),
            instruction=resolve_instruction(run.instruction), max_pixels=self.max_pixels, digest=prepared.digest,
        )

    def _duplicate(self, run: _Run, index: int, prepared: PreparedImage, first: RankResult) -> RankResult:
        note = f"duplicate of {first.name} (same bytes): scored once"
        score = Score(first.score, first.raw_output, first.parse_method, first.p_yes, first.p_no,
                      scored_size=first.scored_size)
        base = self._result(run, index, prepared, score)
        return replace(base, warning=join_warnings(base.warning, note), duplicate_of=first.index)

    def _skipped(self, source: ImageInput, index: int) -> RankResult:
        return RankResult(
            rank=0, index=index, name=source.name, score=0.0, raw_output="", parse_method=PARSE_SKIPPED,
            warning=STOPPED_WARNING, path=source.path, mode=self.mode,
        )
