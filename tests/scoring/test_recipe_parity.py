"""Our yes/no scores equal the published recipe's, tensors and all.

``recipe_scores`` below is written from the model card's description of
lychee-rerank-mm's recipe, independently of the product's code: the processor
loaded with ``min_pixels=4*28*28, max_pixels=1280*28*28`` and left padding; the
judge system prompt; user content ``<Instruct>: ...``, ``<Query>:``, the query,
``\\n<Document>:``, the image (a file path, opened by qwen_vl_utils); the chat
template with the generation prompt; ``process_vision_info``; the processor;
logits at the last position; p(yes) = softmax([logit_no, logit_yes])[1].

The product gets the same files as paths through ``Reranker.rank``; the inputs
its model receives are recorded by wrapping the model's ``forward`` from the
outside. Run with ``-s`` to see the per-format maximum |Δp(yes)|.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from qwen_vl_utils import process_vision_info
from transformers import AutoModelForImageTextToText, AutoProcessor

from lychee_rerank import Reranker

SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
INSTRUCTION = "Given a search query, retrieve relevant images that match the query."
QUERY = "a red dress on a beach 红色连衣裙"
SIZES = [(517, 389), (3024, 4032), (1920, 1080), (800, 800), (333, 1000), (2000, 1500), (150, 120)]
FORMATS = {"PNG": {}, "JPEG": {"quality": 90}, "WEBP": {"quality": 85}}
PUBLISHED_CAP = 12_845_056  # Qwen2.5-VL's own preprocessor max_pixels
LOW_CAP = 256 * 28 * 28  # a fine-tune that caps its processor lower than the recipe asks for
TENSORS = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")


def photo(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like image: smooth colour gradients plus fine noise, so every resize shows."""
    width, height = size
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    base = rng.uniform(40, 215, 3).astype(np.float32)
    pixels = base + 90 * np.sin(6 * x + rng.uniform(0, 6, 3)) * np.cos(4 * y) + rng.normal(0, 18, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("parity-images")
    files = []
    for seed, size in enumerate(SIZES):
        image = photo(size, seed)
        for fmt, options in FORMATS.items():
            path = folder / f"photo_{size[0]}x{size[1]}.{fmt.lower()}"
            image.save(path, fmt, **options)
            files.append(path)
    return files


def with_processor_cap(model_dir: Path, out: Path, cap: int) -> Path:
    """A copy of ``model_dir`` whose own processor config caps max_pixels at ``cap``."""
    shutil.copytree(model_dir, out)
    processor = AutoProcessor.from_pretrained(out)
    processor.image_processor.size = {"shortest_edge": 56 * 56, "longest_edge": cap}
    processor.save_pretrained(out)
    return out


def recipe_scores(model_dir: Path, paths: list[Path]) -> list[tuple[float, dict]]:
    """p(yes) and the model inputs for each image, the published recipe's way."""
    processor = AutoProcessor.from_pretrained(model_dir, min_pixels=4 * 28 * 28, max_pixels=1280 * 28 * 28)
    processor.tokenizer.padding_side = "left"
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
    yes, no = processor.tokenizer.convert_tokens_to_ids("yes"), processor.tokenizer.convert_tokens_to_ids("no")
    results = []
    for path in paths:
        messages = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [
                {"type": "text", "text": f"<Instruct>: {INSTRUCTION}"},
                {"type": "text", "text": "<Query>:"},
                {"type": "text", "text": QUERY},
                {"type": "text", "text": "\n<Document>:"},
                {"type": "image", "image": str(path)},
            ]},
        ]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        images, _videos = process_vision_info(messages)
        inputs = processor(text=[text], images=images, padding=True, return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs, logits_to_keep=1).logits[0, -1]
        p_yes = torch.softmax(logits[[no, yes]].float(), dim=-1)[1].item()
        results.append((p_yes, {name: inputs[name] for name in TENSORS}))
    return results


def product_scores(model_dir: Path, paths: list[Path], cache_mib: float | None = 0) -> list[tuple[float, dict, tuple]]:
    """p(yes), the inputs the model received and the reported scored_size, through Reranker.rank.

    With the vision cache on (``cache_mib`` None) the model receives features instead of pixels,
    so the tensors are compared with it off and the scores both ways.
    """
    reranker = Reranker.from_pretrained(str(model_dir), device="cpu", dtype="float32", vision_cache_mib=cache_mib)
    seen: list[dict] = []
    original = reranker.model.forward

    def recording(*args, **kwargs):
        seen.append({name: kwargs[name].detach().clone() for name in TENSORS if name in kwargs})
        return original(*args, **kwargs)

    reranker.model.forward = recording
    try:
        ranking = reranker.rank(QUERY, paths, instruction=INSTRUCTION)
    finally:
        del reranker.model.forward
    by_index = sorted(ranking, key=lambda r: r.index)
    assert all(r.parse_method == "yesno" and r.warning is None for r in by_index)
    return [(r.p_yes, inputs, r.scored_size) for r, inputs in zip(by_index, seen)]


# The recipe passes min_pixels/max_pixels to AutoProcessor.from_pretrained, as the model card does.
@pytest.mark.filterwarnings("ignore:Passing `min_pixels` and `max_pixels`:FutureWarning")
@pytest.mark.parametrize(
    ("model", "cap"),
    [("tiny", PUBLISHED_CAP), ("tiny", LOW_CAP), ("qwen-vocab", PUBLISHED_CAP)],
    ids=["published-cap", "low-cap", "real-qwen2-tokenizer"],
)
def test_scores_and_tensors_equal_the_published_recipe(
    model, cap, image_files, tiny_reranker_dir, qwen_vocab_reranker_dir, tmp_path
):
    source = tiny_reranker_dir if model == "tiny" else qwen_vocab_reranker_dir
    model_dir = with_processor_cap(source, tmp_path / "model", cap)
    recipe = recipe_scores(model_dir, image_files)
    ours = product_scores(model_dir, image_files)
    cached = [p for p, _, _ in product_scores(model_dir, image_files, cache_mib=None)]
    assert max(abs(p - q) for p, q in zip(cached, [p for p, _ in recipe])) <= 1e-5
    worst: dict[str, float] = {}
    for path, (p_recipe, recipe_inputs), (p_ours, our_inputs, scored_size) in zip(image_files, recipe, ours):
        for name in TENSORS:
            assert torch.equal(recipe_inputs[name], our_inputs[name]), f"{path.name}: {name} differs"
        _, grid_h, grid_w = recipe_inputs["image_grid_thw"][0].tolist()
        assert scored_size == (grid_w * 14, grid_h * 14)
        fmt = path.suffix.lstrip(".")
        worst[fmt] = max(worst.get(fmt, 0.0), abs(p_recipe - p_ours))
    print(f"\nmax |Δp(yes)| by format ({model}, processor cap {cap}): {worst}")
    assert max(worst.values()) <= 1e-5, worst
