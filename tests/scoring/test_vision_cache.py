"""The vision-feature cache: a second query on the same images skips the vision tower, with the same scores."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lychee_rerank import Reranker
from lychee_rerank.scoring.vision_cache import MIB, VisionCache

from helpers import jpeg_bytes, png_bytes

IMAGES = [("red.png", png_bytes("red", (120, 90))), ("blue.jpg", jpeg_bytes("blue", (300, 200))),
          ("green.png", png_bytes("green", (64, 400))), ("dup.png", png_bytes("red", (120, 90)))]


class VisionCalls:
    """Counts the images the vision tower encodes, by wrapping its forward from the outside."""

    def __init__(self, model):
        self.visual = model.model.visual
        self.images = 0

    def __enter__(self):
        original = self.visual.forward

        def counted(hidden_states, grid_thw=None, **kwargs):
            self.images += len(grid_thw)
            return original(hidden_states, grid_thw=grid_thw, **kwargs)

        self.visual.forward = counted
        return self

    def __exit__(self, *exc):
        del self.visual.forward


@pytest.fixture
def cached(tiny_reranker_dir: Path) -> Reranker:
    return Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=2)


def test_a_second_query_skips_the_vision_tower_with_the_same_scores(cached, tiny_reranker_dir):
    uncached = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=2, vision_cache_mib=0)
    assert uncached.scorer.vision_cache is None
    with VisionCalls(cached.model) as calls:
        first = cached.rank("a red dress", IMAGES)
        assert calls.images == 3  # the duplicate is scored once
        second = cached.rank("a red dress, light theme", IMAGES)
        assert calls.images == 3, "the second query reused every image's features"
    reference = uncached.rank("a red dress, light theme", IMAGES)
    assert [r.index for r in second] == [r.index for r in reference]
    for ours, theirs in zip(second, reference):
        assert ours.p_yes == pytest.approx(theirs.p_yes, abs=1e-5)
    assert cached.describe()["vision_cache"]["entries"] == 3 and first.mode == "yesno"


def test_a_reference_image_is_encoded_once_per_run(cached):
    with VisionCalls(cached.model) as calls:
        cached.rank(None, IMAGES[:3], query_image=IMAGES[0])
    assert calls.images == 3  # the reference equals red.png: one encoding serves the query and the document


def test_another_model_or_pixel_budget_never_hits(cached, tiny_reranker_dir, tmp_path):
    from helpers import build_tiny_model

    cached.rank("red", IMAGES[:1])
    other = Reranker.from_pretrained(str(build_tiny_model(tmp_path / "other", seed=7)), device="cpu")
    assert other.scorer.vision_cache is not cached.scorer.vision_cache
    smaller = Reranker(cached.loaded_model, max_pixels=56 * 56)  # shares the cache, sees another grid
    assert smaller.scorer.vision_cache is cached.scorer.vision_cache
    with VisionCalls(cached.model) as calls:
        smaller.rank("red", IMAGES[:1])
    assert calls.images == 1


def test_the_cache_evicts_least_recently_used_at_its_bound():
    cache = VisionCache(max_bytes=3 * 4 * 100)  # room for three 100-float tensors
    for name in "abc":
        cache.put((name,), torch.zeros(100))
    assert cache.get(("a",)) is not None  # a is now the most recently used
    cache.put(("d",), torch.zeros(100))
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None and len(cache) == 3
    cache.put(("huge",), torch.zeros(1000))  # larger than the whole cache: not kept, nothing evicted
    assert len(cache) == 3 and cache.bytes == 1200
    assert cache.stats()["max_mib"] == pytest.approx(1200 / MIB)


def test_generate_mode_always_sends_pixels(tiny_instruct_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_instruct_dir), device="cpu", mode="generate")
    with VisionCalls(reranker.model) as calls:
        reranker.rank("red", IMAGES[:2])
        reranker.rank("blue", IMAGES[:2])
    assert calls.images == 4


def test_the_cli_can_turn_the_cache_off():
    from lychee_rerank.cli import build_parser, reranker_kwargs

    on = build_parser().parse_args(["rank", "--model", "m", "--query", "q", "x.png"])
    off = build_parser().parse_args(["rank", "--model", "m", "--query", "q", "--no-vision-cache", "x.png"])
    assert "vision_cache_mib" not in reranker_kwargs(on) and reranker_kwargs(off)["vision_cache_mib"] == 0
