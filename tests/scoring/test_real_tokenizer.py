"""The real Qwen2 vocabulary (qwen.tiktoken from the dashscope wheel) through the product's own paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from lychee_rerank import Reranker
from lychee_rerank.scoring.yesno import yes_no_token_ids
from lychee_rerank.settings import MAX_QUERY_TOKENS

from helpers import QWEN2_SPECIAL_TOKENS, png_bytes, qwen2_tokenizer


@pytest.fixture(scope="module")
def qwen_reranker(qwen_vocab_reranker_dir: Path) -> Reranker:
    return Reranker.from_pretrained(str(qwen_vocab_reranker_dir), device="cpu", dtype="float32")


def test_the_tokenizer_is_qwen2s():
    tokenizer = qwen2_tokenizer()
    assert len(tokenizer) == 151_657
    ids = dict(zip(QWEN2_SPECIAL_TOKENS, tokenizer.convert_tokens_to_ids(QWEN2_SPECIAL_TOKENS)))
    assert ids["<|endoftext|>"] == 151643 and ids["<|im_start|>"] == 151644 and ids["<|im_end|>"] == 151645
    assert (ids["<|vision_start|>"], ids["<|vision_end|>"], ids["<|vision_pad|>"]) == (151652, 151653, 151654)
    assert (ids["<|image_pad|>"], ids["<|video_pad|>"]) == (151655, 151656)
    assert tokenizer.encode("Hello world", add_special_tokens=False) == [9707, 1879]
    assert yes_no_token_ids(tokenizer) == (2152, 9693)  # (no, yes): the ids Qwen's own rerankers read


def test_saved_folder_loads_with_the_published_vocabulary(qwen_reranker: Reranker):
    assert qwen_reranker.model.config.text_config.vocab_size == 151_936
    assert (qwen_reranker.scorer.yes_id, qwen_reranker.scorer.no_id) == (9693, 2152)
    assert qwen_reranker.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655


def test_auto_mode_picks_yes_no_for_a_reranker(qwen_reranker: Reranker):
    assert qwen_reranker.mode == "yesno"
    ranking = qwen_reranker.rank("a red dress 红色连衣裙", [png_bytes("red"), png_bytes("blue")])
    assert ranking.mode == "yesno" and all(r.parse_method == "yesno" for r in ranking)


def test_a_600_token_query_is_cut_at_512_real_tokens(qwen_reranker: Reranker):
    tokenizer = qwen_reranker.processor.tokenizer
    query = " ".join(["cat"] * 600)
    assert len(tokenizer.encode(query, add_special_tokens=False)) == 600
    ranking = qwen_reranker.rank(query, [png_bytes("red")])
    kept = len(tokenizer.encode(ranking.query, add_special_tokens=False))
    assert kept == MAX_QUERY_TOKENS == 512
    assert ranking.warnings == [f"The query was truncated from 600 to 512 tokens (limit {MAX_QUERY_TOKENS}); "
                                "the end was dropped."]


def test_the_chat_template_tokenizes_the_image_slot_as_qwen_does(qwen_reranker: Reranker):
    from PIL import Image

    image = Image.new("RGB", (56, 56), "red")
    inputs = qwen_reranker.scorer.preprocess("a red square", [image])
    ids = inputs["input_ids"][0].tolist()
    assert ids[:2] == [151644, 8948]  # <|im_start|>system
    start = ids.index(151652)
    assert ids[start + 1 : start + 5] == [151655] * 4 and ids[start + 5] == 151653  # 2x2 merged patches
    assert ids[-3:] == [151644, 77091, 198]  # <|im_start|>assistant\n
