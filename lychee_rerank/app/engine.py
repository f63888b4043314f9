"""What every browser tab of one server process shares: the loaded model, the run queue and the score cache."""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidSettingError
from ..intake import ImageInput, bytes_digest, image_digest
from ..own_prompts import rank_by_own_prompts
from ..reranker import Reranker
from ..results import Ranking, RankResult
from ..scoring.families import FAMILIES
from ..scoring.query import normalize_query
from ..settings import BATCH_AUTO, DEFAULT_PIXEL_PRESET, PIXEL_PRESETS


@dataclass(frozen=True)
class RunSettings:
    """The settings that change scores: part of the score cache key."""

    model: str
    dtype: str = "auto"
    mode: str = "auto"
    pixel_patches: int | None = PIXEL_PRESETS[DEFAULT_PIXEL_PRESET]  # the budget in merged patches; None: the model's
    batch_size: int | str = BATCH_AUTO
    family: str = "auto"


@dataclass
class RankRequest:
    """What one run ranks: its query and documents, as the model's process receives them."""

    query: str
    documents: list[Any] = field(repr=False)  # ImageInputs, or strings when ``texts``
    texts: bool = False
    query_image: tuple[str, bytes] | None = None
    instruction: str | None = None
    own_prompts: bool = False  # each image against its own prompt (the typed query for those without one)
    mix: bool = False  # own prompts with the typed query appended


@dataclass(frozen=True)
class Callbacks:
    """How a run reports back: after each document, whether to stop, when it must wait for the model."""

    on_progress: Callable[[int, int, RankResult], None]
    should_stop: Callable[[], bool]
    on_wait: Callable[[], None]


def rank_request(reranker: Reranker, request: RankRequest, calls: Callbacks) -> Ranking:
    """``request`` ranked by ``reranker`` in this process (the app's model process runs this too)."""
    hooks = {"on_progress": calls.on_progress, "should_stop": calls.should_stop, "on_wait": calls.on_wait}
    if request.own_prompts:
        # The general preset gives way to the one for generated art; a chosen preset or instruction stays.
        instruction = None if request.instruction in (None, "default") else request.instruction
        return rank_by_own_prompts(reranker, request.documents, query=request.query, mix=request.mix,
                                   instruction=instruction, **hooks)
    rank = reranker.rank_texts if request.texts else reranker.rank
    return rank(request.query, request.documents, query_image=request.query_image, instruction=request.instruction,
                **hooks)


class ModelHandle:
    """One model loaded in this process and the Reranker variants (mode, pixels, batch size) that share its
    weights. :class:`~lychee_rerank.app.model_process.ProcessModelHandle` has the same methods for a model loaded in
    a process of its own."""

    def __init__(self, base: Reranker, dtype: str):
        self.base = base
        self.dtype = dtype
        self._variants: dict[tuple, Reranker] = {("auto", None, base.batch_size, "auto"): base}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str, dtype: str = "auto") -> ModelHandle:
        return cls(Reranker.from_pretrained(model, dtype=dtype), dtype)

    @property
    def model_name(self) -> str:
        return str(self.base.loaded_model.name)

    @property
    def alive(self) -> bool:
        return True  # weights in this process cannot go away under it

    def weight_bytes(self) -> int:
        """What the model's parameters and buffers take in memory."""
        model = self.base.loaded_model.model
        return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])

    def describe(self, settings: RunSettings) -> dict[str, Any]:
        """Where and how runs with ``settings`` go (the app's "in use" panel)."""
        return self.for_settings(settings).describe()

    def rank(self, settings: RunSettings, request: RankRequest, calls: Callbacks) -> Ranking:
        return rank_request(self.for_settings(settings), request, calls)

    def close(self) -> None:
        """Nothing to end: the weights go when the last reference does."""

    def for_settings(self, settings: RunSettings) -> Reranker:
        """The variant a run with ``settings`` uses."""
        return self.variant(settings.mode, settings.pixel_patches, settings.batch_size, settings.family)

    def variant(self, mode: str, pixel_patches: int | None, batch_size: int | str, family: str = "auto") -> Reranker:
        """A Reranker over the same loaded weights with these settings (no reload). ``pixel_patches`` is the
        budget in merged patches (× the family's factor² gives max_pixels); None: the model's own."""
        key = (mode, pixel_patches, batch_size, family)
        with self._lock:
            if key not in self._variants:
                self._variants[key] = self._new(mode, pixel_patches, batch_size, family)
            return self._variants[key]

    def _new(self, mode: str, pixel_patches: int | None, batch_size: int | str, family: str) -> Reranker:
        chosen = self.base.family.name if family == "auto" else family
        if chosen not in FAMILIES:
            raise InvalidSettingError(f"unknown model family {chosen!r}; choose one of {', '.join(FAMILIES)}")
        factor = FAMILIES[chosen].geometry(self.base.model.config.model_type).factor
        max_pixels = pixel_patches * factor * factor if pixel_patches else None
        return Reranker(self.base.loaded_model, mode=mode, max_pixels=max_pixels, batch_size=batch_size,
                        family=chosen)


def input_digest(item: ImageInput) -> str:
    """What identifies an input's content for the score cache (never equal for unreadable inputs)."""
    if item.problem:  # a placeholder for an unreadable entry: its name and reason are its content
        return "problem:" + bytes_digest(f"{item.name}\0{item.problem}".encode())
    try:
        if item.image is not None:
            return "pil:" + image_digest(item.image)
        return bytes_digest(item.read_bytes())
    except Exception:  # noqa: BLE001 - an input that cannot be read now must never be a cache hit
        return f"unreadable:{item.name}:{time.time_ns()}"


class ScoreCache:
    """Finished rankings keyed by settings, query, instruction and image digests (LRU)."""

    def __init__(self, max_runs: int = 32):
        self.max_runs = max_runs
        self._data: OrderedDict[str, list[RankResult]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(settings: RunSettings, query: str, instruction: str | None, digests: Sequence[str]) -> str:
        payload = {"settings": asdict(settings), "query": normalize_query(query), "instruction": instruction,
                   "images": list(digests)}
        return bytes_digest(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8"))

    def get(self, key: str) -> list[RankResult] | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: str, results: list[RankResult]) -> None:
        with self._lock:
            self._data[key] = list(results)
            self._data.move_to_end(key)
            while len(self._data) > self.max_runs:
                self._data.popitem(last=False)


class RunQueue:
    """One run on the model at a time, taken in the order Run was pressed: a tab still writing a big upload to disk
    keeps its place, so a tab that pressed Run after it does not run first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._line: deque[int] = deque()  # id() of the waiting jobs, first pressed first
        self._changed = threading.Condition()

    def join(self, who: object) -> None:
        with self._changed:
            self._line.append(id(who))

    def leave(self, who: object) -> None:
        with self._changed:
            if id(who) in self._line:
                self._line.remove(id(who))
                self._changed.notify_all()

    def take(self, who: object, timeout: float) -> bool:
        """Take the model if ``who`` is first in line and the model is free; else wait up to ``timeout`` s for a
        change and say False."""
        with self._changed:
            if self._line and self._line[0] == id(who) and self.lock.acquire(blocking=False):
                self._line.popleft()
                self._changed.notify_all()
                return True
            self._changed.wait(timeout)
            return False

    def release(self) -> None:
        with self._changed:
            self.lock.release()
            self._changed.notify_all()


class Engine:
    """Shared by every browser tab of the process (held by st.cache_resource)."""

    def __init__(self) -> None:
        self.runs = RunQueue()
        self.run_lock = self.runs.lock  # held while a run uses the model/GPU
        self.cache = ScoreCache()
