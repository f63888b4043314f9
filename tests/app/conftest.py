"""Fixtures of the AppTest files: the app pointed at the tiny random model, offline."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def models_in_the_test_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest runs the page in the test's process, where the model pool outlives each test: models load there
    (the tests slow them down and count their forward passes) rather than in a process each (about 1 GB apiece,
    kept until pytest ends). The app's default, a process of its own, is tested in test_model_process.py and by
    the browser tests, whose servers start as users start them (test_app_browser.streamlit_server)."""
    monkeypatch.setenv("LYCHEE_MODEL_PROCESS", "0")


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tiny_reranker_dir: Path) -> Path:
    monkeypatch.setenv("LYCHEE_MODEL", str(tiny_reranker_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tiny_reranker_dir
