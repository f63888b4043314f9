"""Build Qwen2.5-VL models of any shape offline: tokenizer, processor, config, weights (DESIGN.md §5).

The demo reranker is trained from one of these; the tests build tiny random
ones and the benchmarks the published 7B/3B shapes. A saved folder holds model
+ processor and loads through ``Reranker.from_pretrained`` exactly as a
downloaded model does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Tokenizer,
    Qwen2VLImageProcessor,
    Qwen2VLVideoProcessor,
)

from ..scoring.prompts import GENERATE_SYSTEM_PROMPT, GENERATE_USER_TEMPLATE, INSTRUCTION_PRESETS, JUDGE_SYSTEM_PROMPT
from ..scoring.yesno import yes_no_token_ids
from ..settings import DEFAULT_MAX_PIXELS, MIN_PIXELS

logger = logging.getLogger(__name__)

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen2-VL's own chat template: image parts become <|vision_start|><|image_pad|><|vision_end|>.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Words the tokenizer should know well; yes/no must end up single tokens.
BASE_CORPUS = [
    JUDGE_SYSTEM_PROMPT,
    GENERATE_SYSTEM_PROMPT,
    GENERATE_USER_TEMPLATE,
    *INSTRUCTION_PRESETS.values(),
    "yes no yes no Yes No",
    "<Instruct>: <Query>: <Document>: Score: 8.6 分数 得分 评分 分",
    "red green blue yellow purple orange black white circle square triangle star cross heart",
    "红色 绿色 蓝色 黄色 紫色 橙色 黑色 白色 圆形 正方形 三角形 星形 十字 心形 一个 一只",
    "红色连衣裙 on a beach 哑光正红色唇膏 特写 纯白背景 cyberpunk Tokyo rainy night a cat dog",
    "0 1 2 3 4 5 6 7 8 9 10 . , : ; ! ? ( ) / -",
]


@dataclass(frozen=True)
class ModelShape:
    """The dimensions of a Qwen2.5-VL (text decoder + vision tower). Defaults give a ~0.5 MB test model.

    ``vocab_size`` is the embedding table's row count; None means the locally trained
    tokenizer's length (``tokenizer_vocab`` merges plus the special tokens). The
    published shapes keep the published 152,064 rows, so compute and memory match.
    ``mrope_section`` None derives a valid split of head_dim / 2; ``fullatt_block_indexes``
    None puts full attention in the last vision block.
    """

    name: str = "tiny"
    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 128
    vision_hidden: int = 32
    vision_depth: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 64
    tokenizer_vocab: int = 600
    vocab_size: int | None = None
    tie_word_embeddings: bool = True
    rope_theta: float = 10000.0
    max_position_embeddings: int = 4096
    rms_norm_eps: float = 1e-5  # transformers' default; the published checkpoints use 1e-6
    mrope_section: tuple[int, int, int] | None = None
    fullatt_block_indexes: tuple[int, ...] | None = None
    window_size: int = 112
    tokens_per_second: int = 4
    note: str = "tiny random Qwen2.5-VL (untrained)"
    recommended_max_pixels: int | None = None  # declared in config.json: the scale the model was trained at

    @property
    def head_dim(self) -> int:
        return self.text_hidden // self.text_heads

    def rope_sections(self) -> list[int]:
        """(temporal, height, width) rotary sections; they must sum to head_dim / 2."""
        half = self.head_dim // 2
        section = list(self.mrope_section or (half - 2 * (half // 4), half // 4, half // 4))
        if sum(section) != half:
            raise ValueError(f"mrope_section {section} must sum to head_dim/2 = {half}")
        return section


def train_tokenizer(vocab_size: int, extra_corpus: list[str] | None = None) -> Qwen2Tokenizer:
    """Train a byte-level BPE locally and wrap it as a Qwen2 tokenizer with Qwen's special tokens."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator((BASE_CORPUS + list(extra_corpus or [])) * 20, trainer=trainer)
    tokenizer = Qwen2Tokenizer(vocab=bpe.get_vocab(), merges=_merges_of(bpe), model_max_length=32768)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    yes_no_token_ids(tokenizer)  # the scorer's own check: yes/no must be single tokens
    return tokenizer


