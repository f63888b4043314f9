"""The app on a Qwen3-VL-Reranker folder with default settings: its family, its 32-px geometry, its pixel presets."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from test_app import TIMEOUT, run_to_end

from helpers import open_app, unmd


@pytest.fixture
def qwen3_env(monkeypatch: pytest.MonkeyPatch, tiny_qwen3_dir: Path) -> Path:
    monkeypatch.setenv("LYCHEE_MODEL", str(tiny_qwen3_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tiny_qwen3_dir


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (640, 480), "red").save(folder / "red.png")
    Image.new("RGB", (150, 120), "blue").save(folder / "blue.jpg")
    return folder


def sidebar_text(at) -> str:
    return "\n".join(m.value for m in at.sidebar.markdown)


def test_a_qwen3_folder_runs_with_default_settings_and_shows_its_family(qwen3_env, photos):
    at = open_app()
    assert at.selectbox(key="family").value == "auto"
    job = run_to_end(at, "a red photo", photos)
    by_name = {r.name: r for r in job.results}
    assert {r.family for r in job.results} == {"qwen3-vl-reranker"}
    assert by_name["red.png"].scored_size == (640, 480) and by_name["blue.jpg"].scored_size == (160, 128)
    assert {r.max_pixels for r in job.results} == {1800 * 32 * 32}
    shown = sidebar_text(at)
    assert "`qwen3-vl-reranker`" in shown and "`1800×32²`" in shown


def test_a_pixel_preset_is_counted_in_the_familys_patches(qwen3_env, photos):
    at = open_app()
    at.radio(key="pixels").set_value("fast").run()
    job = run_to_end(at, "a red photo", photos)
    assert {r.max_pixels for r in job.results} == {256 * 32 * 32}
    assert "`256×32²`" in sidebar_text(at)


def test_a_family_that_does_not_fit_the_model_is_an_error_panel(qwen3_env):
    at = open_app()
    at.selectbox(key="family").set_value("lychee").run(timeout=TIMEOUT)
    assert not at.exception
    assert any("runs on qwen2_5_vl, qwen2_vl models" in unmd(e.value) for e in at.error)
