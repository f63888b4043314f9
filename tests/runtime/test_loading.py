"""Model loading: typed errors, dtype/device choice and mode choice, on real tiny model folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from lychee_rerank import (
    IncompleteModelError,
    InvalidSettingError,
    ModelNotFoundError,
    Reranker,
    UnsupportedModelError,
)
from lychee_rerank.runtime.devices import gpu_max_memory, offloaded_modules, resolve_device, resolve_dtype
from lychee_rerank.runtime.loading import looks_like_path, resolve_attention


def test_missing_folder_names_the_path():
    with pytest.raises(ModelNotFoundError, match="/no/such/dir"):
        Reranker.from_pretrained("/no/such/dir")


def test_file_instead_of_folder(tmp_path: Path):
    file = tmp_path / "model.bin"
    file.write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        Reranker.from_pretrained(str(file))


def test_incomplete_folder_lists_missing_files(tiny_reranker_dir: Path, tmp_path: Path):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_reranker_dir, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(IncompleteModelError, match="model.safetensors"):
        Reranker.from_pretrained(str(partial))


def test_unsupported_architecture(tiny_reranker_dir: Path, tmp_path: Path):
    other = tmp_path / "bert"
    shutil.copytree(tiny_reranker_dir, other)
    (other / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(UnsupportedModelError, match="bert"):
        Reranker.from_pretrained(str(other))


def test_unknown_hub_id_offline_says_offline_and_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        Reranker.from_pretrained("vec-ai/lychee-rerank-mm")
    message = str(info.value)
    assert "offline" in message and "--model DIR" in message and "vec-ai/lychee-rerank-mm" in message


def test_looks_like_path():
    assert looks_like_path("/abs/dir") and looks_like_path("./rel") and looks_like_path("~/m")
    assert not looks_like_path("vec-ai/lychee-rerank-mm")


def test_auto_mode_picks_yesno_for_a_reranker(tiny_reranker):
    assert tiny_reranker.mode == "yesno"
    assert tiny_reranker.describe()["mode"] == "yesno"


def test_auto_mode_picks_generate_for_a_plain_model(tiny_instruct_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_instruct_dir), device="cpu")
    assert reranker.mode == "generate"


def test_forced_yesno_on_a_plain_model(tiny_instruct_dir: Path):
    assert Reranker.from_pretrained(str(tiny_instruct_dir), device="cpu", mode="yesno").mode == "yesno"


def test_bad_mode_is_a_typed_error(tiny_reranker_dir: Path):
    with pytest.raises(InvalidSettingError, match="mode"):
        Reranker.from_pretrained(str(tiny_reranker_dir), mode="maybe")


def test_cpu_defaults_to_float32_and_says_so(tiny_reranker):
    info = tiny_reranker.describe()
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert next(tiny_reranker.model.parameters()).dtype == torch.float32


def test_bfloat16_on_cpu_when_asked(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", dtype="bfloat16")
    assert next(reranker.model.parameters()).dtype == torch.bfloat16


def test_bad_dtype_and_device():
    with pytest.raises(InvalidSettingError, match="dtype"):
        resolve_dtype("int3", "cpu")
    with pytest.raises(InvalidSettingError, match="device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_fails_clearly(tiny_reranker_dir: Path):
    with pytest.raises(InvalidSettingError, match="no CUDA GPU"):
        Reranker.from_pretrained(str(tiny_reranker_dir), device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU refusal")
def test_quantization_refused_on_cpu(tiny_reranker_dir: Path):
    with pytest.raises(InvalidSettingError, match="CUDA"):
        Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", quantization="nf4")


def test_flash_attention_falls_back_without_the_package():
    pytest.importorskip("torch")
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        assert resolve_attention("flash_attention_2") == "sdpa"
    with pytest.raises(InvalidSettingError):
        resolve_attention("magic")


def test_offloaded_modules_are_detected():
    device_map = {
        "model.visual": 0,
        "model.language_model.layers.0": 0,
        "model.language_model.layers.1": "cpu",
        "lm_head": "disk",
    }
    assert offloaded_modules(device_map) == {"cpu": ["model.language_model.layers.1"], "disk": ["lm_head"]}
    assert offloaded_modules(None) == {}


@pytest.mark.gpu
def test_gpu_max_memory_keeps_a_reserve():
    limits = gpu_max_memory(reserve_gib=1.2, max_gpu_gib=4)
    assert limits["cpu"] and float(limits[0].removesuffix("GiB")) <= 4


@pytest.mark.gpu
def test_gpu_loads_bfloat16(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir))
    info = reranker.describe()
    assert info["device"] == "cuda" and info["dtype"] in ("bfloat16", "float16")
