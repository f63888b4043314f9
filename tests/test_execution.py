"""The throughput engine on a tiny model on the CPU: prepared ahead vs sequential, size-ordered batches,
token-budget batches, and the contract (every input once) through stops, worker failures and OOM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from lychee_rerank import Reranker
from lychee_rerank.errors import ScoringFailedError
from lychee_rerank.execution import RunExecutor
from lychee_rerank.intake import ImageInput, as_documents
from lychee_rerank.run import Run
from lychee_rerank.runtime.batching import BatchPolicy
from lychee_rerank.scoring.prompts import Content
from lychee_rerank.settings import PARSE_FAILED, PARSE_SKIPPED

from helpers import assert_contract, jpeg_bytes, png_bytes, prefetch_threads

QUERY = "a red dress 红色连衣裙"
FIELDS = ("name", "score", "raw_output", "parse_method", "warning", "scored_size", "duplicate_of")


def mixed_sizes() -> list:
    """Sizes that become different visual-token counts, a corrupt file, and a duplicate."""
    return [
        ("big.png", png_bytes("red", (224, 168))),
        ("small.jpg", jpeg_bytes("blue", (56, 56))),
        ("corrupt.jpg", b"\xff\xd8\xff\xe0 not a jpeg"),
        ("mid.png", png_bytes("green", (112, 112))),
        ("wide.png", png_bytes((200, 120, 40), (280, 56))),
        ("big-again.png", png_bytes("red", (224, 168))),
        ("tall.jpg", jpeg_bytes("purple", (56, 140))),
    ]


def by_index(ranking) -> dict[int, tuple]:
    return {r.index: tuple(getattr(r, name) for name in FIELDS) for r in ranking}


@pytest.mark.parametrize("batch_size", [1, 2, 3, "auto"])
def test_prepared_ahead_and_sequential_give_identical_results(tiny_reranker_dir: Path, batch_size):
    runs = {}
    for prefetch in (0, 2):
        reranker = Reranker.from_pretrained(
            str(tiny_reranker_dir), device="cpu", batch_size=batch_size, prefetch_batches=prefetch
        )
        runs[prefetch] = reranker.rank(QUERY, mixed_sizes())
        assert runs[prefetch].stats["pipelined"] is (prefetch > 0)
    assert_contract(runs[2], 7)
    assert by_index(runs[0]) == by_index(runs[2])  # exactly equal: the same batches, the same arithmetic
    assert not prefetch_threads()


def test_batches_hold_images_of_one_size_when_sizes_are_interleaved(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=2, vision_cache_mib=0)
    # Input order alternates two sizes; ordered by size, each batch of two holds one size: no padding.
    images = [("a.png", png_bytes(c, (112, 112) if i % 2 else (224, 224))) for i, c in
              enumerate(["red", "blue", "green", "white"])]
    ranking = reranker.rank(QUERY, images)
    assert ranking.stats["ordered_by_size"] and ranking.stats["batches"] == 2
    assert ranking.stats["padding_tokens"] == 0 and ranking.stats["tokens"] > 0
    one_by_one = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", vision_cache_mib=0)
    expected = {r.index: r.score for r in one_by_one.rank(QUERY, images)}
    assert {r.index: r.score for r in ranking} == pytest.approx(expected, abs=1e-4)


def test_stopping_mid_run_keeps_the_contract_and_ends_the_worker(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=1, prefetch_batches=2)
    seen = []
    images = [(f"i{i}.png", png_bytes((i * 20, 0, 0), (56 + 28 * (i % 3), 56))) for i in range(8)]
    ranking = reranker.rank(QUERY, images, on_progress=lambda d, t, r: seen.append(d),
                            should_stop=lambda: len(seen) >= 3)
    assert ranking.stopped and ranking.stats["stopped"]
    assert_contract(ranking, 8)
    assert sum(r.parse_method == PARSE_SKIPPED for r in ranking) == 5
    assert not prefetch_threads()


def test_a_document_whose_preparation_raises_is_warned_and_the_rest_are_scored(tiny_reranker):
    def broken() -> bytes:
        raise RuntimeError("the network share went away")

    share = ImageInput(name="share.png", opener=broken)
    images = [("red.png", png_bytes("red")), share, ("blue.png", png_bytes("blue"))]
    ranking = tiny_reranker.rank(QUERY, images)
    assert_contract(ranking, 3)
    failed = {r.name: r for r in ranking}["share.png"]
    assert failed.parse_method == PARSE_FAILED and "network share went away" in failed.warning


def test_an_exception_inside_the_worker_becomes_that_documents_warning(tiny_reranker):
    """Preparing and preprocessing run on the worker thread: an unforeseen exception there marks only its documents."""
    executor = RunExecutor(tiny_reranker.scorer, BatchPolicy(2), tiny_reranker._prepare,
                           (tiny_reranker.min_pixels, tiny_reranker.max_pixels), prefetch=2)
    real_prepare, real_preprocess = executor.prepare, tiny_reranker.scorer.preprocess

    def prepare(source):
        if source.name == "explodes.png":
            raise ValueError("a decoder bug")
        return real_prepare(source)

    def preprocess(query, documents, instruction=None, **kwargs):
        if any(d.image is not None and d.image.size == (84, 84) for d in documents):
            raise RuntimeError("a processor bug")
        return real_preprocess(query, documents, instruction, **kwargs)

    executor.prepare = prepare
    tiny_reranker.scorer.preprocess = preprocess
    try:
        images = [(f"ok{i}.png", png_bytes(c)) for i, c in enumerate(["red", "blue"])]
        images += [("explodes.png", png_bytes("green")), ("odd.png", png_bytes("white", (84, 84)))]
        run = Run(Content(text=QUERY), "Find the image.", as_documents(images), None, "yesno", 1000)
        stats = executor.execute(run)
    finally:
        del tiny_reranker.scorer.preprocess
    results = {r.name: r for r in run.results.values()}
    assert sorted(r.index for r in results.values()) == [0, 1, 2, 3] and not stats.stopped
    assert results["explodes.png"].parse_method == PARSE_FAILED and "a decoder bug" in results["explodes.png"].warning
    assert results["odd.png"].parse_method == PARSE_FAILED and "a processor bug" in results["odd.png"].warning
    assert results["ok0.png"].ok and results["ok1.png"].ok
    assert not prefetch_threads()


def test_token_budget_batches_and_out_of_memory_halves_the_budget(tiny_reranker):
    """batch_size="auto" on a GPU, its mechanics on the CPU: batches fill a token budget; OOM halves it."""
    calls, raised = [], []
    original = tiny_reranker.model.forward

    def out_of_memory_once(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        if not raised and kwargs["input_ids"].shape[0] > 1:
            raised.append(True)
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(*args, **kwargs)

    policy = BatchPolicy(32, token_budget=4 * (80 + 16))  # four 112x112 images (16 visual tokens) and their prompts
    # Sequential, so every batch is formed after the one before it was scored (prepared ahead, the
    # batches already waiting keep their size and the halved budget applies from the next one on).
    executor = RunExecutor(tiny_reranker.scorer, policy, tiny_reranker._prepare,
                           (tiny_reranker.min_pixels, tiny_reranker.max_pixels), prefetch=0)
    images = [(f"i{i}.png", png_bytes((i * 25, 90, 0), (112, 112))) for i in range(10)]
    run = Run(Content(text=QUERY), "Find the image.", as_documents(images), None, "yesno", 1000)
    tiny_reranker.model.forward = out_of_memory_once
    try:
        executor.execute(run)
    finally:
        del tiny_reranker.model.forward
    assert calls[0] == 4 and raised  # the first batch filled the budget, then ran out of memory
    assert policy.token_budget == 2 * (80 + 16)  # halved for the rest of the run
    assert calls == [4, 2, 2, 2, 2, 2] and sorted(run.results) == list(range(10))
    assert all(r.ok and r.warning is None for r in run.results.values())


def test_auto_batch_size_is_one_on_the_cpu(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size="auto")
    ranking = reranker.rank(QUERY, [png_bytes("red"), png_bytes("blue"), Image.new("RGB", (70, 70), "green")])
    assert ranking.stats["batches"] == 3 and not ranking.stats["ordered_by_size"]


@pytest.mark.gpu
def test_on_a_gpu_pinned_batches_prepared_ahead_score_like_the_cpu(tiny_reranker_dir: Path):
    """Pinned host memory and non-blocking copies: the same scores as sequential on the GPU and as the CPU."""
    cpu = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", dtype="float32").rank(QUERY, mixed_sizes())
    runs = {}
    for prefetch, batch_size in ((0, 1), (2, 1), (2, "auto")):
        gpu = Reranker.from_pretrained(str(tiny_reranker_dir), device="cuda", dtype="float32",
                                       batch_size=batch_size, prefetch_batches=prefetch)
        runs[prefetch, batch_size] = gpu.rank(QUERY, mixed_sizes())
        assert_contract(runs[prefetch, batch_size], 7)
    assert by_index(runs[0, 1]) == by_index(runs[2, 1])
    expected = {r.index: r.score for r in cpu}
    for ranking in runs.values():
        assert {r.index: r.score for r in ranking} == pytest.approx(expected, abs=1e-2)
    assert runs[2, "auto"].stats["batches"] < 7  # auto batched on the GPU


def test_a_model_failure_mid_run_keeps_what_was_scored(tiny_reranker):
    """Issue 22, item 13: as Stop does, the results before the failure are kept; the error says what happened."""
    reranker = Reranker(tiny_reranker.loaded_model, batch_size=1, vision_cache_mib=0)
    original, calls = reranker.scorer.score_inputs, []

    def breaks_on_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("CUDA error: device-side assert triggered\nmore detail")
        return original(*args, **kwargs)

    reranker.scorer.score_inputs = breaks_on_the_fourth  # the model failing (a driver error), from outside
    images = [(f"i{i}.png", png_bytes((i * 30, 0, 0))) for i in range(6)]
    with pytest.raises(ScoringFailedError) as raised:
        reranker.rank(QUERY, images)
    message = str(raised.value)
    assert "\n" not in message and "scoring failed after 3 of 6 documents (RuntimeError: CUDA error" in message
    ranking = raised.value.ranking
    assert_contract(ranking, 6)
    assert sum(r.ok for r in ranking) == 3 and sum(r.parse_method == PARSE_SKIPPED for r in ranking) == 3
    assert ranking.stopped and ranking.stats["error"].startswith("RuntimeError: CUDA error")
    assert not prefetch_threads()
