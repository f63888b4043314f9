"""Accelerator memory reclaim: throttled on a GPU, a no-op without one."""

from __future__ import annotations

import pytest
import torch

from lychee_rerank.runtime.reclaim import MemoryReclaimer


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_no_gpu_no_reclaim():
    reclaimer = MemoryReclaimer()
    assert reclaimer.step() is False and reclaimer.reclaims == 0
    reclaimer.after_oom()  # must not fail without CUDA


@pytest.mark.gpu
def test_empty_cache_at_most_once_per_interval_unless_memory_is_low():
    throttled = MemoryReclaimer(interval_s=60.0, low_free_bytes=0)
    assert throttled.step() is True
    assert throttled.step() is False, "a second call inside the interval is skipped"
    starved = MemoryReclaimer(interval_s=60.0, low_free_bytes=10**15)  # "free memory is always low"
    assert starved.step() is True and starved.step() is True
