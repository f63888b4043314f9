"""The Reranker: one loaded model turning (query, images) into ranked results.

``intake`` prepares each image, ``scoring`` scores batches, ``runtime`` loads the model, and
``execution`` takes one run through it (batches prepared ahead, duplicates, out-of-memory retries,
progress, stop); the Reranker holds the model, its settings and the lock that serialises runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .errors import InvalidSettingError, ScoringFailedError
from .execution import RunExecutor, RunStats
from .intake import DocumentInput, ImageInput, PreparedImage, as_documents, check_image_count, prepare_image
from .results import Ranking, rank_results
from .run import ProgressCallback, Run, prepare_query
from .runtime import devices
from .runtime.batching import batch_policy
from .runtime.loading import LoadedModel, load_model, pixel_budget
from .runtime.reclaim import MemoryReclaimer
from .runtime.threads import prepare_nice, run_threads, threads_in_use, torch_threads
from .scoring.families import choose_family
from .scoring.modes import choose_mode, make_scorer
from .scoring.prompts import resolve_instruction
from .scoring.vision_cache import shared_cache
from .settings import DEFAULT_MAX_IMAGES, GPU_MEMORY_RESERVE_GIB, PARSE_SKIPPED, PREFETCH_BATCHES

logger = logging.getLogger(__name__)


class Reranker:
    """Ranks images against a text query with a multimodal reranker, by its family's published recipe.

    Create it with :meth:`from_pretrained`; call :meth:`rank`. One instance can
    be shared by several threads: runs are serialised by a lock.
    """

    def __init__(
        self, loaded_model: LoadedModel, *, mode: str = "auto", max_pixels: int | None = None,
        min_pixels: int | None = None, batch_size: int | str = 1, max_images: int = DEFAULT_MAX_IMAGES,
        vision_cache_mib: float | None = None, prefetch_batches: int = PREFETCH_BATCHES, family: str | None = None,
        cpu_threads: int | None = None,
    ):
        batch_policy(batch_size, loaded_model.model, "cpu")  # refuses a bad batch_size now, not mid-run
        if prefetch_batches < 0:
            raise InvalidSettingError(f"prefetch_batches must be 0 (sequential) or more (got {prefetch_batches})")
        self.loaded_model = loaded_model
        self.model = loaded_model.model
        self.processor = loaded_model.processor
        config = self.model.config
        self.family = choose_family(config, loaded_model.name, family)
        self.geometry = self.family.geometry(config.model_type)
        self.min_pixels, self.max_pixels = pixel_budget(
            config, max_pixels, min_pixels, defaults=self.family.default_pixels(config.model_type, self.processor),
            factor=self.geometry.factor,
        )
        self.mode = choose_mode(mode, self.family, self.processor.tokenizer)
        self.scorer = make_scorer(
            self.mode, self.family, self.model, self.processor, min_pixels=self.min_pixels,
            max_pixels=self.max_pixels, geometry=self.geometry,
        )
        self.scorer.vision_cache = shared_cache(loaded_model, vision_cache_mib, loaded_model.device)
        self.batch_size = batch_size
        self.prefetch_batches = prefetch_batches
        self.cpu_threads = run_threads(self.model, loaded_model.device, cpu_threads)
        self.order_by_size = True  # batches of similar sizes; off only to measure what ordering saves
        self.max_images = max_images
        self._lock = threading.RLock()
        self._reclaimer = MemoryReclaimer()

    @classmethod
    def from_pretrained(
        cls, name_or_path: str, *, dtype: str = "auto", device: str = "auto", device_map: Any = "auto",
        mode: str = "auto", max_pixels: int | None = None, min_pixels: int | None = None,
        batch_size: int | str = 1, attn_implementation: str = "sdpa", quantization: str | None = None,
        max_gpu_memory: float | None = None, memory_reserve_gib: float = GPU_MEMORY_RESERVE_GIB,
        max_images: int = DEFAULT_MAX_IMAGES, vision_cache_mib: float | None = None,
        prefetch_batches: int = PREFETCH_BATCHES, family: str | None = None, base_model: str | None = None,
        cpu_threads: int | None = None,
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
            mode: ``"auto"`` (the family's judge for rerankers, generate for plain Instruct models),
                ``"yesno"`` (the family's judge) or ``"generate"``.
            max_pixels: the largest image area the model sees; None means the model's own: what its
                folder declares (``lychee_reranker.max_pixels`` in config.json), else its family's published
                recipe (1280·28² for lychee, 1800·32² for Qwen3-VL-Reranker, the processor's own for MonoQwen2-VL).
                Images are sized as the family's recipe sizes them.
            min_pixels: the smallest image area, likewise (the recipe's 4·28² or 4·32²).
            batch_size: documents per forward pass, or ``"auto"``: on a GPU as many (of similar size) as a
                token budget from free GPU memory allows, halved after an out-of-memory error; 1 on the CPU.
            attn_implementation: ``"sdpa"``, ``"eager"`` or ``"flash_attention_2"``.
            quantization: ``None``, ``"int8"`` or ``"nf4"`` (CUDA and bitsandbytes only).
            max_gpu_memory: GiB per GPU that device_map may use; the rest goes to the CPU.
            memory_reserve_gib: GiB left free on each GPU for image tensors.
            max_images: the most images one :meth:`rank` call accepts.
            vision_cache_mib: MiB of vision-tower outputs kept per loaded model, so a second query on the
                same images skips the tower (yes/no mode); None: 256 on the CPU, 10% of free GPU memory; 0: off.
            prefetch_batches: batches decoded and preprocessed ahead of the model on a worker thread,
                so the GPU does not wait on the CPU; 0 runs everything on the calling thread.
            family: the model family whose recipe scores (``lychee``, ``qwen3-vl-reranker``, ``monoqwen2-vl``,
                ``instruct``; ``lychee_rerank.FAMILIES``); None or ``"auto"``: from the model's config and name.
            base_model: for a LoRA adapter (MonoQwen2-VL): the base model's hub id or folder; None: the one
                the adapter names. Adapters need the ``adapters`` extra (peft).
            cpu_threads: torch threads during each run (put back after it); None: one for a model on the
                CPU too small for threads to pay (``settings.SMALL_MODEL_PARAMS``), else torch's own setting.

        Returns:
            A Reranker holding the loaded model. Raises ModelNotFoundError, IncompleteModelError,
            UnsupportedModelError (an architecture no family runs on), ModelLoadError or InvalidSettingError,
            each saying how to fix the call.

        Example::

            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> reranker.describe()["mode"], reranker.describe()["device"]
            ('yesno', 'cpu')
        """
        def check(config: Any) -> None:  # an unsupported architecture or family is refused before any weights load
            choose_family(config, name_or_path, family)

        loaded_model = load_model(
            name_or_path, dtype=dtype, device=device, device_map=device_map, attn_implementation=attn_implementation,
            quantization=quantization, reserve_gib=memory_reserve_gib, max_gpu_memory_gib=max_gpu_memory,
            base_model=base_model, check_config=check,
        )
        return cls(
            loaded_model, mode=mode, max_pixels=max_pixels, min_pixels=min_pixels, batch_size=batch_size,
            max_images=max_images, vision_cache_mib=vision_cache_mib, prefetch_batches=prefetch_batches,
            family=family, cpu_threads=cpu_threads,
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
            "model": loaded.name, "path": loaded.path, "family": self.family.name, "mode": self.mode,
            "device": loaded.device, "patch_factor": self.geometry.factor,
            "dtype": str(loaded.dtype).replace("torch.", ""), "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels, "batch_size": self.batch_size,
            "cpu_threads": threads_in_use(self.cpu_threads), "vram_gib": devices.vram_in_use_gib(),
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
            ScoringFailedError: the model failed mid-run; its ``ranking`` keeps the results scored before.

        Example::

            >>> from lychee_rerank.settings import DEMO_EXAMPLES_DIR as examples
            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> images = [examples / "red_circle.png", examples / "blue_square_on_yellow.png"]
            >>> ranking = reranker.rank("a red circle", images)
            >>> [(r.rank, r.name, r.score) for r in ranking]
            [(1, 'red_circle.png', 9.9085), (2, 'blue_square_on_yellow.png', 0.0457)]
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

        Example (the demo model matches a description against its counterpart in the other language)::

            >>> reranker = Reranker.from_pretrained("demo", device="cpu")
            >>> ranking = reranker.rank_texts("红色圆形", ["a blue square", "a red circle"])
            >>> [(r.rank, r.name, r.score, r.path) for r in ranking]
            [(1, 'a red circle', 9.9598, None), (2, 'a blue square', 0.0513, None)]
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
        self.family.check_shape(content.kind, kinds)
        default = self.family.default_instruction(content.kind, "text" if kinds == {"text"} else "image")
        run = Run(content, resolve_instruction(instruction, default), documents, on_progress, self.mode,
                  self.max_pixels, family=self.family.name)
        self._acquire(on_wait)
        try:
            stats = self._execute(run, should_stop)
        finally:
            self._lock.release()
        for index in range(len(documents)):
            if index not in run.results:
                run.results[index] = run.skipped(index)
        ranked = rank_results(run.results.values())
        ranking = Ranking(ranked, mode=self.mode, query=content.text or "", warnings=warnings,
                          stopped=stats.stopped or stats.failure is not None, stats=stats.as_dict(),
                          family=self.family.name)
        if stats.failure is not None:
            done = len(documents) - sum(1 for result in ranked if result.parse_method == PARSE_SKIPPED)
            raise ScoringFailedError(
                f"scoring failed after {done} of {len(documents)} documents ({ranking.stats['error']}); the {done} "
                "results so far are kept and the rest marked skipped", ranking,
            ) from stats.failure
        return ranking

    def _acquire(self, on_wait: Callable[[], None] | None) -> None:
        if not self._lock.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            self._lock.acquire()

    def _count_tokens(self, text: str) -> int:
        return len(self.processor.tokenizer.encode(text, add_special_tokens=False))

    def _execute(self, run: Run, should_stop: Callable[[], bool] | None) -> RunStats:
        policy = batch_policy(self.batch_size, self.model, self.loaded_model.device)  # free memory now, per run
        executor = RunExecutor(
            self.scorer, policy, self._prepare, (self.min_pixels, self.max_pixels), self.prefetch_batches,
            self._reclaimer, order_by_size=self.order_by_size, factor=self.geometry.factor,
            prepare_nice=prepare_nice(self.loaded_model.device),
        )
        with torch_threads(self.cpu_threads):  # set on the scoring thread; the prepare thread starts under it
            return executor.execute(run, should_stop)

    def _prepare(self, source: ImageInput) -> PreparedImage:
        return prepare_image(
            source, max_pixels=self.max_pixels, min_pixels=self.min_pixels, recipe_sizing=True, geometry=self.geometry
        )
