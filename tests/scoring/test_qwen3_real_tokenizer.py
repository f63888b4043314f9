"""Qwen3-VL-Reranker with Qwen's real vocabulary (qwen.tiktoken): its yes/no ids, and inputs cut at 10,240 tokens.

The cut is the recipe's (QwenLM/Qwen3-VL-Embedding): the last 5 tokens (the generation prompt)
stay; before them every special token stays (so every image token) and the first ordinary
tokens up to 10,240 in all. The reference below applies that to the processor's output
itself, one pair at a time, and cuts ``mm_token_type_ids`` alongside (transformers 5.x needs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from lychee_rerank import Document, Reranker
from lychee_rerank.demo.qwen3_architecture import Qwen3Shape, save_random_qwen3_model

from helpers import qwen2_tokenizer

MAX_LENGTH, TAIL = 10_240, 5
LONG_TEXT = "the quick brown fox jumps over the lazy dog near the river bank. " * 1000  # ~14,000 tokens
QUERY = "a fox by a river"


@pytest.fixture(scope="module")
def qwen3_vocab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shape = Qwen3Shape(name="tiny-qwen3-vocab", vocab_size=151936)
    return save_random_qwen3_model(tmp_path_factory.mktemp("qwen3-vocab"), shape, seed=5, tokenizer=qwen2_tokenizer())


@pytest.fixture(scope="module")
def reranker(qwen3_vocab_dir: Path) -> Reranker:
    return Reranker.from_pretrained(str(qwen3_vocab_dir), device="cpu", dtype="float32", vision_cache_mib=0)


def test_yes_no_ids_are_the_recipes(reranker):
    vocab = reranker.processor.tokenizer.get_vocab()  # the recipe reads them from the vocabulary
    weights = reranker.model.lm_head.weight
    assert torch.equal(reranker.scorer.head[0], weights[vocab["yes"]] - weights[vocab["no"]])
    assert reranker.processor.tokenizer.encode("yes", add_special_tokens=False) == [vocab["yes"]]
    assert reranker.processor.tokenizer.encode("no", add_special_tokens=False) == [vocab["no"]]


def reference_truncated(model_dir: Path, messages_inputs: dict) -> float:
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    special = set(processor.tokenizer.all_special_ids)
    ids = messages_inputs["input_ids"][0].tolist()
    head = ids[:-TAIL]
    budget = MAX_LENGTH - sum(t in special for t in head)
    keep = []
    for token in head:
        keep.append(token in special or budget > 0)
        budget -= token not in special
    keep = torch.tensor(keep + [True] * TAIL)
    inputs = dict(messages_inputs)
    for name in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if name in inputs:
            inputs[name] = inputs[name][:, keep]
    assert inputs["input_ids"].shape[1] == MAX_LENGTH + TAIL
    vocab = processor.tokenizer.get_vocab()
    with torch.no_grad():
        hidden = model.model(**inputs).last_hidden_state[0, -1]
        weights = model.lm_head.weight
        return torch.sigmoid(hidden @ (weights[vocab["yes"]] - weights[vocab["no"]])).item()


def recipe_inputs(model_dir: Path, query: str, text: str, image: Image.Image | None) -> dict:
    from qwen_vl_utils import fetch_image

    processor = AutoProcessor.from_pretrained(model_dir)
    document = [{"type": "text", "text": "\n<Document>:"}]
    images = None
    if image is not None:
        document.append({"type": "image", "image": image})
        images = [fetch_image({"image": image, "min_pixels": 4 * 32 * 32, "max_pixels": 1800 * 32 * 32},
                              image_patch_size=16)]
    document.append({"type": "text", "text": text})
    messages = [
        {"role": "system", "content": [{"type": "text", "text": (
            "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
            'Note that the answer can only be "yes" or "no".')}]},
        {"role": "user", "content": [
            {"type": "text", "text": "<Instruct>: Given a search query, retrieve relevant candidates that answer "
                                     "the query."},
            {"type": "text", "text": "<Query>:"}, {"type": "text", "text": query}, *document]},
    ]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return dict(processor(text=[prompt], images=images, do_resize=False, return_tensors="pt"))


@pytest.mark.slow
@pytest.mark.parametrize("with_image", [False, True], ids=["text", "image+text"])
def test_long_documents_are_cut_as_the_recipe_cuts_them(qwen3_vocab_dir, reranker, with_image):
    image = Image.new("RGB", (150, 120), "orange") if with_image else None
    inputs = recipe_inputs(qwen3_vocab_dir, QUERY, LONG_TEXT, image)
    assert inputs["input_ids"].shape[1] > MAX_LENGTH + TAIL + 1000  # long enough to be cut
    expected = reference_truncated(qwen3_vocab_dir, inputs)
    shorts = []
    for batch_size in (1, 2):  # 2: the cut row is left-padded again beside a short one
        ours = Reranker(reranker.loaded_model, batch_size=batch_size, vision_cache_mib=0)
        if with_image:
            ranking = ours.rank(QUERY, [Document(image=image, text=LONG_TEXT), Image.new("RGB", (64, 64), "blue")])
        else:
            ranking = ours.rank_texts(QUERY, [LONG_TEXT, "a short one"])
        long, short = sorted(ranking, key=lambda r: r.index)
        assert abs(long.p_yes - expected) <= 1e-5, batch_size
        assert "10,240 tokens" in long.warning
        assert short.warning is None
        shorts.append(short.p_yes)
    assert abs(shorts[0] - shorts[1]) <= 1e-5  # the short row beside a cut one scores as it does alone
