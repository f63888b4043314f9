"""Model shapes for the benchmarks: the published Qwen2.5-VL-7B/3B dimensions and a mid-size CPU model.

``--model qwen2.5-vl-7b-arch`` (or ``-3b-arch``) builds a model with exactly the
published architecture but random weights, created directly on the GPU in
bfloat16 (no download, no 16 GB of host RAM first), plus a small tokenizer
trained locally in which ``yes`` and ``no`` are single tokens. The embedding
table keeps the published 152,064 rows even though the tokenizer is smaller, so
the compute and memory match the real model. Scores from such a model are
meaningless; its speed and memory are what a downloaded checkpoint of that
size shows.

Published dimensions, from the models' ``config.json`` on the Hugging Face hub
(Qwen/Qwen2.5-VL-7B-Instruct, Qwen/Qwen2.5-VL-3B-Instruct), cross-checked with
transformers' ``Qwen2_5_VLVisionConfig`` defaults (depth 32, hidden 1280,
intermediate 3420, 16 heads, window 112, fullatt_block_indexes [7, 15, 23, 31])
and the 7B module printout (Embedding(152064, 3584), k_proj 3584->512, i.e.
4 KV heads of 128, gate_proj 3584->18944).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidSettingError
from .tiny_model import TinyModelSpec, build_processor, build_tiny_model, train_tokenizer, wired_config

logger = logging.getLogger(__name__)

PUBLISHED_VOCAB_SIZE = 152064
ARCH_TOKENIZER_VOCAB = 2000  # the locally trained tokenizer; the config keeps the published vocab


@dataclass(frozen=True)
class ArchSpec:
    """The dimensions of a published Qwen2.5-VL checkpoint (text decoder + vision tower)."""

    name: str
    hf_id: str
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    text_intermediate: int
    tie_word_embeddings: bool
    vocab_size: int = PUBLISHED_VOCAB_SIZE
    rope_theta: float = 1000000.0
    max_position_embeddings: int = 128000
    rms_norm_eps: float = 1e-6
    mrope_section: tuple[int, int, int] = (16, 24, 24)
    vision_hidden: int = 1280
    vision_depth: int = 32
    vision_heads: int = 16
    vision_intermediate: int = 3420
    vision_out_hidden: int = 0  # = text_hidden
    fullatt_block_indexes: tuple[int, ...] = (7, 15, 23, 31)
    window_size: int = 112
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    tokens_per_second: int = 2
    published_params_b: float = 0.0  # the hub's parameter count, for a sanity check
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def out_hidden(self) -> int:
        return self.vision_out_hidden or self.text_hidden


QWEN25_VL_7B = ArchSpec(
    name="qwen2.5-vl-7b-arch",
    hf_id="Qwen/Qwen2.5-VL-7B-Instruct",
    text_hidden=3584,
    text_layers=28,
    text_heads=28,
    text_kv_heads=4,
    text_intermediate=18944,
    tie_word_embeddings=False,
    vision_out_hidden=3584,
    published_params_b=8.29,
)

QWEN25_VL_3B = ArchSpec(
    name="qwen2.5-vl-3b-arch",
    hf_id="Qwen/Qwen2.5-VL-3B-Instruct",
    text_hidden=2048,
    text_layers=36,
    text_heads=16,
    text_kv_heads=2,
    text_intermediate=11008,
    tie_word_embeddings=True,
    vision_out_hidden=2048,
    published_params_b=3.75,
)

ARCH_SPECS: dict[str, ArchSpec] = {spec.name: spec for spec in (QWEN25_VL_7B, QWEN25_VL_3B)}

# ~47M parameters (text 512 wide x 8 layers, vision 384 wide x 8 blocks): the size class of the
# 41M-parameter reference model the CPU acceptance figures were taken on.
MID_SPEC = TinyModelSpec(
    text_hidden=512,
    text_layers=8,
    text_heads=8,
    text_kv_heads=4,
    text_intermediate=1408,
    vision_hidden=384,
    vision_depth=8,
    vision_heads=6,
    vision_intermediate=1024,
    vocab_size=2000,
    tie_word_embeddings=True,
    architecture_note="mid-size random Qwen2.5-VL for CPU benchmarks (untrained)",
)

BUILT_SPECS: dict[str, TinyModelSpec] = {"tiny": TinyModelSpec(), "mid": MID_SPEC}

# The same mid-size model with the published 152,064-row vocabulary (119M parameters, 78M of them the
# tied embedding / LM head). Decoding then pays for the full-vocabulary LM head at every generated
# token, as the real models do, while yes/no asks for two logits at one position (logits_to_keep=1).
# Runs on any device (built in memory); shows how much of generate's cost is the vocabulary.
MID_QWEN_VOCAB = ArchSpec(
    name="mid-qwen-vocab",
    hf_id="mid-size Qwen2.5-VL with the published vocabulary",
    text_hidden=MID_SPEC.text_hidden,
    text_layers=MID_SPEC.text_layers,
    text_heads=MID_SPEC.text_heads,
    text_kv_heads=MID_SPEC.text_kv_heads,
    text_intermediate=MID_SPEC.text_intermediate,
    tie_word_embeddings=True,
    rope_theta=10000.0,
    max_position_embeddings=4096,
    mrope_section=(16, 8, 8),  # what build_config gives mid (head_dim 64)
    vision_hidden=MID_SPEC.vision_hidden,
    vision_depth=MID_SPEC.vision_depth,
    vision_heads=MID_SPEC.vision_heads,
    vision_intermediate=MID_SPEC.vision_intermediate,
    vision_out_hidden=MID_SPEC.text_hidden,
    fullatt_block_indexes=(MID_SPEC.vision_depth - 1,),
)
# ~46M parameters, 39M of them the published vocabulary's tied embedding: the shape class of the
# 41M-parameter reference model of the CPU acceptance figures (a small decoder over Qwen's real
# vocabulary, so every generated token pays for the 152,064-wide LM head as real models do).
SMALL_QWEN_VOCAB = ArchSpec(
    name="small-qwen-vocab",
    hf_id="small Qwen2.5-VL with the published vocabulary",
    text_hidden=256,
    text_layers=4,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=704,
    tie_word_embeddings=True,
    rope_theta=10000.0,
    max_position_embeddings=4096,
    mrope_section=(16, 8, 8),  # head_dim 64
    vision_hidden=256,
    vision_depth=4,
    vision_heads=4,
    vision_intermediate=704,
    vision_out_hidden=256,
    fullatt_block_indexes=(3,),
)
ANY_DEVICE_SPECS: dict[str, ArchSpec] = {spec.name: spec for spec in (MID_QWEN_VOCAB, SMALL_QWEN_VOCAB)}


def is_arch_name(name: str) -> bool:
    return name in ARCH_SPECS


def require_cuda(what: str) -> None:
    """Refuse at once (no silent CPU fallback) when CUDA is not available."""
    if not torch.cuda.is_available():
        raise InvalidSettingError(
            f"{what} needs a CUDA GPU, and PyTorch sees none (torch {torch.__version__}, "
            f"cuda build {torch.version.cuda or 'no'}); a random {what} on the CPU would take hours per "
            "image, so this refuses rather than fall back. Use --model mid or tiny on the CPU."
        )


def build_arch_config(spec: ArchSpec, tokenizer: Any, *, vocab_size: int | None = None) -> Any:
    """A Qwen2_5_VLConfig with the spec's dimensions, wired to ``tokenizer``'s special-token ids."""
    head_dim = spec.text_hidden // spec.text_heads
    if sum(spec.mrope_section) != head_dim // 2:
        raise ValueError(f"mrope_section {spec.mrope_section} must sum to head_dim/2 = {head_dim // 2}")
    text = {
        "vocab_size": vocab_size or spec.vocab_size,
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_kv_heads,
        "max_position_embeddings": spec.max_position_embeddings,
        "rms_norm_eps": spec.rms_norm_eps,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": spec.rope_theta,
            "mrope_section": list(spec.mrope_section),
        },
    }
    vision = {
        "depth": spec.vision_depth,
        "hidden_size": spec.vision_hidden,
        "intermediate_size": spec.vision_intermediate,
        "num_heads": spec.vision_heads,
        "out_hidden_size": spec.out_hidden,
        "fullatt_block_indexes": list(spec.fullatt_block_indexes),
        "window_size": spec.window_size,
        "patch_size": spec.patch_size,
        "spatial_merge_size": spec.spatial_merge_size,
        "temporal_patch_size": spec.temporal_patch_size,
        "tokens_per_second": spec.tokens_per_second,
    }
    config = wired_config(tokenizer, text, vision, tie_word_embeddings=spec.tie_word_embeddings)
    config.lychee_reranker = {"kind": "yesno", "note": f"random weights, {spec.hf_id} architecture"}
    return config


def count_parameters(config: Any) -> int:
    """Parameters of a Qwen2.5-VL built from ``config``, counted on the meta device (no memory)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    with torch.device("meta"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config)
    return sum(p.numel() for p in model.parameters())


