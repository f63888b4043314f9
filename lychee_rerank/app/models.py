"""The models every browser tab of one server uses: each loaded once, kept while memory allows.

Two tabs on two models used to take turns in a one-entry cache, so every click in either tab
reloaded weights (minutes for a 7B model). :class:`ModelPool` keeps every model in use, keyed by
(model, dtype), until their weights together pass a memory budget; then the least recently used
model is dropped (a run still scoring on it keeps it alive until it ends). A tab asking for a
model another tab is loading waits for that load instead of starting a second one. Each model lives in a process
of its own (model_process.py) unless ``LYCHEE_MODEL_PROCESS=0``; one whose process died is loaded again.

The budget is ``LYCHEE_MODEL_MEMORY_GIB`` when set; else 90 % of the first GPU's memory on a CUDA
machine, or half of this machine's RAM on the CPU.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..settings import DEMO_ALIAS, DEMO_MODEL_DIR
from .engine import ModelHandle
from .model_process import ProcessModelHandle, in_own_process

logger = logging.getLogger(__name__)

BUDGET_ENV = "LYCHEE_MODEL_MEMORY_GIB"
Key = tuple[str, str]  # (model as typed, dtype)


def default_budget_bytes() -> int:
    """The memory the pool's weights may use together (see the module docstring)."""
    if os.environ.get(BUDGET_ENV):
        return int(float(os.environ[BUDGET_ENV]) * 1024**3)
    if torch.cuda.is_available():
        return int(0.9 * torch.cuda.get_device_properties(0).total_memory)
    try:
        return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no bound we can read
        return 1 << 62


Handle = ModelHandle | ProcessModelHandle


def load_handle(model: str, dtype: str = "auto") -> Handle:
    """``model`` loaded as the app loads it: in a process of its own unless LYCHEE_MODEL_PROCESS=0."""
    return (ProcessModelHandle if in_own_process() else ModelHandle).load(model, dtype)


@dataclass
class _Entry:
    handle: Handle
    nbytes: int


class ModelPool:
    """Loaded models by (model, dtype), least recently used first; shared by every tab (st.cache_resource)."""

    def __init__(self, budget_bytes: int | None = None,
                 loader: Callable[[str, str], Handle] = load_handle):
        self.budget_bytes = default_budget_bytes() if budget_bytes is None else budget_bytes
        self._loader = loader
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._key_locks: dict[Key, threading.Lock] = {}
        self._loading: set[Key] = set()
        self._evicted: set[Key] = set()
        self._lock = threading.Lock()
        self.loads = 0  # how many times weights were read from disk (a reload shows here)

    def get(self, model: str, dtype: str = "auto") -> Handle:
        """The loaded model, loading it first (once, whichever tab asks) if it is not in memory."""
        key = (model, dtype)
        with self._lock:
            self._drop_if_dead(key)
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key].handle
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # a second tab asking for the same model waits here for the first's load
            with self._lock:
                self._drop_if_dead(key)
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key].handle
                self._loading.add(key)
                # Make room first: loading a second 7B model beside one on a 24 GB card would not fit.
                dropped = self._evict_over_budget(keep=None, extra=self._estimate(model))
            if dropped:
                _release_memory()
            try:
                handle = self._loader(model, dtype)
            finally:
                with self._lock:
                    self._loading.discard(key)
            with self._lock:
                self.loads += 1
                self._entries[key] = _Entry(handle, handle.weight_bytes())
                self._evicted.discard(key)
                dropped = self._evict_over_budget(keep=key)
            if dropped:
                _release_memory()
            return handle

    def status(self, model: str, dtype: str = "auto") -> str:
        """``loaded``, ``loading`` (another tab loads it now), ``evicted`` (dropped earlier for room) or ``new``."""
        key = (model, dtype)
        with self._lock:
            self._drop_if_dead(key)
            if key in self._entries:
                return "loaded"
            if key in self._loading:
                return "loading"
            return "evicted" if key in self._evicted else "new"

    def loaded(self) -> list[Key]:
        """The models in memory, least recently used first."""
        with self._lock:
            return list(self._entries)

    def _drop_if_dead(self, key: Key) -> None:
        """Forget a model whose process ended (a crash, out of memory): the next get() loads it again."""
        if key in self._entries and not self._entries[key].handle.alive:
            logger.warning("model %s (%s) is no longer loaded; loading it again", *key)
            del self._entries[key]
            self._evicted.add(key)

    def _estimate(self, model: str) -> int:
        """The bytes a model about to load will take: its weight files, else the largest model loaded."""
        folder = DEMO_MODEL_DIR if model.strip() == DEMO_ALIAS else Path(model).expanduser()
        if folder.is_dir():
            return sum(f.stat().st_size for f in folder.iterdir() if f.suffix in (".safetensors", ".bin"))
        return max((entry.nbytes for entry in self._entries.values()), default=0)

    def _evict_over_budget(self, keep: Key | None, extra: int = 0) -> list[Key]:
        dropped = []
        total = extra + sum(entry.nbytes for entry in self._entries.values())
        for key in list(self._entries):
            if total <= self.budget_bytes:
                break
            if key == keep:
                continue
            entry = self._entries.pop(key)
            entry.handle.close()  # a model process ends after its current run; in-process weights go with the last use
            total -= entry.nbytes
            self._evicted.add(key)
            dropped.append(key)
            logger.info("unloaded model %s (%s) to stay within the %.1f GiB model budget; set %s to keep more",
                        key[0], key[1], self.budget_bytes / 1024**3, BUDGET_ENV)
        return dropped


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
