"""The published architectures, with random weights: the shapes behind `lychee-rerank models` and the GPU benchmarks.

Published dimensions, from the models' ``config.json`` on the Hugging Face hub
(Qwen/Qwen2.5-VL-7B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct), cross-checked with
transformers' ``Qwen2_5_VLVisionConfig`` defaults (depth 32, hidden 1280,
intermediate 3420, 16 heads, window 112, fullatt_block_indexes [7, 15, 23, 31])
and the 7B module printout (Embedding(152064, 3584), k_proj 3584->512, i.e.
4 KV heads of 128, gate_proj 3584->18944). Qwen3-VL-Reranker-2B/-8B and Qwen2-VL-2B
(MonoQwen2-VL's base) are in :mod:`.qwen3_architecture`. Parameters are counted by
building each architecture on the meta device (no memory), never typed in.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForImageTextToText

from .architecture import SPECIAL_TOKENS, ModelShape, build_config
from .qwen3_architecture import (
    QWEN2_VL_2B,
    QWEN3_VL_RERANKER_2B,
    QWEN3_VL_RERANKER_8B,
    build_qwen2_vl_config,
    build_qwen3_config,
)

PUBLISHED_VOCAB_SIZE = 152064
ARCH_TOKENIZER_VOCAB = 2000  # the locally trained tokenizer; the config keeps the published vocab


def _published(name: str, hf_id: str, **dims: Any) -> ModelShape:
    """A shape with the published vision tower, rope and vocabulary; ``dims`` gives the text decoder."""
    return ModelShape(
        name=name,
        vision_hidden=1280,
        vision_depth=32,
        vision_heads=16,
        vision_intermediate=3420,
        fullatt_block_indexes=(7, 15, 23, 31),
        tokenizer_vocab=ARCH_TOKENIZER_VOCAB,
        vocab_size=PUBLISHED_VOCAB_SIZE,
        rope_theta=1000000.0,
        max_position_embeddings=128000,
        rms_norm_eps=1e-6,
        mrope_section=(16, 24, 24),
        tokens_per_second=2,
        note=f"random weights, {hf_id} architecture",
        **dims,
    )


QWEN25_VL_7B = _published(
    "qwen2.5-vl-7b-arch",
    "Qwen/Qwen2.5-VL-7B-Instruct",
    text_hidden=3584,
    text_layers=28,
    text_heads=28,
    text_kv_heads=4,
    text_intermediate=18944,
    tie_word_embeddings=False,
)
QWEN25_VL_3B = _published(
    "qwen2.5-vl-3b-arch",
    "Qwen/Qwen2.5-VL-3B-Instruct",
    text_hidden=2048,
    text_layers=36,
    text_heads=16,
    text_kv_heads=2,
    text_intermediate=11008,
    tie_word_embeddings=True,
)


class _PublishedIds:
    """Stands in for a tokenizer where only token ids are read (they do not change a parameter count)."""

    def convert_tokens_to_ids(self, token: str) -> int:
        return 151643 + SPECIAL_TOKENS.index(token)

    def __len__(self) -> int:
        return 151665


def published_config(architecture: str) -> Any:
    """The config of a published architecture by its name (``qwen2.5-vl-7b-arch``, ``qwen3-vl-reranker-2b``...)."""
    ids = _PublishedIds()
    builders = {
        QWEN25_VL_7B.name: lambda: build_config(QWEN25_VL_7B, ids),
        QWEN25_VL_3B.name: lambda: build_config(QWEN25_VL_3B, ids),
        QWEN3_VL_RERANKER_2B.name: lambda: build_qwen3_config(QWEN3_VL_RERANKER_2B, ids),
        QWEN3_VL_RERANKER_8B.name: lambda: build_qwen3_config(QWEN3_VL_RERANKER_8B, ids),
        "qwen2-vl-2b": lambda: build_qwen2_vl_config(QWEN2_VL_2B, ids),
    }
    return builders[architecture]()


def parameter_count(architecture: str) -> int:
    """Parameters of a published architecture, counted on the meta device."""
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(published_config(architecture))
    return sum(p.numel() for p in model.parameters())