def build_random_model(
    spec: ArchSpec,
    *,
    device: str,
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    max_pixels: int = 1280 * 28 * 28,
    vocab_size: int | None = None,
) -> Any:
    """Model + processor of ``spec`` with random weights created directly on ``device``.

    Returns a :class:`lychee_rerank.loading.LoadedModel`, which ``Reranker(...)`` takes.
    Works on any device (the tests build a shrunken spec on the CPU); the
    ``--model *-arch`` entry points go through :func:`load_arch_model`, which requires CUDA.
    """
    from transformers import Qwen2_5_VLForConditionalGeneration

    from .loading import LoadedModel

    tokenizer = train_tokenizer(ARCH_TOKENIZER_VOCAB)
    config = build_arch_config(spec, tokenizer, vocab_size=vocab_size)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.eval()
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    processor = build_processor(tokenizer, max_pixels=max_pixels)
    processor.tokenizer.padding_side = "left"
    notes = [f"random weights with the {spec.hf_id} architecture; scores are meaningless, speed and memory are not"]
    return LoadedModel(model, processor, spec.name, f"(built in memory: {spec.hf_id} shape)", device, dtype, notes)


def load_arch_model(name: str, *, device: str = "cuda", dtype: torch.dtype = torch.bfloat16, **kwargs: Any) -> Any:
    """``qwen2.5-vl-7b-arch`` / ``-3b-arch`` on a CUDA GPU; refuses at once without one."""
    if name not in ARCH_SPECS:
        raise InvalidSettingError(f"unknown architecture {name!r}; choose one of {', '.join(ARCH_SPECS)}")
    require_cuda(name)
    if not device.startswith("cuda"):
        raise InvalidSettingError(f"{name} runs on the GPU only (got device {device!r}); use --device cuda or auto")
    return build_random_model(ARCH_SPECS[name], device=device, dtype=dtype, **kwargs)


def built_model_dir(name: str, cache_dir: str | Path) -> Path:
    """The folder of the 'tiny' or 'mid' random model, built once under ``cache_dir``."""
    spec = BUILT_SPECS[name]
    key = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:10]
    folder = Path(cache_dir) / f"{name}-{key}"
    if not (folder / "config.json").exists():
        build_tiny_model(folder, spec, seed=0, reranker=True)
    return folder
