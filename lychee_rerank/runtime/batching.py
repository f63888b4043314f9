"""How many documents go into one forward pass: a fixed count, or a token budget from free GPU memory.

``batch_size="auto"`` fills each batch up to a budget of tokens (visual tokens plus the
prompt) derived from the GPU memory free when the run starts and the model's widths;
an out-of-memory error halves the budget for the rest of the run. On the CPU auto means
1: batching buys little there and costs latency. Documents arrive ordered by size, so a
batch holds images of similar size and wastes little on padding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InvalidSettingError
from ..settings import BATCH_AUTO, MERGE_SIZE

AUTO_MEMORY_FRACTION = 0.5  # of the free GPU memory, for one batch's activations
AUTO_MAX_ITEMS = 32  # beyond this a bigger batch no longer speeds a GPU up, only delays the first results
PROMPT_TOKENS = 80  # the judge prompt, instruction and query around each document (a typical query)


@dataclass
class BatchPolicy:
    """A fixed batch size, or (``token_budget`` set) as many documents as fit the budget."""

    size: int
    token_budget: int | None = None
    max_items: int = AUTO_MAX_ITEMS

    @property
    def auto(self) -> bool:
        return self.token_budget is not None

    def halve(self) -> None:
        """After an out-of-memory error: later batches get half the budget (never under one document)."""
        if self.token_budget is not None:
            self.token_budget = max(1, self.token_budget // 2)

    def batches(self, order: Iterable[int], cost: Callable[[int], int]) -> Iterator[list[int]]:
        """Consecutive groups of ``order``; read lazily so a halved budget applies to the next batch."""
        batch: list[int] = []
        tokens = 0
        for index in order:
            if batch and self._full(len(batch), tokens + cost(index)):
                yield batch
                batch, tokens = [], 0
            batch.append(index)
            tokens += cost(index)
        if batch:
            yield batch

    def _full(self, count: int, tokens: int) -> bool:
        if self.token_budget is None:
            return count >= self.size
        return count >= self.max_items or tokens > self.token_budget


def batch_policy(batch_size: int | str, model: Any, device: str) -> BatchPolicy:
    """The policy for ``batch_size`` (a count, or ``"auto"``) on ``device``."""
    if batch_size == BATCH_AUTO:
        if not (device.startswith("cuda") and torch.cuda.is_available()):
            return BatchPolicy(1)
        free, _total = torch.cuda.mem_get_info()
        budget = int(free * AUTO_MEMORY_FRACTION) // bytes_per_token(model.config, model.dtype)
        return BatchPolicy(AUTO_MAX_ITEMS, token_budget=max(1, budget))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidSettingError(f"batch_size must be a whole number of at least 1, or 'auto' (got {batch_size!r})")
    return BatchPolicy(batch_size)


def bytes_per_token(config: Any, dtype: torch.dtype) -> int:
    """A rough upper bound on the activation bytes one token needs at the widest point of a forward pass.

    The language model's MLP (gate, up and their product) and the vision tower's, which sees
    MERGE_SIZE² patches per visual token; the out-of-memory halving covers what this misses.
    """
    width = torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 2
    text = getattr(config, "text_config", config)
    language = 4 * text.hidden_size + 3 * text.intermediate_size
    return width * (language + MERGE_SIZE**2 * _vision_width(getattr(config, "vision_config", None)))


def _vision_width(vision: Any) -> int:
    if vision is None:
        return 0
    # Qwen2.5-VL names it hidden_size; Qwen2-VL embed_dim, with mlp_ratio instead of intermediate_size.
    hidden = getattr(vision, "hidden_size", None) or getattr(vision, "embed_dim", 0)
    intermediate = getattr(vision, "intermediate_size", None) or int(hidden * getattr(vision, "mlp_ratio", 4))
    return 4 * hidden + 3 * intermediate
