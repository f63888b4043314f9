"""Fixtures of the AppTest files: the app pointed at the tiny random model, offline."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, tiny_reranker_dir: Path) -> Path:
    monkeypatch.setenv("LYCHEE_MODEL", str(tiny_reranker_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tiny_reranker_dir
