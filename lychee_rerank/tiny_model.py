"""Build small Qwen2.5-VL model folders offline (DESIGN.md §5).

Used by the tests (a tiny random model), the benchmarks (a mid-size random
model) and the demo reranker (trained from one of these). The folder holds
model + processor and loads through ``Reranker.from_pretrained`` exactly as a
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

from .prompts import GENERATE_SYSTEM_PROMPT, GENERATE_USER_TEMPLATE, INSTRUCTION_PRESETS, JUDGE_SYSTEM_PROMPT

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
class TinyModelSpec:
    """Dimensions of a small Qwen2.5-VL. Defaults give a ~0.5 MB test model."""

    text_hidden: int = 64
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 128
    vision_hidden: int = 32
    vision_depth: int = 2
    vision_heads: int = 2
    vision_intermediate: int = 64
    vocab_size: int = 600
    tie_word_embeddings: bool = True
    architecture_note: str = "tiny random Qwen2.5-VL (untrained)"


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
    corpus = (BASE_CORPUS + list(extra_corpus or [])) * 20
    bpe.train_from_iterator(corpus, trainer=trainer)
    vocab = bpe.get_vocab()
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=_merges_of(bpe), model_max_length=32768)
    tokenizer.add_special_tokens({"additional_special_tokens": SPECIAL_TOKENS[1:]})
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    for word in ("yes", "no"):
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeError(f"tokenizer splits {word!r} into {ids}; enlarge the corpus or vocab")
    return tokenizer


def _merges_of(bpe: Tokenizer) -> list[tuple[str, str]]:
    # The trained model exposes its merges only through its JSON form.
    merges = json.loads(bpe.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]


def build_processor(tokenizer: Qwen2Tokenizer, max_pixels: int = 1280 * 28 * 28) -> Qwen2_5_VLProcessor:
    """The processor Qwen2.5-VL models ship: image + video processors, tokenizer, chat template."""
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=max_pixels)
    video_processor = Qwen2VLVideoProcessor()
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


def wired_config(tokenizer: Qwen2Tokenizer, text: dict, vision: dict, *, tie_word_embeddings: bool) -> Qwen2_5_VLConfig:
    """A Qwen2_5_VLConfig from text/vision dimensions, with every special-token id taken from ``tokenizer``."""
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    text_config = {
        **text,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": tie_word_embeddings,
    }
    return Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie_word_embeddings,
    )


def build_config(spec: TinyModelSpec, tokenizer: Qwen2Tokenizer) -> Qwen2_5_VLConfig:
    """A Qwen2.5-VL config with small text and vision towers wired to the tokenizer's ids."""
    head_dim = spec.text_hidden // spec.text_heads
    # mrope_section (temporal, height, width) must sum to head_dim / 2.
    half = head_dim // 2
    section = [half - 2 * (half // 4), half // 4, half // 4]
    text = {
        "vocab_size": len(tokenizer),
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_kv_heads,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
    }
    vision = {
        "depth": spec.vision_depth,
        "hidden_size": spec.vision_hidden,
        "intermediate_size": spec.vision_intermediate,
        "num_heads": spec.vision_heads,
        "out_hidden_size": spec.text_hidden,
        "fullatt_block_indexes": [spec.vision_depth - 1],
        "window_size": 112,
    }
    return wired_config(tokenizer, text, vision, tie_word_embeddings=spec.tie_word_embeddings)


def build_tiny_model(
    out_dir: str | Path,
    spec: TinyModelSpec | None = None,
    *,
    seed: int = 0,
    reranker: bool = True,
    extra_corpus: list[str] | None = None,
) -> Path:
    """Create a random Qwen2.5-VL folder at ``out_dir`` and return its path.

    ``reranker=True`` marks the config as a yes/no reranker (what lychee-rerank-mm
    is), so ``mode="auto"`` picks yes/no; False leaves a plain Instruct-style model.
    """
    spec = spec or TinyModelSpec()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    tokenizer = train_tokenizer(spec.vocab_size, extra_corpus)
    config = build_config(spec, tokenizer)
    if reranker:
        config.lychee_reranker = {"kind": "yesno", "note": spec.architecture_note}
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config.pad_token_id = config.text_config.pad_token_id
    model.generation_config.eos_token_id = config.text_config.eos_token_id
    model.save_pretrained(out)
    build_processor(tokenizer).save_pretrained(out)
    logger.info("built %s at %s", spec.architecture_note, out)
    return out
