"""The benchmark scripts and ``lychee-rerank bench`` run and report in the expected shape.

Benchmarks are not tests: nothing here asserts on a time or a speed. The
scripts run on the tiny model with a few small images.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lychee_rerank import bench, model_specs
from lychee_rerank.cli import main as cli_main
from lychee_rerank.errors import InvalidSettingError, LycheeRerankError

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")


def run_script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


# --------------------------------------------------------------------------- throughput.py


def test_throughput_script_reports_both_modes_and_the_ratio(tiny_reranker_dir: Path, tmp_path: Path):
    out = tmp_path / "throughput.json"
    proc = run_script(
        "throughput.py", "--model", str(tiny_reranker_dir), "--batch-sizes", "1,2", "--images", "2",
        "--image-sizes", "112x112", "--new-tokens", "5", "--out", str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("ratio yes/no ÷ generate (images/s) at 112x112, batch 2: ")
    assert any(line.startswith("| size") and "img/s" in line for line in lines)
    report = json.loads(out.read_text())
    runs = {(r["mode"], r["batch_size"]): r for r in report["runs"]}
    assert set(runs) == {("yesno", 1), ("yesno", 2), ("generate", 1), ("generate", 2)}
    for run in runs.values():
        assert run["images"] == 2 and run["images_per_s"] > 0 and not run["failed"]
        assert set(run["stage_s"]) == {"preprocess", "forward", "postprocess", "intake_and_other"}
        assert set(run["latency_per_image_s"]) == {"median", "p90"}
    # generate was forced to make every token, so an early EOS cannot flatter it
    assert runs[("generate", 2)]["generated_tokens_per_batch"] == [5]
    assert runs[("yesno", 1)]["generated_tokens_per_batch"] is None
    assert [r["batch_size"] for r in report["ratios"]] == [1, 2]
    assert report["machine"]["cpu"] and report["parameters"] > 0


# --------------------------------------------------------------------------- memory.py


def test_memory_script_reports_rss_growth(tiny_reranker_dir: Path, tmp_path: Path):
    out = tmp_path / "memory.json"
    proc = run_script(
        "memory.py", "--model", str(tiny_reranker_dir), "--images", "12", "--after", "10",
        "--image-sizes", "64x64,96x80", "--out", str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("RSS growth from image 10 to image 12: ")
    report = json.loads(out.read_text())
    assert set(report["checkpoints"]) == {"10", "12"}
    assert report["checkpoints"]["12"]["rss"] > 0 and not report["failed"]
    assert "rss_pct" in report["growth"]


# --------------------------------------------------------------------------- the published architectures


@no_cuda
@pytest.mark.parametrize("script", ["throughput.py", "memory.py"])
def test_arch_models_refuse_without_cuda(script: str, tmp_path: Path):
    proc = run_script(script, "--model", "qwen2.5-vl-7b-arch", "--out", str(tmp_path / "x.json"), timeout=120)
    assert proc.returncode == 2
    assert "needs a CUDA GPU" in proc.stderr and "qwen2.5-vl-7b-arch" in proc.stderr
    assert not (tmp_path / "x.json").exists()


@no_cuda
def test_arch_loader_refuses_without_cuda():
    for name in model_specs.ARCH_SPECS:
        with pytest.raises(InvalidSettingError, match="needs a CUDA GPU"):
            model_specs.load_arch_model(name)
        with pytest.raises(InvalidSettingError, match="needs a CUDA GPU"):
            bench.resolve_model(name, device="cpu")


@pytest.mark.parametrize("spec", [model_specs.QWEN25_VL_7B, model_specs.QWEN25_VL_3B], ids=lambda s: s.name)
def test_arch_configs_match_the_published_models(spec: model_specs.ArchSpec):
    tokenizer = model_specs.train_tokenizer(model_specs.ARCH_TOKENIZER_VOCAB)
    config = model_specs.build_arch_config(spec, tokenizer)
    assert config.text_config.vocab_size == 152064 > len(tokenizer)
    assert config.vision_config.out_hidden_size == config.text_config.hidden_size
    assert list(config.vision_config.fullatt_block_indexes) == [7, 15, 23, 31]
    assert config.text_config.rope_parameters["mrope_section"] == [16, 24, 24]
    params = model_specs.count_parameters(config)  # on the meta device: no memory
    assert abs(params / 1e9 - spec.published_params_b) < 0.01 * spec.published_params_b


def test_random_model_with_the_published_vocab_scores_on_cpu():
    """The *-arch path (vocab larger than the tokenizer, built in memory) works end to end, shrunk."""
    from lychee_rerank.reranker import Reranker

    from conftest import png_bytes

    small = dataclasses.replace(
        model_specs.QWEN25_VL_3B, name="shrunk", text_hidden=64, text_layers=2, text_heads=4, text_kv_heads=2,
        text_intermediate=128, mrope_section=(2, 3, 3), vision_hidden=32, vision_depth=2, vision_heads=2,
        vision_intermediate=64, vision_out_hidden=64, fullatt_block_indexes=(1,),
    )
    loaded = model_specs.build_random_model(small, device="cpu", dtype=torch.float32)
    assert loaded.model.get_input_embeddings().num_embeddings == 152064
    for mode in ("yesno", "generate"):
        ranking = Reranker(loaded, mode=mode).rank("red", [png_bytes("red"), png_bytes("blue")])
        assert [r.ok for r in ranking] == [True, True]


def test_built_model_dir_is_cached(tmp_path: Path):
    first = model_specs.built_model_dir("tiny", tmp_path)
    assert (first / "config.json").exists()
    assert model_specs.built_model_dir("tiny", tmp_path) == first


# --------------------------------------------------------------------------- lychee-rerank bench


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    """Three queries over generated images, paths relative to the JSONL file."""
    folder = tmp_path / "labelled"
    (folder / "img").mkdir(parents=True)
    names = []
    for i in range(4):
        (folder / "img" / f"{i}.jpg").write_bytes(bench.synthetic_image(i, (96, 64)))
        names.append(f"img/{i}.jpg")
    lines = [
        {"query": "a red square", "images": names, "relevant": [0]},
        {"query": "蓝色圆形", "images": names[1:], "relevant": [1, 2]},
        {"query": "a green star", "images": names, "relevant": [3]},
    ]
    path = folder / "labels.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n", encoding="utf-8")
    return path


def test_bench_command_compares_dtypes(tiny_reranker_dir: Path, labels_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "precision.json"
    code = cli_main([
        "-q", "bench", "--model", str(tiny_reranker_dir), "--labels", str(labels_file), "--device", "cpu",
        "--dtypes", "bfloat16,int4,float32", "--out", str(out),
    ])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = next(line for line in lines if line.startswith("| dtype"))
    for column in ("top-1 acc", "top-3 cov", "score std", "parse ok", "s/image", "peak MiB", "weights MiB", "spearman vs fp32"):
        assert column in header
    assert lines[-3].startswith("| bfloat16 | yesno") and lines[-2].startswith("| int4") and "error" in lines[-2]
    assert lines[-1].startswith("| float32  | yesno")
    rows = {row["dtype"]: row for row in json.loads(out.read_text())["rows"]}
    assert "error" in rows["int4"] and "dtype" in rows["int4"]["error"]
    fp32, bf16 = rows["float32"], rows["bfloat16"]
    assert fp32["spearman_vs_float32"] == 1.0
    assert bf16["spearman_vs_float32"] is None or -1.0 <= bf16["spearman_vs_float32"] <= 1.0
    assert fp32["queries"] == 3 and fp32["images"] == 11 and len(fp32["scores"]) == 11
    assert 0 <= fp32["top1_accuracy"] <= fp32["top3_coverage"] <= 1
    assert fp32["parse_success"] is None  # n/a in yes/no mode
    assert fp32["peak_memory_kind"] == "RSS delta"
    assert fp32["weights_mib"] == pytest.approx(2 * bf16["weights_mib"])


def test_bench_command_generate_mode_reports_parse_success(tiny_instruct_dir: Path, labels_file: Path, tmp_path: Path, capsys):
    out = tmp_path / "precision.json"
    code = cli_main([
        "-q", "bench", "--model", str(tiny_instruct_dir), "--labels", str(labels_file), "--device", "cpu",
        "--dtypes", "float32", "--mode", "generate", "--out", str(out),
    ])
    assert code == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["mode"] == "generate" and 0.0 <= row["parse_success"] <= 1.0


def test_bench_quantization_fails_clearly_on_cpu(tiny_reranker_dir: Path, labels_file: Path, tmp_path: Path, capsys):
    code = cli_main([
        "-q", "bench", "--model", str(tiny_reranker_dir), "--labels", str(labels_file), "--device", "cpu",
        "--dtypes", "float32", "--quantization", "int8", "--out", str(tmp_path / "p.json"),
    ])
    assert code == 1  # every dtype failed
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert "InvalidSettingError" in row and "CUDA" in row


def test_bench_needs_labels_unless_demo(tiny_reranker_dir: Path, capsys):
    assert cli_main(["bench", "--model", str(tiny_reranker_dir), "--device", "cpu"]) == 1
    assert "--labels" in capsys.readouterr().err
    assert bench.DEMO_LABELS == Path(bench.__file__).parent / "demo" / "examples" / "labels.jsonl"


def test_read_labels_rejects_bad_indices(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"query": "q", "images": ["a.jpg"], "relevant": [3]}) + "\n")
    with pytest.raises(LycheeRerankError, match="relevant"):
        bench.read_labels(path)


# --------------------------------------------------------------------------- helpers


def test_spearman_and_percentiles():
    assert bench.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert bench.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert bench.spearman([1, 1, 1], [1, 2, 3]) is None
    assert bench._ranks([5.0, 1.0, 5.0]) == [2.5, 1.0, 2.5]
    assert bench.percentile([1, 2, 3, 4, 5], 50) == 3
    assert bench.percentile([0, 10], 90) == pytest.approx(9.0)
    assert bench.parse_size("1024x768") == (1024, 768)


def test_synthetic_images_are_distinct():
    images = bench.synthetic_images(5, (64, 48))
    assert len({data for _, data in images}) == 5
    assert bench.rss_bytes() > 0 and bench.peak_rss_bytes() >= bench.rss_bytes() // 2


def test_mid_with_the_published_vocab_differs_from_mid_only_in_vocab():
    tokenizer = model_specs.train_tokenizer(model_specs.ARCH_TOKENIZER_VOCAB)
    config = model_specs.build_arch_config(model_specs.MID_QWEN_VOCAB, tokenizer)
    mid = model_specs.MID_SPEC
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (mid.text_hidden, mid.text_layers)
    assert (config.vision_config.hidden_size, config.vision_config.depth) == (mid.vision_hidden, mid.vision_depth)
    assert config.text_config.vocab_size == 152064
    assert 110e6 < model_specs.count_parameters(config) < 130e6
