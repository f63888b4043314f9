"""Build Qwen3-VL and Qwen2-VL models of any shape offline (DESIGN.md §5), beside architecture.py's Qwen2.5-VL.

Qwen3-VL is the architecture of Qwen3-VL-Reranker (16 px patches merged 2×2, deepstack
features from chosen vision blocks added into the first text layers); Qwen2-VL that of
MonoQwen2-VL's base model. The tests build tiny random ones; the benchmarks the published shapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    Qwen2Tokenizer,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLForConditionalGeneration,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

from .architecture import CHAT_TEMPLATE, SPECIAL_TOKENS, train_tokenizer

logger = logging.getLogger(__name__)

QWEN3_MIN_PIXELS, QWEN3_MAX_PIXELS = 4 * 32 * 32, 1800 * 32 * 32  # Qwen3-VL-Reranker's recipe


@dataclass(frozen=True)
class Qwen3Shape:
    """The dimensions of a Qwen3-VL. Defaults give a ~0.3M-parameter test model (DESIGN.md §5)."""

    name: str = "tiny-qwen3"
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    head_dim: int = 16
    text_intermediate: int = 128
    vision_hidden: int = 32
    vision_depth: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 64
    deepstack_visual_indexes: tuple[int, ...] = (0,)
    num_position_embeddings: int = 64  # the vision tower's learned position grid (8×8 here; 48×48 published)
    tokenizer_vocab: int = 600
    vocab_size: int | None = None  # None: the tokenizer's length
    tie_word_embeddings: bool = True
    rope_theta: float = 5_000_000.0
    rms_norm_eps: float = 1e-6
    note: str = "tiny random Qwen3-VL (untrained)"

    def mrope_section(self) -> list[int]:
        half = self.head_dim // 2
        return [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]


# The published Qwen3-VL-Reranker shapes (their Qwen3-VL-2B/8B bases' config.json); random weights measure them.
QWEN3_VL_RERANKER_2B = Qwen3Shape(
    name="qwen3-vl-reranker-2b", text_hidden=2048, text_layers=28, text_heads=16, text_kv_heads=8, head_dim=128,
    text_intermediate=6144, vision_hidden=1024, vision_depth=24, vision_heads=16, vision_intermediate=4096,
    deepstack_visual_indexes=(5, 11, 17), num_position_embeddings=2304, vocab_size=151936, tie_word_embeddings=True,
    note="Qwen3-VL-Reranker-2B shape, random weights",
)
QWEN3_VL_RERANKER_8B = Qwen3Shape(
    name="qwen3-vl-reranker-8b", text_hidden=4096, text_layers=36, text_heads=32, text_kv_heads=8, head_dim=128,
    text_intermediate=12288, vision_hidden=1152, vision_depth=27, vision_heads=16, vision_intermediate=4304,
    deepstack_visual_indexes=(8, 16, 24), num_position_embeddings=2304, vocab_size=151936, tie_word_embeddings=False,
    note="Qwen3-VL-Reranker-8B shape, random weights",
)


def _ids(tokenizer: Qwen2Tokenizer) -> dict[str, int]:
    return {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}


def build_qwen3_config(shape: Qwen3Shape, tokenizer: Qwen2Tokenizer, *, reranker: bool = True) -> Qwen3VLConfig:
    """A Qwen3VLConfig of ``shape`` with every special-token id taken from ``tokenizer``."""
    ids = _ids(tokenizer)
    config = Qwen3VLConfig(
        text_config={
            "vocab_size": shape.vocab_size or len(tokenizer), "hidden_size": shape.text_hidden,
            "intermediate_size": shape.text_intermediate, "num_hidden_layers": shape.text_layers,
            "num_attention_heads": shape.text_heads, "num_key_value_heads": shape.text_kv_heads,
            "head_dim": shape.head_dim, "max_position_embeddings": 32768, "rms_norm_eps": shape.rms_norm_eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": shape.rope_theta,
                                "mrope_section": shape.mrope_section(), "mrope_interleaved": True},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": shape.tie_word_embeddings,
        },
        vision_config={
            "depth": shape.vision_depth, "hidden_size": shape.vision_hidden,
            "intermediate_size": shape.vision_intermediate, "num_heads": shape.vision_heads,
            "out_hidden_size": shape.text_hidden, "patch_size": 16, "spatial_merge_size": 2,
            "temporal_patch_size": 2, "num_position_embeddings": shape.num_position_embeddings,
            "deepstack_visual_indexes": list(shape.deepstack_visual_indexes),
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=shape.tie_word_embeddings,
    )
    if reranker:
        config.lychee_reranker = {"kind": "yesno", "note": shape.note}
    return config


def build_qwen3_processor(tokenizer: Qwen2Tokenizer) -> Qwen3VLProcessor:
    """The processor Qwen3-VL models ship: 16 px patches merged 2×2."""
    return Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2, min_pixels=QWEN3_MIN_PIXELS,
                                              max_pixels=16384 * 32 * 32),
        tokenizer=tokenizer, video_processor=Qwen3VLVideoProcessor(), chat_template=CHAT_TEMPLATE,
    )


def new_qwen3_model(
    config: Qwen3VLConfig, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Qwen3VLForConditionalGeneration:
    """Random weights for ``config``, made directly on ``device``; seed torch first for reproducible ones."""
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model.eval()


def save_random_qwen3_model(
    out_dir: str | Path, shape: Qwen3Shape | None = None, *, seed: int = 0, reranker: bool = True,
    tokenizer: Qwen2Tokenizer | None = None,
) -> Path:
    """Create a random Qwen3-VL folder of ``shape`` (model + processor) at ``out_dir``."""
    shape = shape or Qwen3Shape()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = tokenizer or train_tokenizer(shape.tokenizer_vocab)
    new_qwen3_model(build_qwen3_config(shape, tokenizer, reranker=reranker)).save_pretrained(out)
    build_qwen3_processor(tokenizer).save_pretrained(out)
    logger.info("built %s at %s", shape.note, out)
    return out


@dataclass(frozen=True)
class Qwen2VLShape:
    """The dimensions of a Qwen2-VL (MonoQwen2-VL's base). Defaults give a tiny test model."""

    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 128
    vision_embed: int = 32
    vision_depth: int = 2
    vision_heads: int = 2
    vision_mlp_ratio: int = 2
    vocab_size: int | None = None
    tie_word_embeddings: bool = True

    def mrope_section(self) -> list[int]:
        half = self.text_hidden // self.text_heads // 2
        return [half - 2 * (half * 3 // 8), half * 3 // 8, half * 3 // 8]


# Qwen/Qwen2-VL-2B-Instruct's config.json dimensions (MonoQwen2-VL-v0.1's base).
QWEN2_VL_2B = Qwen2VLShape(text_hidden=1536, text_layers=28, text_heads=12, text_kv_heads=2, text_intermediate=8960,
                           vision_embed=1280, vision_depth=32, vision_heads=16, vision_mlp_ratio=4, vocab_size=151936)


def build_qwen2_vl_config(shape: Qwen2VLShape, tokenizer: Qwen2Tokenizer) -> Qwen2VLConfig:
    """A Qwen2VLConfig of ``shape`` with every special-token id taken from ``tokenizer``."""
    ids = _ids(tokenizer)
    return Qwen2VLConfig(
        text_config={
            "vocab_size": shape.vocab_size or len(tokenizer), "hidden_size": shape.text_hidden,
            "intermediate_size": shape.text_intermediate, "num_hidden_layers": shape.text_layers,
            "num_attention_heads": shape.text_heads, "num_key_value_heads": shape.text_kv_heads,
            "max_position_embeddings": 32768, "rope_parameters": {
                "rope_type": "default", "rope_theta": 1000000.0, "mrope_section": shape.mrope_section()},
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": shape.tie_word_embeddings,
        },
        vision_config={"depth": shape.vision_depth, "embed_dim": shape.vision_embed, "hidden_size": shape.text_hidden,
                       "num_heads": shape.vision_heads, "mlp_ratio": shape.vision_mlp_ratio},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=shape.tie_word_embeddings,
    )


def save_random_qwen2_vl_model(
    out_dir: str | Path, shape: Qwen2VLShape | None = None, *, seed: int = 0, tokenizer: Qwen2Tokenizer | None = None,
) -> Path:
    """A random Qwen2-VL folder (MonoQwen2-VL's architecture), plain Instruct-style (no reranker mark)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    # MonoQwen reads "True"/"False" from the vocabulary: repeated lines make both whole tokens
    tokenizer = tokenizer or train_tokenizer(800, ["False", "True"] * 20)
    config = build_qwen2_vl_config(shape or Qwen2VLShape(), tokenizer)
    with torch.device("cpu"):
        model = Qwen2VLForConditionalGeneration._from_config(config, dtype=torch.float32, attn_implementation="sdpa")
    model.eval().save_pretrained(out)
    Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056),
                     tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
                     chat_template=CHAT_TEMPLATE).save_pretrained(out)
    return out
