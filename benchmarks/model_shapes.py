"""Model shapes for the benchmarks: the published architectures and small CPU models.

``--model qwen2.5-vl-7b-arch`` (or ``-3b-arch``, ``qwen3-vl-reranker-2b-arch``, ``-8b-arch``)
builds a model with exactly the published architecture but random weights, created directly on the GPU in
bfloat16 (no download, no 16 GB of host RAM first), plus a small tokenizer
trained locally in which ``yes`` and ``no`` are single tokens. The embedding
table keeps the published 152,064 rows even though the tokenizer is smaller, so
the compute and memory match the real model. Scores from such a model are
meaningless; its speed and memory are what a downloaded checkpoint of that
size shows. The published dimensions live in ``lychee_rerank.demo.published``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from lychee_rerank.demo.architecture import (
    ModelShape,
    build_config,
    build_processor,
    new_model,
    save_random_model,
    train_tokenizer,
)
from lychee_rerank.demo.published import ARCH_TOKENIZER_VOCAB, PUBLISHED_VOCAB_SIZE, QWEN25_VL_3B, QWEN25_VL_7B
from lychee_rerank.demo.qwen3_architecture import (
    QWEN3_VL_RERANKER_2B,
    QWEN3_VL_RERANKER_8B,
    Qwen3Shape,
    build_qwen3_config,
    build_qwen3_processor,
    new_qwen3_model,
)
from lychee_rerank.errors import InvalidSettingError
from lychee_rerank.runtime.loading import LoadedModel
from lychee_rerank.settings import DEFAULT_MAX_PIXELS

PUBLISHED_PARAMS_B = {QWEN25_VL_7B.name: 8.29, QWEN25_VL_3B.name: 3.75}  # the hub's counts, for a sanity check
# Qwen3-VL-Reranker's published shapes with a locally trained tokenizer and the published 151,936 rows.
QWEN3_ARCH_SHAPES: dict[str, Qwen3Shape] = {
    f"{shape.name}-arch": dataclasses.replace(shape, name=f"{shape.name}-arch", tokenizer_vocab=ARCH_TOKENIZER_VOCAB)
    for shape in (QWEN3_VL_RERANKER_2B, QWEN3_VL_RERANKER_8B)
}
ARCH_SHAPES: dict[str, ModelShape | Qwen3Shape] = {
    **{shape.name: shape for shape in (QWEN25_VL_7B, QWEN25_VL_3B)}, **QWEN3_ARCH_SHAPES,
}

# ~47M parameters (text 512 wide x 8 layers, vision 384 wide x 8 blocks): the size class of the
# 41M-parameter reference model the CPU acceptance figures were taken on.
MID = ModelShape(
    name="mid",
    text_hidden=512,
    text_layers=8,
    text_heads=8,
    text_kv_heads=4,
    text_intermediate=1408,
    vision_hidden=384,
    vision_depth=8,
    vision_heads=6,
    vision_intermediate=1024,
    tokenizer_vocab=2000,
    note="mid-size random Qwen2.5-VL for CPU benchmarks (untrained)",
)
TINY = ModelShape()
# Built once into a folder and loaded through Reranker.from_pretrained, like a downloaded model.
BUILT_SHAPES: dict[str, ModelShape] = {"tiny": TINY, "mid": MID}

# The mid model with the published 152,064-row vocabulary (119M parameters, 78M of them the tied
# embedding / LM head): decoding pays for the full-vocabulary LM head at every generated token, as
# the real models do, while yes/no asks for two logits at one position (logits_to_keep=1).
MID_QWEN_VOCAB = dataclasses.replace(
    MID,
    name="mid-qwen-vocab",
    tokenizer_vocab=ARCH_TOKENIZER_VOCAB,
    vocab_size=PUBLISHED_VOCAB_SIZE,
    note="mid-size Qwen2.5-VL with the published vocabulary (random weights)",
)
# ~46M parameters, 39M of them the published vocabulary's tied embedding: a small decoder over Qwen's
# real vocabulary, so every generated token pays for the 152,064-wide LM head as real models do.
SMALL_QWEN_VOCAB = ModelShape(
    name="small-qwen-vocab",
    text_hidden=256,
    text_layers=4,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=704,
    vision_hidden=256,
    vision_depth=4,
    vision_heads=4,
    vision_intermediate=704,
    tokenizer_vocab=ARCH_TOKENIZER_VOCAB,
    vocab_size=PUBLISHED_VOCAB_SIZE,
    note="small Qwen2.5-VL with the published vocabulary (random weights)",
)
# Built in memory on any device (no folder).
IN_MEMORY_SHAPES: dict[str, ModelShape] = {shape.name: shape for shape in (MID_QWEN_VOCAB, SMALL_QWEN_VOCAB)}


def require_cuda(what: str) -> None:
    """Refuse at once (no silent CPU fallback) when CUDA is not available."""
    if not torch.cuda.is_available():
        raise InvalidSettingError(
            f"{what} needs a CUDA GPU, and PyTorch sees none (torch {torch.__version__}, "
            f"cuda build {torch.version.cuda or 'no'}); a random {what} on the CPU would take hours per "
            "image, so this refuses rather than fall back. Use --model mid or tiny on the CPU."
        )


def count_parameters(config: Any) -> int:
    """Parameters of a Qwen2.5-VL built from ``config``, counted on the meta device (no memory)."""
    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    return sum(p.numel() for p in model.parameters())


def build_random_model(
    shape: ModelShape | Qwen3Shape,
    *,
    device: str,
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedModel:
    """Model + processor of ``shape`` with random weights created directly on ``device``, ready for ``Reranker``."""
    tokenizer = train_tokenizer(shape.tokenizer_vocab)
    torch.manual_seed(seed)
    if isinstance(shape, Qwen3Shape):
        model = new_qwen3_model(build_qwen3_config(shape, tokenizer), device=device, dtype=dtype)
        processor = build_qwen3_processor(tokenizer)
    else:
        model = new_model(build_config(shape, tokenizer), device=device, dtype=dtype)
        processor = build_processor(tokenizer, max_pixels=max_pixels)
    processor.tokenizer.padding_side = "left"
    notes = [f"{shape.note}: scores are meaningless, speed and memory are not"]
    return LoadedModel(model, processor, shape.name, f"(built in memory: {shape.name})", device, dtype, notes)


def load_arch_model(
    name: str, *, device: str = "cuda", dtype: torch.dtype = torch.bfloat16, **kwargs: Any
) -> LoadedModel:
    """``qwen2.5-vl-7b-arch`` / ``-3b-arch`` on a CUDA GPU; refuses at once without one."""
    if name not in ARCH_SHAPES:
        raise InvalidSettingError(f"unknown architecture {name!r}; choose one of {', '.join(ARCH_SHAPES)}")
    require_cuda(name)
    if not device.startswith("cuda"):
        raise InvalidSettingError(f"{name} runs on the GPU only (got device {device!r}); use --device cuda or auto")
    return build_random_model(ARCH_SHAPES[name], device=device, dtype=dtype, **kwargs)


def built_model_dir(name: str, cache_dir: str | Path) -> Path:
    """The folder of the 'tiny' or 'mid' random model, built once under ``cache_dir``."""
    shape = BUILT_SHAPES[name]
    key = hashlib.sha256(json.dumps(dataclasses.asdict(shape), sort_keys=True).encode()).hexdigest()[:10]
    folder = Path(cache_dir) / f"{name}-{key}"
    if not (folder / "config.json").exists():
        save_random_model(folder, shape, seed=0, reranker=True)
    return folder