def _merges_of(bpe: Tokenizer) -> list[tuple[str, str]]:
    # The trained model exposes its merges only through its JSON form.
    merges = json.loads(bpe.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def build_processor(tokenizer: Qwen2Tokenizer, max_pixels: int = DEFAULT_MAX_PIXELS) -> Qwen2_5_VLProcessor:
    """The processor Qwen2.5-VL models ship: image + video processors, tokenizer, chat template."""
    return Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(min_pixels=MIN_PIXELS, max_pixels=max_pixels),
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )


def build_config(shape: ModelShape, tokenizer: Qwen2Tokenizer, *, reranker: bool = True) -> Qwen2_5_VLConfig:
    """A Qwen2_5_VLConfig of ``shape`` with every special-token id taken from ``tokenizer``.

    ``reranker=True`` marks it as a yes/no reranker (what lychee-rerank-mm is), so
    ``mode="auto"`` picks yes/no; False leaves a plain Instruct-style model.
    """
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=_text_config(shape, len(tokenizer), ids),
        vision_config=_vision_config(shape),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=shape.tie_word_embeddings,
    )
    if reranker:
        config.lychee_reranker = {"kind": "yesno", "note": shape.note}
        if shape.recommended_max_pixels:
            config.lychee_reranker["max_pixels"] = shape.recommended_max_pixels
    return config


def _text_config(shape: ModelShape, tokenizer_length: int, ids: dict[str, int]) -> dict:
    return {
        "vocab_size": shape.vocab_size or tokenizer_length,
        "hidden_size": shape.text_hidden,
        "intermediate_size": shape.text_intermediate,
        "num_hidden_layers": shape.text_layers,
        "num_attention_heads": shape.text_heads,
        "num_key_value_heads": shape.text_kv_heads,
        "max_position_embeddings": shape.max_position_embeddings,
        "rms_norm_eps": shape.rms_norm_eps,
        "rope_parameters": {
            "rope_type": "default", "rope_theta": shape.rope_theta, "mrope_section": shape.rope_sections(),
        },
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": shape.tie_word_embeddings,
    }


def _vision_config(shape: ModelShape) -> dict:
    return {
        "depth": shape.vision_depth,
        "hidden_size": shape.vision_hidden,
        "intermediate_size": shape.vision_intermediate,
        "num_heads": shape.vision_heads,
        "out_hidden_size": shape.text_hidden,
        "fullatt_block_indexes": list(shape.fullatt_block_indexes or (shape.vision_depth - 1,)),
        "window_size": shape.window_size,
        "tokens_per_second": shape.tokens_per_second,
    }


def new_model(
    config: Qwen2_5_VLConfig, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Qwen2_5_VLForConditionalGeneration:
    """Random weights for ``config``, created directly on ``device`` (no host copy of a 7B model first).

    Seed torch before calling for reproducible weights.
    """
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    return model.eval()


def save_random_model(
    out_dir: str | Path,
    shape: ModelShape | None = None,
    *,
    seed: int = 0,
    reranker: bool = True,
    extra_corpus: list[str] | None = None,
    tokenizer: Qwen2Tokenizer | None = None,
) -> Path:
    """Create a random Qwen2.5-VL folder of ``shape`` at ``out_dir`` and return its path.

    ``tokenizer`` replaces the locally trained one (e.g. Qwen's real vocabulary; it needs
    the chat template and Qwen's special tokens).
    """
    shape = shape or ModelShape()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = tokenizer or train_tokenizer(shape.tokenizer_vocab, extra_corpus)
    new_model(build_config(shape, tokenizer, reranker=reranker)).save_pretrained(out)
    build_processor(tokenizer).save_pretrained(out)
    logger.info("built %s at %s", shape.note, out)
    return out
