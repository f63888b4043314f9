"""Fixtures of the AppTest files: the app pointed at the tiny random model, offline."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tiny_reranker_dir: Path) -> Path:
    monkeypatch.setenv("LYCHEE_MODEL", str(tiny_reranker_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # These tests reach into the loaded model (slow it down, count its forward passes), so it is loaded in the
    # test's process; the app's default, a process of its own, is tested in test_model_process.py and by the
    # browser tests, which start the app as users do.
    monkeypatch.setenv("LYCHEE_MODEL_PROCESS", "0")
    return tiny_reranker_dir
