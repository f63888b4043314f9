"""The vision tower's output per image, kept so a second query on the same images skips the tower.

An image's features depend on its pixels and its patch grid, not on the query, so
re-ranking the same pile with a refined query pays only for the language model.
Entries are keyed by (image digest, grid, model, dtype) and held in a bounded LRU
(bytes); :func:`with_cached_features` swaps a batch's ``pixel_values`` for the
features (computing only the missing ones) through transformers'
``mm_encoder_outputs``, and the model then builds its rotary positions from
``image_grid_thw`` as usual. An entry is a tuple of tensors: the merged features,
then (Qwen3-VL) one deepstack feature map per deepstack layer, which its language
model adds at those layers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling

MIB = 1024**2
DEFAULT_CPU_MIB = 256
GPU_FREE_FRACTION = 0.1  # of the GPU memory free at load


class VisionCache:
    """A thread-safe LRU of feature tensors, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._entries: OrderedDict[tuple, tuple[torch.Tensor, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple) -> tuple[torch.Tensor, ...] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple, features: tuple[torch.Tensor, ...]) -> None:
        size = _nbytes(features)
        if size > self.max_bytes:
            return  # larger than the whole cache: never kept
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = tuple(f.detach() for f in features)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= _nbytes(evicted)

    def stats(self) -> dict[str, Any]:
        return {"entries": len(self), "mib": self.bytes / MIB, "max_mib": self.max_bytes / MIB,
                "hits": self.hits, "misses": self.misses}


def default_cache_mib(device: str) -> float:
    """A few hundred MiB on the CPU; a fraction of the free memory on a GPU."""
    if device.startswith("cuda") and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return GPU_FREE_FRACTION * free / MIB
    return DEFAULT_CPU_MIB


def shared_cache(owner: Any, mib: float | None, device: str) -> VisionCache | None:
    """The cache kept on ``owner`` (the loaded model, so every Reranker over its weights shares it).

    ``mib`` None sizes it by default (:func:`default_cache_mib`) when it is first made; 0 means no cache.
    """
    if mib is not None and mib <= 0:
        return None
    cache = getattr(owner, "vision_cache", None)
    if cache is None:
        cache = VisionCache(int((mib if mib is not None else default_cache_mib(device)) * MIB))
        owner.vision_cache = cache
    return cache


def with_cached_features(
    model: Any, inputs: Any, keys: Sequence[str | None], cache: VisionCache, tag: tuple
) -> dict[str, Any]:
    """``inputs`` with ``pixel_values`` replaced by the images' features, cached ones reused.

    ``keys`` holds one digest per image in the batch (None: never cached); ``tag`` names
    the model and dtype so another model's features can never be hit.
    """
    grids = inputs["image_grid_thw"]
    chunks = inputs["pixel_values"].split(grids.prod(-1).tolist())
    entry_keys = [(key, tuple(grid), *tag) if key else None for key, grid in zip(keys, grids.tolist())]
    features = [cache.get(key) if key else None for key in entry_keys]
    # Each missing image once, even when it appears in several samples (a reference image in every one);
    # an image without a key is its own identity.
    identities = [key or ("uncached", i) for i, key in enumerate(entry_keys)]
    first_of: dict[tuple, int] = {}
    for i, found in enumerate(features):
        if found is None:
            first_of.setdefault(identities[i], i)
    if first_of:
        missing = list(first_of.values())
        output = model.model.get_image_features(
            torch.cat([chunks[i] for i in missing]), grids[missing], return_dict=True
        )
        by_identity = dict(zip(first_of, _per_image(output)))
        for identity, feature in by_identity.items():
            if entry_keys[first_of[identity]]:
                cache.put(identity, feature)
        features = [found if found is not None else by_identity[identities[i]] for i, found in enumerate(features)]
    batch = {name: value for name, value in inputs.items() if name != "pixel_values"}
    batch["mm_encoder_outputs"] = {"image": _encoder_output(features)}
    return batch


def _nbytes(features: tuple[torch.Tensor, ...]) -> int:
    return sum(f.numel() * f.element_size() for f in features)


def _per_image(output: Any) -> list[tuple[torch.Tensor, ...]]:
    """The vision output split per image: (features, *deepstack features per layer)."""
    deepstack = getattr(output, "deepstack_features", None) or []
    return [(pooled, *(layer[i] for layer in deepstack)) for i, pooled in enumerate(output.pooler_output)]


def _encoder_output(features: list[tuple[torch.Tensor, ...]]) -> BaseModelOutputWithPooling:
    """What the language model takes as ``mm_encoder_outputs["image"]`` (with deepstack features for Qwen3-VL)."""
    pooled = tuple(f[0] for f in features)
    layers = len(features[0]) - 1 if features else 0
    if not layers:
        return BaseModelOutputWithPooling(pooler_output=pooled)
    # lazy: only Qwen3-VL models have deepstack features
    from transformers.models.qwen3_vl.modeling_qwen3_vl import BaseModelOutputWithDeepstackFeatures

    deepstack = [tuple(f[1 + layer] for f in features) for layer in range(layers)]
    return BaseModelOutputWithDeepstackFeatures(pooler_output=pooled, deepstack_features=deepstack)
