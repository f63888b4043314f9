"""Torch threads per run: one for a small model on the CPU, the caller's count when given, put back after; on the
CPU the preparing thread gives way to the model's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from lychee_rerank import InvalidSettingError, Reranker
from lychee_rerank.cli import build_parser, reranker_kwargs
from lychee_rerank.demo.architecture import ModelShape, build_config, new_model, train_tokenizer
from lychee_rerank.runtime.threads import (
    PREPARE_NICE_CPU,
    compute_parameters,
    give_way,
    prepare_nice,
    run_threads,
    torch_threads,
)
from lychee_rerank.settings import SMALL_MODEL_PARAMS

from helpers import per_thread_nice, png_bytes, prefetch_threads, thread_nice

# Text 512 wide x 8 layers: ~40M parameters outside the embeddings, the size where two threads paid off.
WIDE = ModelShape(name="wide", text_hidden=512, text_layers=8, text_heads=8, text_kv_heads=4, text_intermediate=1408,
                  vision_hidden=384, vision_depth=8, vision_heads=6, vision_intermediate=1024)


def meta_model(shape: ModelShape):
    """A model of ``shape`` on the meta device: its parameters counted, no memory used."""
    with torch.device("meta"):
        return new_model(build_config(shape, train_tokenizer(shape.tokenizer_vocab)))


@pytest.fixture(scope="module")
def wide_model():
    return meta_model(WIDE)


def test_compute_parameters_leave_out_the_embedding_table(tiny_reranker):
    model = tiny_reranker.model
    table = model.get_input_embeddings().weight.numel()
    assert compute_parameters(model) == sum(p.numel() for p in model.parameters()) - table
    assert table > 0


def test_a_small_model_on_the_cpu_runs_on_one_thread(tiny_reranker, wide_model):
    assert run_threads(tiny_reranker.model, "cpu", None) == 1
    assert compute_parameters(wide_model) > SMALL_MODEL_PARAMS
    assert run_threads(wide_model, "cpu", None) is None, "a wide model keeps torch's own count"
    assert run_threads(tiny_reranker.model, "cuda", None) is None, "on a GPU the CPU threads are left alone"


def test_the_callers_count_wins_and_a_bad_one_is_refused(tiny_reranker, wide_model):
    assert run_threads(tiny_reranker.model, "cpu", 2) == 2
    assert run_threads(wide_model, "cpu", 3) == 3
    with pytest.raises(InvalidSettingError, match="cpu_threads must be 1 or more"):
        run_threads(tiny_reranker.model, "cpu", 0)


def test_torch_threads_are_put_back_even_after_an_error():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), torch_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("scoring failed")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_torch_threads_are_left_after_ctrl_c_the_process_is_leaving():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    try:
        with pytest.raises(KeyboardInterrupt), torch_threads(target):
            raise KeyboardInterrupt
        assert torch.get_num_threads() == target
    finally:
        torch.set_num_threads(before)


def _threads_while_scoring(reranker: Reranker) -> set[int]:
    seen: set[int] = set()
    reranker.rank("a red circle", [png_bytes("red"), png_bytes("blue"), png_bytes("green")],
                  on_progress=lambda done, total, result: seen.add(torch.get_num_threads()))
    return seen


def test_a_run_uses_its_threads_and_puts_torchs_back(tiny_reranker_dir: Path):
    before = torch.get_num_threads()
    auto = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu")
    assert auto.describe()["cpu_threads"] == 1
    assert _threads_while_scoring(auto) == {1}
    assert torch.get_num_threads() == before
    two = Reranker(auto.loaded_model, cpu_threads=2)
    assert two.describe()["cpu_threads"] == 2
    assert _threads_while_scoring(two) == {2}
    assert torch.get_num_threads() == before


def test_a_run_on_another_thread_leaves_the_callers_count(tiny_reranker):
    before = torch.get_num_threads()
    worker = threading.Thread(target=_threads_while_scoring, args=(tiny_reranker,))
    worker.start()
    worker.join()
    assert torch.get_num_threads() == before


def test_the_clis_threads_option_reaches_the_reranker():
    args = build_parser().parse_args(["rank", "--model", "demo", "--query", "x", "--threads", "3", "folder"])
    assert reranker_kwargs(args)["cpu_threads"] == 3
    args = build_parser().parse_args(["rank", "--model", "demo", "--query", "x", "folder"])
    assert "cpu_threads" not in reranker_kwargs(args)


def _nice_after_giving_way(steps: int) -> tuple[int, int]:
    seen = []

    def body():
        seen.append(thread_nice())
        give_way(steps)
        seen.append(thread_nice())

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    return seen[0], seen[1]


@per_thread_nice
def test_giving_way_lowers_the_calling_thread_only():
    mine = thread_nice()
    before, after = _nice_after_giving_way(3)
    assert (before, after) == (mine, min(mine + 3, 19))
    assert thread_nice() == mine, "the caller's own thread keeps its priority"
    assert _nice_after_giving_way(50)[1] == 19, "capped at the lowest priority"
    assert _nice_after_giving_way(0)[1] == mine


def test_only_a_run_on_the_cpu_lowers_its_preparing_thread():
    assert prepare_nice("cpu") == PREPARE_NICE_CPU > 0
    assert prepare_nice("cuda") == 0, "on a GPU the preparing thread may be the slow step: it keeps its priority"


@per_thread_nice
def test_a_run_on_the_cpu_prepares_its_images_on_a_thread_that_gives_way(tiny_reranker):
    seen = set()

    def preparing_threads_nice(done, total, result):
        seen.update(thread_nice(t.native_id) for t in prefetch_threads())

    # three batches, two ahead: the preparing thread is still there (waiting to hand over) at the first image's progress
    reranker = Reranker(tiny_reranker.loaded_model, batch_size=1, prefetch_batches=2)
    reranker.rank("a red circle", [png_bytes("red"), png_bytes("blue"), png_bytes("green")],
                  on_progress=preparing_threads_nice)
    assert seen == {min(thread_nice() + PREPARE_NICE_CPU, 19)}
