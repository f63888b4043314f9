"""The CLI on every family: a Qwen3-VL folder with default settings, the family override, an unsupported
architecture refused in one line before any work, and `lychee-rerank models`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lychee_rerank.demo.published import parameter_count


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (640, 480), "red").save(folder / "red.jpg")
    Image.new("RGB", (150, 120), "blue").save(folder / "blue.png")
    return folder


def test_a_qwen3_vl_folder_ranks_with_default_settings(cli, tiny_qwen3_dir: Path, photos: Path):
    done = cli("rank", "--model", str(tiny_qwen3_dir), "--query", "a red photo", "--format", "json", str(photos))
    assert done.returncode == 0, done.stderr
    records = {r["name"]: r for r in json.loads(done.stdout)}
    assert {r["family"] for r in records.values()} == {"qwen3-vl-reranker"}
    assert records["red.jpg"]["scored_size"] == "640x480"  # 32-px geometry: kept as it is
    assert records["blue.png"]["scored_size"] == "160x128"  # 150x120 rounded to multiples of 32
    assert "family qwen3-vl-reranker" in done.stderr


def test_a_family_that_does_not_fit_the_architecture_is_one_line(cli, tiny_qwen3_dir: Path, photos: Path):
    done = cli("rank", "--model", str(tiny_qwen3_dir), "--family", "lychee", "--query", "red", str(photos))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr and "runs on qwen2_5_vl, qwen2_vl models" in lines[-1]


def test_an_unsupported_architecture_is_refused_before_any_work(cli, tmp_path: Path, photos: Path):
    folder = tmp_path / "jina-like"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    for name in ("model.safetensors", "preprocessor_config.json", "tokenizer.json"):
        (folder / name).write_text("{}")  # never read: the config is refused first
    done = cli("rank", "--model", str(folder), "--query", "red", str(photos))
    assert done.returncode == 1 and done.stdout == ""
    lines = [line for line in done.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert "'bert' model" in lines[0] and "qwen3-vl-reranker" in lines[0] and "monoqwen2-vl" in lines[0]


def test_models_lists_every_family_with_counted_parameters(cli):
    done = cli("models", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["family"] for r in rows} == {"lychee", "qwen3-vl-reranker", "monoqwen2-vl", "instruct"}
    by_id = {r["checkpoint"]: r for r in rows}
    assert by_id["Qwen/Qwen3-VL-Reranker-2B"]["parameters"] == parameter_count("qwen3-vl-reranker-2b")
    assert by_id["vec-ai/lychee-rerank-mm"]["parameters"] == parameter_count("qwen2.5-vl-7b-arch")
    assert by_id["lightonai/MonoQwen2-VL-v0.1"]["modalities"] == "text→image"
    for row in rows:
        assert row["bf16_weights_gib"] == pytest.approx(2 * row["parameters"] / 1024**3)
    table = cli("models")
    assert "Qwen/Qwen3-VL-Reranker-8B" in table.stdout and "16.3" in table.stdout


def test_a_batch_job_on_a_qwen3_folder_scores_with_its_family(cli, tiny_qwen3_dir: Path, photos: Path, tmp_path: Path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"query,image\na red photo,{photos / 'red.jpg'}\na red photo,{photos / 'blue.png'}\n")
    out = tmp_path / "out.csv"
    done = cli("batch", str(manifest), "--model", str(tiny_qwen3_dir), "--out", str(out), "--batch-size", "2")
    assert done.returncode == 0, done.stderr
    rows = out.read_text().splitlines()
    assert "640x480" in rows[1] and "160x128" in rows[2]  # Qwen3-VL's 32-px geometry
    assert "family qwen3-vl-reranker" in done.stderr
