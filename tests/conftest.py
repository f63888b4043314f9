"""Shared fixtures: tiny Qwen2.5-VL folders built once per session, offline, and small test images.

Builders live in helpers.py; this file only turns them into fixtures.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import build_qwen_vocab_model, build_tiny_model, make_five_image_folder

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def tiny_reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen2.5-VL marked as a yes/no reranker (auto mode picks yes/no)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-reranker"), seed=1, reranker=True)


@pytest.fixture(scope="session")
def tiny_instruct_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen2.5-VL without the reranker mark (auto mode picks generate)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-instruct"), seed=2, reranker=False)


@pytest.fixture(scope="session")
def qwen_vocab_reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random reranker with the real Qwen2 tokenizer (from qwen.tiktoken) and 151,936 embedding rows."""
    return build_qwen_vocab_model(tmp_path_factory.mktemp("tiny-qwen-vocab"), seed=3)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen3-VL marked as a reranker: the Qwen3-VL-Reranker family by its architecture."""
    from lychee_rerank.demo.qwen3_architecture import save_random_qwen3_model

    return save_random_qwen3_model(tmp_path_factory.mktemp("tiny-qwen3"), seed=4)


@pytest.fixture(scope="session")
def tiny_reranker(tiny_reranker_dir: Path):
    """One loaded yes/no Reranker shared by the tests that only read from it."""
    from lychee_rerank import Reranker

    return Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu")


@pytest.fixture
def five_image_folder(tmp_path: Path) -> Path:
    """Five files, one of them corrupt (a truncated JPEG)."""
    return make_five_image_folder(tmp_path / "images")


@pytest.fixture
def loading_bar_on(monkeypatch: pytest.MonkeyPatch):
    """transformers' weight-loading bar switched on, as in a fresh process (an earlier ``-q`` run in this process
    switched it off); the environment variable a ``-q`` run sets is restored afterwards."""
    from transformers.utils import logging as hf_logging

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    yield
    if not was_on:
        hf_logging.disable_progress_bar()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``lychee-rerank ARGS`` in this process: exit code, stdout and stderr, as a subprocess would give them."""
    from lychee_rerank.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["lychee-rerank", *args], code, out, err)

    return run
