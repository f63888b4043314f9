"""Batch sizes: fixed counts, token budgets, and what "auto" means where."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from lychee_rerank.errors import InvalidSettingError
from lychee_rerank.runtime.batching import BatchPolicy, batch_policy, bytes_per_token


def test_fixed_batches_keep_order_and_size():
    batches = list(BatchPolicy(3).batches(range(7), cost=lambda i: 1))
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]


def test_a_token_budget_fills_batches_and_never_leaves_a_document_out():
    costs = {0: 10, 1: 10, 2: 10, 3: 50, 4: 5}
    batches = list(BatchPolicy(32, token_budget=30).batches([0, 1, 2, 3, 4], costs.__getitem__))
    assert batches == [[0, 1, 2], [3], [4]]  # a document over the budget still goes, alone


def test_halving_applies_to_the_batches_formed_after_it():
    policy = BatchPolicy(32, token_budget=40)
    batches = policy.batches(range(8), cost=lambda i: 10)
    assert next(batches) == [0, 1, 2, 3]
    policy.halve()
    assert list(batches) == [[4, 5], [6, 7]]


def test_auto_is_one_on_the_cpu_and_bad_sizes_are_refused():
    assert batch_policy("auto", model=None, device="cpu") == BatchPolicy(1)
    assert batch_policy(4, model=None, device="cpu") == BatchPolicy(4)
    for bad in (0, -1, 2.5, "8", True):
        with pytest.raises(InvalidSettingError, match="batch_size"):
            batch_policy(bad, model=None, device="cpu")


def test_the_memory_estimate_per_token_for_the_published_7b_widths():
    text = SimpleNamespace(hidden_size=3584, intermediate_size=18944)  # Qwen2.5-VL-7B's config.json
    qwen25 = SimpleNamespace(text_config=text, vision_config=SimpleNamespace(hidden_size=1280, intermediate_size=3420))
    # the language MLP plus four vision patches per visual token, 2 bytes each in bfloat16
    assert bytes_per_token(qwen25, torch.bfloat16) == 2 * (4 * 3584 + 3 * 18944 + 4 * (4 * 1280 + 3 * 3420))
    qwen2 = SimpleNamespace(text_config=text, vision_config=SimpleNamespace(embed_dim=1280, mlp_ratio=4))
    assert bytes_per_token(qwen2, torch.float32) == 4 * (4 * 3584 + 3 * 18944 + 4 * (4 * 1280 + 3 * 5120))
