"""Qwen3-VL-Reranker: our scores equal Qwen's published recipe on the same weights.

``reference_scores`` is written from the recipe's description (QwenLM/Qwen3-VL-Embedding,
``src/models/qwen3_vl_reranker.py``), independently of the product's modules: the judge
system prompt; ``<Instruct>: ...``; ``<Query>:`` then the query's images then its text;
``\\n<Document>:`` then the document's images then its text; an empty side is ``NULL``;
each image as a ``file://`` element with min 4·32² and max 1800·32² pixels through
``process_vision_info(..., image_patch_size=16)``; the processor with ``do_resize=False``,
one pair at a time; score = sigmoid(h · (W[yes] − W[no])) with h the language model's last
hidden state at the last position. The product gets the same files through ``Reranker.rank``.
Run with ``-s`` to see the largest |Δ| per shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from qwen_vl_utils import process_vision_info
from test_recipe_parity import photo
from transformers import AutoModelForImageTextToText, AutoProcessor

from lychee_rerank import Document, Reranker

SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
    'Note that the answer can only be "yes" or "no".'
)
INSTRUCTION = "Given a search query, retrieve relevant candidates that answer the query."
QUERY = "a red dress on a beach 红色连衣裙"
MIN_PIXELS, MAX_PIXELS = 4 * 32 * 32, 1800 * 32 * 32
SIZES = [(640, 480), (3024, 4032), (1920, 1080), (333, 1000), (800, 800), (517, 389), (150, 120)]
FORMATS = {"PNG": {}, "JPEG": {"quality": 90}, "WEBP": {"quality": 85}}
TEXTS = ["a red dress on a sunny beach", "一只黑色的猫", "quarterly sales report, 2024"]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def image_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("qwen3-parity")
    files = []
    for seed, size in enumerate(SIZES):
        image = photo(size, seed)
        for fmt, options in FORMATS.items():
            path = folder / f"photo_{size[0]}x{size[1]}.{fmt.lower()}"
            image.save(path, fmt, **options)
            files.append(path)
    return files


def _side(prefix: str, text: str | None, image: Path | None) -> list[dict]:
    content = [{"type": "text", "text": prefix}]
    if image is not None:
        content.append({"type": "image", "image": f"file://{image}", "min_pixels": MIN_PIXELS,
                        "max_pixels": MAX_PIXELS})
    if text:
        content.append({"type": "text", "text": text})
    if len(content) == 1:
        content.append({"type": "text", "text": "NULL"})
    return content


class Reference:
    """The published recipe, one pair at a time."""

    def __init__(self, model_dir: Path):
        self.processor = AutoProcessor.from_pretrained(model_dir)
        model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.model = model.model
        vocab = self.processor.tokenizer.get_vocab()
        weights = model.lm_head.weight.data
        self.head = torch.nn.Linear(weights.shape[1], 1, bias=False)
        with torch.no_grad():
            self.head.weight[0] = weights[vocab["yes"]] - weights[vocab["no"]]

    def score(self, query: tuple[str | None, Path | None], document: tuple[str | None, Path | None]) -> float:
        messages = [
            {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
            {"role": "user", "content": [
                {"type": "text", "text": f"<Instruct>: {INSTRUCTION}"},
                *_side("<Query>:", *query), *_side("\n<Document>:", *document),
            ]},
        ]
        text = self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        images, _videos = process_vision_info(messages, image_patch_size=16)
        inputs = self.processor(text=[text], images=images, do_resize=False, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**inputs).last_hidden_state[:, -1]
            return torch.sigmoid(self.head(hidden)).item()


@pytest.fixture(scope="module")
def reference(tiny_qwen3_dir: Path) -> Reference:
    return Reference(tiny_qwen3_dir)


def ours(model_dir: Path, *, batch_size: int, cache: bool) -> Reranker:
    return Reranker.from_pretrained(str(model_dir), device="cpu", dtype="float32", batch_size=batch_size,
                                    vision_cache_mib=None if cache else 0)


def by_index(ranking) -> list:
    results = sorted(ranking, key=lambda r: r.index)
    assert all(r.parse_method == "yesno" and r.warning is None for r in results), [r.warning for r in results]
    return results


@pytest.mark.slow
@pytest.mark.parametrize(("batch_size", "cache"), [(1, False), (4, False), (4, True)], ids=["b1", "b4", "b4-cache"])
def test_text_to_image_equals_the_recipe(tiny_qwen3_dir, reference, image_files, batch_size, cache):
    reranker = ours(tiny_qwen3_dir, batch_size=batch_size, cache=cache)
    assert reranker.family.name == "qwen3-vl-reranker" and reranker.geometry.factor == 32
    results = by_index(reranker.rank(QUERY, image_files))
    if cache:  # the second query on the same images is served from the vision cache (deepstack features included)
        results = by_index(reranker.rank(QUERY, image_files))
        assert reranker.scorer.vision_cache.hits >= len(image_files)
    worst: dict[str, float] = {}
    for path, result in zip(image_files, results):
        expected = reference.score((QUERY, None), (None, path))
        delta = abs(result.p_yes - expected)
        worst[path.suffix] = max(worst.get(path.suffix, 0.0), delta)
        assert delta <= TOLERANCE, f"{path.name}: ours {result.p_yes} vs recipe {expected}"
        with Image.open(path) as image:
            expected_size = _recipe_size(image.size)
        assert result.scored_size == expected_size, path.name
        assert result.family == "qwen3-vl-reranker"
    print(f"\ntext→image batch {batch_size} cache {cache}: max |Δp(yes)| per format {worst}")


def _recipe_size(size: tuple[int, int]) -> tuple[int, int]:
    from qwen_vl_utils import smart_resize

    height, width = smart_resize(size[1], size[0], factor=32, min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    return width, height


@pytest.mark.slow
@pytest.mark.parametrize(("batch_size", "cache"), [(1, False), (4, True)], ids=["b1", "b4-cache"])
def test_other_shapes_equal_the_recipe(tiny_qwen3_dir, reference, image_files, batch_size, cache):
    reranker = ours(tiny_qwen3_dir, batch_size=batch_size, cache=cache)
    pngs = [p for p in image_files if p.suffix == ".png"]
    query_image, documents = pngs[0], pngs[1:]
    cases = {
        "text→text": (reranker.rank_texts(QUERY, TEXTS), [((QUERY, None), (t, None)) for t in TEXTS]),
        "image→image": (reranker.rank(None, documents, query_image=query_image),
                        [((None, query_image), (None, d)) for d in documents]),
        "image+text→image": (reranker.rank(QUERY, documents, query_image=query_image),
                             [((QUERY, query_image), (None, d)) for d in documents]),
        "text→image+text": (
            reranker.rank(QUERY, [Document(image=d, text=t) for d, t in zip(documents, TEXTS * 2)]),
            [((QUERY, None), (t, d)) for d, t in zip(documents, TEXTS * 2)]),
        "image→text": (reranker.rank_texts(None, TEXTS, query_image=query_image),
                       [((None, query_image), (t, None)) for t in TEXTS]),
    }
    for shape, (ranking, pairs) in cases.items():
        deltas = [abs(r.p_yes - reference.score(*pair)) for r, pair in zip(by_index(ranking), pairs)]
        print(f"\n{shape} batch {batch_size} cache {cache}: max |Δp(yes)| {max(deltas):.2e}")
        assert max(deltas) <= TOLERANCE, shape


def test_reports_family_and_32px_geometry(tiny_qwen3_dir):
    reranker = ours(tiny_qwen3_dir, batch_size=1, cache=True)
    described = reranker.describe()
    assert described["family"] == "qwen3-vl-reranker" and described["patch_factor"] == 32
    assert (described["min_pixels"], described["max_pixels"]) == (MIN_PIXELS, MAX_PIXELS)
    ranking = reranker.rank(QUERY, [photo((640, 480), 0)])
    assert ranking.family == "qwen3-vl-reranker"
    assert ranking[0].scored_size == (640, 480)  # 16-px patches merged 2×2: 640×480 is kept as it is
    assert ranking[0].instruction == INSTRUCTION  # the family's own default instruction
