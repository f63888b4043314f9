"""MonoQwen2-VL: our scores equal its authors' recipe, loaded as they load it (a LoRA adapter over Qwen2-VL).

``reference_scores`` follows AnswerDotAI/rerankers' MonoVLM ranker as its text describes it,
independently of the product: the adapter folder loaded with
``Qwen2VLForConditionalGeneration.from_pretrained`` (transformers attaches the LoRA to the base
it names), the base model's processor, the image opened and converted to RGB, a user turn of the
image then "Assert the relevance of the previous image document to the following query, answer
True or False. The query is: {query}", the processor on the image as it is, and the softmax over
the last position's [False, True] logits (ids by ``convert_tokens_to_ids``): P(True).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor, Qwen2VLForConditionalGeneration

from lychee_rerank import Reranker, UnsupportedTaskError
from lychee_rerank.demo.qwen3_architecture import save_random_qwen2_vl_model

QUERY = "a red dress on a beach"
PROMPT = ("Assert the relevance of the previous image document to the following query, answer True or False. "
          "The query is: {query}")
SIZES = [(640, 480), (3024, 4032), (1920, 1080), (333, 1000), (517, 389), (150, 120)]
FORMATS = {"PNG": {}, "JPEG": {"quality": 90}, "WEBP": {"quality": 85}}


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2-VL base and a random (non-zero) LoRA adapter over it, named as MonoQwen's is."""
    root = tmp_path_factory.mktemp("monoqwen")
    base = save_random_qwen2_vl_model(root / "qwen2-vl-base", seed=6)
    model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(7)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                            init_lora_weights=False))
    lora.save_pretrained(root / "MonoQwen2-VL-tiny")
    return root / "MonoQwen2-VL-tiny"


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from test_recipe_parity import photo

    folder = tmp_path_factory.mktemp("monoqwen-images")
    files = []
    for seed, size in enumerate(SIZES):
        for fmt, options in FORMATS.items():
            path = folder / f"photo_{size[0]}x{size[1]}.{fmt.lower()}"
            photo(size, seed).save(path, fmt, **options)
            files.append(path)
    return files


def reference_scores(adapter: Path, paths: list[Path]) -> list[float]:
    base = adapter.parent / "qwen2-vl-base"
    processor = AutoProcessor.from_pretrained(base)
    model = Qwen2VLForConditionalGeneration.from_pretrained(adapter, dtype=torch.float32).eval()
    false_id, true_id = (processor.tokenizer.convert_tokens_to_ids(t) for t in ("False", "True"))
    scores = []
    for path in paths:
        image = Image.open(path).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image", "image": image},
                                                 {"type": "text", "text": PROMPT.format(query=QUERY)}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(text=text, images=image, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits[:, -1, :]
        scores.append(torch.softmax(logits[:, [false_id, true_id]], dim=-1)[0, 1].item())
    return scores


@pytest.mark.slow
@pytest.mark.parametrize(("batch_size", "cache"), [(1, False), (4, True)], ids=["b1", "b4-cache"])
def test_scores_equal_the_authors_recipe(adapter_dir, image_files, batch_size, cache):
    expected = reference_scores(adapter_dir, image_files)
    reranker = Reranker.from_pretrained(str(adapter_dir), device="cpu", dtype="float32", batch_size=batch_size,
                                        vision_cache_mib=None if cache else 0)
    assert reranker.family.name == "monoqwen2-vl" and reranker.mode == "yesno"
    ranking = reranker.rank(QUERY, image_files)
    if cache:
        ranking = reranker.rank(QUERY, image_files)
        assert reranker.scorer.vision_cache.hits >= len(image_files)
    results = sorted(ranking, key=lambda r: r.index)
    deltas = [abs(r.p_yes - p) for r, p in zip(results, expected)]
    print(f"\nMonoQwen2-VL text→image batch {batch_size} cache {cache}: max |ΔP(True)| {max(deltas):.2e}")
    assert max(deltas) <= 1e-5
    assert all(r.warning is None and r.family == "monoqwen2-vl" for r in results)
    assert results[0].raw_output.startswith("P(True)=")


def test_other_shapes_are_refused_before_any_work(adapter_dir, tmp_path):
    reranker = Reranker.from_pretrained(str(adapter_dir), device="cpu", dtype="float32")
    with pytest.raises(UnsupportedTaskError, match="MonoQwen2-VL cannot score a text query against text"):
        reranker.rank_texts("a query", ["a text"])
    with pytest.raises(UnsupportedTaskError, match="image query"):
        reranker.rank(None, [Image.new("RGB", (64, 64))], query_image=Image.new("RGB", (64, 64)))


def test_base_model_can_be_named(adapter_dir, tmp_path):
    moved = tmp_path / "base-elsewhere"
    (adapter_dir.parent / "qwen2-vl-base").rename(moved)
    try:
        reranker = Reranker.from_pretrained(str(adapter_dir), device="cpu", base_model=str(moved))
        assert reranker.family.name == "monoqwen2-vl"
    finally:
        moved.rename(adapter_dir.parent / "qwen2-vl-base")
