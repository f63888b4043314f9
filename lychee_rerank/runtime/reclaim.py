"""Give accelerator memory back between images without paying for it on every image."""

from __future__ import annotations

import gc
import time

import torch

EMPTY_CACHE_INTERVAL_S = 0.8
LOW_FREE_MEMORY_BYTES = 2 * 1024**3


class MemoryReclaimer:
    """Calls torch.cuda.empty_cache() at most once per interval, or at once when free memory runs low."""

    def __init__(self, interval_s: float = EMPTY_CACHE_INTERVAL_S, low_free_bytes: int = LOW_FREE_MEMORY_BYTES):
        self.interval_s = interval_s
        self.low_free_bytes = low_free_bytes
        self._last = 0.0
        self.reclaims = 0

    def step(self) -> bool:
        """Reclaim if due; return whether the cache was emptied."""
        if not torch.cuda.is_available():
            return False
        now = time.monotonic()
        free, _total = torch.cuda.mem_get_info()
        if now - self._last < self.interval_s and free >= self.low_free_bytes:
            return False
        torch.cuda.empty_cache()
        self._last = now
        self.reclaims += 1
        return True

    def after_oom(self) -> None:
        """Free everything we can after an out-of-memory error."""
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self._last = time.monotonic()
