"""``lychee-rerank bench``: the dtype comparison on labelled queries, run in process on tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lychee_rerank import evaluation
from lychee_rerank.bench_command import DEMO_LABELS
from lychee_rerank.cli import main as cli_main
from lychee_rerank.errors import LycheeRerankError
from lychee_rerank.settings import DEMO_EXAMPLES_DIR

from bench_support import synthetic_image


def bench(model: Path, labels: Path, *args: str) -> int:
    """``lychee-rerank -q bench`` on the CPU, in process; returns the exit code."""
    return cli_main(["-q", "bench", "--model", str(model), "--labels", str(labels), "--device", "cpu", *args])


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    """Three queries over generated images, paths relative to the JSONL file."""
    folder = tmp_path / "labelled"
    (folder / "img").mkdir(parents=True)
    names = []
    for i in range(4):
        (folder / "img" / f"{i}.jpg").write_bytes(synthetic_image(i, (96, 64)))
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
    code = bench(tiny_reranker_dir, labels_file, "--dtypes", "bfloat16,int4,float32", "--out", str(out))
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = next(line for line in lines if line.startswith("| dtype"))
    for column in (
        "top-1 acc",
        "top-3 cov",
        "score std",
        "parse ok",
        "s/image",
        "peak MiB",
        "weights MiB",
        "spearman vs fp32",
    ):
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


def test_bench_command_generate_mode_reports_parse_success(
    tiny_instruct_dir: Path, labels_file: Path, tmp_path: Path, capsys
):
    out = tmp_path / "precision.json"
    code = bench(tiny_instruct_dir, labels_file, "--dtypes", "float32", "--mode", "generate", "--out", str(out))
    assert code == 0
    row = json.loads(out.read_text())["rows"][0]
    assert row["mode"] == "generate" and 0.0 <= row["parse_success"] <= 1.0


def test_bench_quantization_fails_clearly_on_cpu(tiny_reranker_dir: Path, labels_file: Path, tmp_path: Path, capsys):
    out = str(tmp_path / "p.json")
    code = bench(tiny_reranker_dir, labels_file, "--dtypes", "float32", "--quantization", "int8", "--out", out)
    assert code == 1  # every dtype failed
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert "InvalidSettingError" in row and "CUDA" in row


def test_bench_needs_labels_unless_demo(tiny_reranker_dir: Path, capsys):
    assert cli_main(["bench", "--model", str(tiny_reranker_dir), "--device", "cpu"]) == 1
    assert "--labels" in capsys.readouterr().err
    assert DEMO_LABELS == DEMO_EXAMPLES_DIR / "labels.jsonl" and DEMO_LABELS.is_file()


def test_read_labels_rejects_bad_indices(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"query": "q", "images": ["a.jpg"], "relevant": [3]}) + "\n")
    with pytest.raises(LycheeRerankError, match="relevant"):
        evaluation.read_labels(path)


def test_spearman():
    assert evaluation.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert evaluation.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert evaluation.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert evaluation.spearman([1, 1, 1], [1, 2, 3]) is None
    assert evaluation._ranks([5.0, 1.0, 5.0]) == [2.5, 1.0, 2.5]
