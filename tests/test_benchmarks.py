"""The benchmark scripts run and report in the expected shape; the published shapes match the hub's.

Benchmarks are not tests: nothing here asserts on a time or a speed. The
scripts run on the tiny model with a few small images.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lychee_rerank.demo import published
from lychee_rerank.errors import InvalidSettingError
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime import machine

import bench_support
import model_shapes
from helpers import png_bytes

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


# --------------------------------------------------------------------------- cpu_threads.py


def test_cpu_threads_script_times_one_thread_and_every_core_and_says_what_the_library_picks(
    tiny_reranker_dir: Path, tmp_path: Path,
):
    out = tmp_path / "cpu_threads.json"
    proc = run_script("cpu_threads.py", "--models", str(tiny_reranker_dir), "--images", "3", "--rounds", "2",
                      "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("The library picks one thread for a model on the CPU with under 16M parameters")
    report = json.loads(out.read_text())
    (model,) = report["models"]
    cores = str(report["cores"])
    assert len(model["seconds"]["1"]) == len(model["seconds"][cores]) == 2
    assert all(value > 0 for value in model["seconds"]["1"] + model["seconds"][cores])
    assert model["all_over_one"] == pytest.approx(model["all_s"] / model["one_s"])
    assert model["auto_threads"] == 1, "the tiny model is small: the library picks one thread"
    assert 0 < model["compute_parameters"] < model["parameters"]
    row = next(line for line in lines if line.startswith(f"| {tiny_reranker_dir}"))
    assert row.rstrip(" |").endswith("| 1")


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
    for name in model_shapes.ARCH_SHAPES:
        with pytest.raises(InvalidSettingError, match="needs a CUDA GPU"):
            model_shapes.load_arch_model(name)
        with pytest.raises(InvalidSettingError, match="needs a CUDA GPU"):
            bench_support.resolve_model(name, device="cpu")


@pytest.mark.parametrize("shape", [model_shapes.QWEN25_VL_7B, model_shapes.QWEN25_VL_3B], ids=lambda s: s.name)
def test_arch_configs_match_the_published_models(shape):
    tokenizer = model_shapes.train_tokenizer(model_shapes.ARCH_TOKENIZER_VOCAB)
    config = model_shapes.build_config(shape, tokenizer)
    assert config.text_config.vocab_size == 152064 > len(tokenizer)
    assert config.vision_config.out_hidden_size == config.text_config.hidden_size
    assert list(config.vision_config.fullatt_block_indexes) == [7, 15, 23, 31]
    assert config.text_config.rope_parameters["mrope_section"] == [16, 24, 24]
    params = model_shapes.count_parameters(config)  # on the meta device: no memory
    published = model_shapes.PUBLISHED_PARAMS_B[shape.name]
    assert abs(params / 1e9 - published) < 0.01 * published


def test_random_model_with_the_published_vocab_scores_on_cpu():
    """The *-arch path (vocab larger than the tokenizer, built in memory) works end to end, shrunk."""
    small = dataclasses.replace(
        model_shapes.QWEN25_VL_3B, name="shrunk", text_hidden=64, text_layers=2, text_heads=4, text_kv_heads=2,
        text_intermediate=128, mrope_section=(2, 3, 3), vision_hidden=32, vision_depth=2, vision_heads=2,
        vision_intermediate=64, fullatt_block_indexes=(1,),
    )
    loaded = model_shapes.build_random_model(small, device="cpu", dtype=torch.float32)
    assert loaded.model.get_input_embeddings().num_embeddings == 152064
    for mode in ("yesno", "generate"):
        ranking = Reranker(loaded, mode=mode).rank("red", [png_bytes("red"), png_bytes("blue")])
        assert [r.ok for r in ranking] == [True, True]


@pytest.mark.parametrize("name", sorted(model_shapes.QWEN3_ARCH_SHAPES))
def test_the_qwen3_reranker_arch_path_scores_on_cpu_shrunk(name: str):
    """The Qwen3-VL-Reranker *-arch shapes go through the same builder (published vocabulary), shrunk to run here."""
    small = dataclasses.replace(
        model_shapes.QWEN3_ARCH_SHAPES[name], text_hidden=64, text_layers=2, text_heads=4, text_kv_heads=2,
        head_dim=16, text_intermediate=128, vision_hidden=32, vision_depth=2, vision_heads=2, vision_intermediate=64,
        deepstack_visual_indexes=(0,), num_position_embeddings=64,
    )
    loaded = model_shapes.build_random_model(small, device="cpu", dtype=torch.float32)
    assert loaded.model.get_input_embeddings().num_embeddings == 151936
    reranker = Reranker(loaded, mode="yesno")
    assert reranker.family.name == "qwen3-vl-reranker"
    ranking = reranker.rank("red", [png_bytes("red", (640, 480)), png_bytes("blue")])
    assert [r.ok for r in ranking] == [True, True]
    assert {r.scored_size for r in ranking} == {(640, 480), (64, 64)}  # 32-px geometry


def test_published_parameter_counts_are_those_of_the_checkpoints():
    """Counted on the meta device from each architecture: Qwen2.5-VL-7B's matches the hub's 8.29B; the others pin
    what the published dimensions give (the names say 2B, 8B and 2B), so a typo in a dimension shows."""
    counts = {name: published.parameter_count(name) / 1e9 for name in
              ("qwen2.5-vl-7b-arch", "qwen3-vl-reranker-2b", "qwen3-vl-reranker-8b", "qwen2-vl-2b")}
    assert {name: round(count, 2) for name, count in counts.items()} == {
        "qwen2.5-vl-7b-arch": 8.29, "qwen3-vl-reranker-2b": 2.13, "qwen3-vl-reranker-8b": 8.77, "qwen2-vl-2b": 2.21}


def test_built_model_dir_is_cached(tmp_path: Path):
    first = model_shapes.built_model_dir("tiny", tmp_path)
    assert (first / "config.json").exists()
    assert model_shapes.built_model_dir("tiny", tmp_path) == first


# --------------------------------------------------------------------------- helpers


def test_percentiles_and_sizes():
    assert bench_support.percentile([1, 2, 3, 4, 5], 50) == 3
    assert bench_support.percentile([0, 10], 90) == pytest.approx(9.0)
    assert bench_support.parse_size("1024x768") == (1024, 768)


def test_median_interval_is_the_order_statistics_of_the_binomial():
    # For 7 values the 95% interval of the median is the smallest to the largest (each side 1/128 < 2.5%); for
    # 11 the second smallest to the second largest; 5 values cannot give 95% (each side 1/32 > 2.5%).
    values = [1.24, 1.45, 1.29, 1.21, 1.30, 1.38, 0.99, 1.38, 0.90, 1.10, 1.24]
    assert bench_support.median_interval(values[:7]) == (0.99, 1.45)
    assert bench_support.median_interval(values) == (0.99, 1.38)
    low, high = bench_support.median_interval(values[:5])
    assert math.isnan(low) and math.isnan(high)


def test_synthetic_images_are_distinct():
    images = bench_support.synthetic_images(5, (64, 48))
    assert len({data for _, data in images}) == 5
    assert machine.rss_bytes() > 0 and machine.peak_rss_bytes() >= machine.rss_bytes() // 2


def test_mid_with_the_published_vocab_differs_from_mid_only_in_vocab():
    tokenizer = model_shapes.train_tokenizer(model_shapes.ARCH_TOKENIZER_VOCAB)
    config = model_shapes.build_config(model_shapes.MID_QWEN_VOCAB, tokenizer)
    mid = model_shapes.MID
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (mid.text_hidden, mid.text_layers)
    assert (config.vision_config.hidden_size, config.vision_config.depth) == (mid.vision_hidden, mid.vision_depth)
    assert config.text_config.vocab_size == 152064
    assert 110e6 < model_shapes.count_parameters(config) < 130e6


# --------------------------------------------------------------------------- engine.py


def test_engine_script_compares_sequential_prepared_ahead_and_batches(tiny_reranker_dir: Path, tmp_path: Path):
    out = tmp_path / "engine.json"
    proc = run_script("engine.py", "--model", str(tiny_reranker_dir), "--images", "4", "--batch", "2",
                      "--image-sizes", "112x84,56x56", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("requery (batch auto, cache on): first ")
    report = json.loads(out.read_text())
    labels = [r["run"] for r in report["runs"]]
    assert labels[:2] == ["batch 1, sequential", "batch 1, prepared ahead"] and len(labels) == 7
    assert labels[-1] == "batch 2, prepared ahead, input order"
    by_label = {r["run"]: r for r in report["runs"]}
    # two sizes alternating: ordered by size, batches of 2 hold one size each; in input order they mix
    assert by_label["batch 2, prepared ahead"]["padding_fraction"] == 0.0
    assert by_label["batch 2, prepared ahead, input order"]["padding_fraction"] > 0.0
    assert report["max_score_spread_across_runs"] < 1e-3 and report["requery"]["same_ranking"]


# --------------------------------------------------------------------------- zip_members.py


def test_zip_members_script_reports_time_per_member_and_one_directory_parse(tmp_path: Path):
    out = tmp_path / "zip.json"
    proc = run_script("zip_members.py", "--members", "30", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["zip"]["inputs"] == report["folder"]["inputs"] == 30
    assert report["zipfile_constructions"] == 1
    assert proc.stdout.strip().splitlines()[-1].startswith("zipfile.ZipFile constructed 1 time(s)")


# --------------------------------------------------------------------------- takeout.py


def test_takeout_script_reports_sidecar_and_stacking_times(tmp_path: Path):
    out = tmp_path / "takeout.json"
    proc = run_script("takeout.py", "--images", "12", "--width", "64", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["sidecars_written"] == report["sidecars_merged"] == 12 and 1 <= report["stacks"] <= 12
    assert proc.stdout.strip().splitlines()[-1].startswith("| stack: total")


# --------------------------------------------------------------------------- generation_metadata.py


def test_generation_metadata_script_reads_every_prompt(tmp_path: Path):
    out = tmp_path / "gen.json"
    proc = run_script("generation_metadata.py", "--images", "6", "--size", "32", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["images"] == report["with_prompt"] == 6
    assert "ms/image" in proc.stdout


def test_page_updates_counts_the_model_process_and_names_chromiums_parts(tmp_path: Path):
    import page_updates

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert {os.getpid(), child.pid} <= page_updates.process_tree(os.getpid())
        memory = page_updates.tree_rss_mib(os.getpid())
        assert memory["model_process"] > 0 and memory["total"] == memory["server"] + memory["model_process"]
    finally:
        child.kill()
        child.wait()
    commands = {"renderer": b"/usr/lib/chromium/chromium --type=renderer --lang=en-US",  # rewritten: spaces
                "gpu": b"chromium\0--type=gpu-process\0--headless\0",
                "browser": b"/usr/lib/chromium/chromium --headless"}
    for kind, command in commands.items():
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "cmdline").write_bytes(command)
        assert page_updates.chromium_kind(tmp_path / kind) == kind
    assert page_updates.chromium_kind(tmp_path / "no-such-process") == "gone"
