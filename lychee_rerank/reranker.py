"""The Reranker: one loaded model turning (query, images) into ranked results.

``intake`` prepares each image, ``scoring`` scores batches, ``runtime`` loads the model; the
Reranker owns the run (lock, batches, duplicates, out-of-memory retries, progress, stop).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import torch

from .errors import InvalidSettingError
from .intake import (
    DocumentInput,
    ImageInput,
    PreparedImage,
    as_documents,
    check_image_count,
    fit_to_processor,
    prepare_image,
)
from .results import Ranking, join_warnings, rank_results
from .run import Prepared, ProgressCallback, Run, prepare_query
from .runtime import devices
from .runtime.loading import LoadedModel, load_model, pixel_budget
from .runtime.reclaim import MemoryReclaimer
from .scoring.base import Score
from .scoring.modes import choose_mode, make_scorer
from .scoring.prompts import Content, resolve_instruction, task_instruction
from .scoring.vision_cache import shared_cache
from .settings import DEFAULT_MAX_IMAGES, GPU_MEMORY_RESERVE_GIB, PARSE_FAILED

logger = logging.getLogger(__name__)

OOM_RETRY_PIXEL_FACTOR = 4  # retry an image that ran out of memory at a quarter of the pixels
class Reranker:
    """Ranks images against a text query with a Qwen2.5-VL based model.

    Create it with :meth:`from_pretrained`; call :meth:`rank`. One instance can
    be shared by several threads: runs are serialised by a lock.
    """

    def __init__(
        self, loaded_model: LoadedModel, *, mode: str = "auto", max_pixels: int | None = None,
        min_pixels: int | None = None, batch_size: int = 1, max_images: int = DEFAULT_MAX_IMAGES,
        vision_cache_mib: float | None = None,
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
        self.scorer.vision_cache = shared_cache(loaded_model, vision_cache_mib, loaded_model.device)
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
        vision_cache_mib: float | None = None,
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
            vision_cache_mib: MiB of vision-tower outputs kept per loaded model, so a second query on the
                same images skips the tower (yes/no mode); None: 256 on the CPU, 10% of free GPU memory; 0: off.

        Returns:
            A Reranker holding the loaded model. Raises ModelNotFoundError, IncompleteModelError,
            UnsupportedModelError, ModelLoadError or InvalidSettingError, each saying how to fix the call.

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
            max_images=max_images, vision_cache_mib=vision_cache_mib,
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
        loaded, cache = self.loaded_model, self.scorer.vision_cache
        return {
            "model": loaded.name, "path": loaded.path, "mode": self.mode, "device": loaded.device,
            "dtype": str(loaded.dtype).replace("torch.", ""), "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels, "batch_size": self.batch_size, "vram_gib": devices.vram_in_use_gib(),
            "vision_cache": cache.stats() if cache else None, "notes": list(loaded.notes),
        }

    def rank(
        self, query: str | None, images: Iterable[Any], *, query_image: Any = None, instruction: str | None = None,
        on_progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> Ranking:
        """Score every image (or ``Document``) against the query and return them best first.

        Args:
            query: what the user wants, in Chinese, English or both; normalised first
                (:func:`~lychee_rerank.scoring.query.normalize_query`), cut at 512 tokens.
                May be None or empty when ``query_image`` is given.
            images: file paths, raw bytes, ``(name, bytes)`` pairs, PIL images, ``ImageInput``
                or ``Document`` objects (an image with its text), in any mix.
            query_image: a reference image ("more like this one"), in any of those image forms;
                with a query text too, the query is both.
            instruction: an instruction preset (``default``, ``product``, ``design``, ``generated``)
                or free text; ``None`` means the task's default (``prompts.TASK_INSTRUCTIONS``).
            on_progress: called as ``on_progress(done, total, result)`` after each document.
            should_stop: polled between batches; when it returns True the run ends, keeping
                what was scored and marking the rest ``skipped``.
            on_wait: called once if another caller holds the model and this run must wait.

        Returns:
            A :class:`~lychee_rerank.results.Ranking` (a list, best first) with one
            :class:`~lychee_rerank.results.RankResult` per input. Unreadable images come last
            with a warning and score 0.0. ``.mode``, ``.warnings`` and ``.stopped`` describe the run.

        Raises:
            InvalidQueryError: neither a query text nor a query image (before any model work).
            QueryImageError: the query image cannot be read.
            TooManyImagesError: more than ``max_images`` documents.

        Example::

            >>> from lychee_rerank.settings import DEMO_EXAMPLES_DIR as examples
            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> images = [examples / "red_circle.png", examples / "blue_square_on_yellow.png"]
            >>> ranking = reranker.rank("a red circle", images)
            >>> [(r.rank, r.name, r.score) for r in ranking]
            [(1, 'red_circle.png', 9.9909), (2, 'blue_square_on_yellow.png', 0.0029)]
        """
        documents = as_documents(images)
        return self._rank(query, query_image, documents, instruction, on_progress, should_stop, on_wait)

    def rank_texts(
        self, query: str | None, texts: Iterable[str], *, query_image: Any = None, instruction: str | None = None,
        on_progress: ProgressCallback | None = None, should_stop: Callable[[], bool] | None = None,
        on_wait: Callable[[], None] | None = None,
    ) -> Ranking:
        """Score texts (captions, product titles) against a query text and/or a query image, best first.

        The arguments are :meth:`rank`'s; ``texts`` are strings (or ``Document`` objects).
        Results carry the ``text``, a short ``name`` (its first 80 characters) and ``path`` None.

        Example (the demo model was trained on images only, so its text scores carry no meaning)::

            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> ranking = reranker.rank_texts("a red circle", ["a red circle", "a blue square"])
            >>> [(r.rank, r.name, r.score, r.path) for r in ranking]
            [(1, 'a blue square', 0.0067, None), (2, 'a red circle', 0.0045, None)]
        """
        documents = as_documents(texts, texts=True)
        return self._rank(query, query_image, documents, instruction, on_progress, should_stop, on_wait)

    def _rank(
        self, query: str | None, query_image: Any, documents: list[DocumentInput], instruction: str | None,
        on_progress: ProgressCallback | None, should_stop: Callable[[], bool] | None,
        on_wait: Callable[[], None] | None,
    ) -> Ranking:
        check_image_count(len(documents), self.max_images, "the documents given")
        content, warnings = prepare_query(query, query_image, self._count_tokens, self._prepare)
        kinds = {document.kind for document in documents}
        default = task_instruction(content.kind, "text" if kinds == {"text"} else "image")
        run = Run(content, resolve_instruction(instruction, default), documents, on_progress, self.mode,
                  self.max_pixels)
        self._acquire(on_wait)
        try:
            stopped = self._score_all(run, should_stop)
        finally:
            self._lock.release()
        for index in range(len(documents)):
            if index not in run.results:
                run.results[index] = run.skipped(index)
        ranked = rank_results(run.results.values())
        return Ranking(ranked, mode=self.mode, query=content.text or "", warnings=warnings, stopped=stopped)

    def _acquire(self, on_wait: Callable[[], None] | None) -> None:
        if not self._lock.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            self._lock.acquire()

    def _count_tokens(self, text: str) -> int:
        return len(self.processor.tokenizer.encode(text, add_special_tokens=False))

    def _score_all(self, run: Run, should_stop: Callable[[], bool] | None) -> bool:
        for start in range(0, len(run.documents), self.batch_size):
            if should_stop is not None and should_stop():
                logger.info("stopped after %d of %d documents", len(run.results), len(run.documents))
                return True
            indices = range(start, min(start + self.batch_size, len(run.documents)))
            self._score_batch(run, [(i, self._prepare_document(run.documents[i])) for i in indices])
        return False

    def _prepare(self, source: ImageInput) -> PreparedImage:
        return prepare_image(source, max_pixels=self.max_pixels, min_pixels=self.min_pixels, recipe_sizing=True)

    def _prepare_document(self, document: DocumentInput) -> Prepared:
        return Prepared(document, self._prepare(document.source) if document.source is not None else None)

    def _score_batch(self, run: Run, batch: list[tuple[int, Prepared]]) -> None:
        to_score: list[tuple[int, Prepared]] = []
        duplicates: list[tuple[int, Prepared, int]] = []
        for index, prepared in batch:
            first = run.first_by_digest.get(prepared.digest) if prepared.digest else None
            if prepared.failed:
                run.record(run.result(index, prepared, Score(0.0, "", PARSE_FAILED)))
            elif first is not None:
                duplicates.append((index, prepared, first))
            else:
                if prepared.digest:
                    run.first_by_digest[prepared.digest] = index
                to_score.append((index, prepared))
        if to_score:
            scores = self._score_documents(run, [prepared for _, prepared in to_score])
            for (index, prepared), score in zip(to_score, scores):
                run.record(run.result(index, prepared, score))
        for index, prepared, first in duplicates:
            run.record(run.duplicate(index, prepared, run.results[first]))

    def _score_documents(self, run: Run, batch: list[Prepared]) -> list[Score]:
        try:
            return self._forward(run, [prepared.content() for prepared in batch])
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            if len(batch) > 1:
                logger.warning("out of memory on a batch of %d; scoring its documents one by one", len(batch))
                return [score for prepared in batch for score in self._score_documents(run, [prepared])]
        return [self._retry_smaller(run, batch[0])]

    def _retry_smaller(self, run: Run, prepared: Prepared) -> Score:
        if prepared.image is None:
            return Score(0.0, "", PARSE_FAILED, warning="out of memory scoring this text; not scored")
        image = prepared.image.image
        # Relative to the image's own size: a small image that ran out of memory at max_pixels is already below it.
        pixels = min(self.max_pixels, image.width * image.height)
        smaller = fit_to_processor(image, max(self.min_pixels, pixels // OOM_RETRY_PIXEL_FACTOR))
        logger.warning("out of memory on %s; retrying at %dx%d", prepared.document.name, *smaller.size)
        try:
            score = self._forward(run, [replace(prepared.content(), image=smaller)])[0]
        except torch.OutOfMemoryError:
            self._reclaimer.after_oom()
            return Score(0.0, "", PARSE_FAILED, warning="out of GPU memory even at a smaller size; not scored")
        note = f"out of GPU memory at full size; scored at {smaller.width}x{smaller.height}"
        return replace(score, warning=join_warnings(note, score.warning))

    def _forward(self, run: Run, documents: list[Content]) -> list[Score]:
        try:
            return self.scorer.score(run.query, documents, run.instruction)
        finally:
            self._reclaimer.step()
