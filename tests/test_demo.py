"""The demo reranker: scene generator, committed model accuracy, API and CLI on the shipped examples."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lychee_rerank.demo import scenes
from lychee_rerank.demo.gallery import EXAMPLES, LABELLED_QUERIES
from lychee_rerank.settings import DEMO_EXAMPLES_DIR as EXAMPLES_DIR
from lychee_rerank.settings import DEMO_MODEL_DIR

needs_model = pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="demo model not built")


@pytest.fixture(scope="module")
def demo_reranker():
    import torch

    from lychee_rerank import Reranker

    torch.set_num_threads(1)
    return Reranker.from_pretrained("demo", device="cpu", dtype="float32", batch_size=12)


def test_scenes_are_deterministic_and_draw_what_they_claim():
    for seed in range(40):
        a = scenes.random_scene(random.Random(seed))
        b = scenes.random_scene(random.Random(seed))
        assert a == b
        image = a.draw()
        assert image.size == (scenes.CANVAS, scenes.CANVAS)
        assert image.tobytes() == b.draw().tobytes()
        assert a.colour in scenes.COLOURS and a.shape in scenes.SHAPES
        centre = image.getpixel((a.cx, a.cy))
        named = scenes.COLOURS[a.colour][0]
        assert max(abs(x - y) for x, y in zip(centre, named)) <= scenes.COLOUR_JITTER + 2, (a, centre)
        assert scenes._distance(a.background_rgb, named) >= scenes.MIN_BACKGROUND_DISTANCE
        corner = image.getpixel((0, 0)) if (a.cx > 30 or a.cy > 30) else image.getpixel((scenes.CANVAS - 1,) * 2)
        assert corner == a.background_rgb


def test_ranking_tasks_have_one_match_and_hard_negatives():
    query, task, target = scenes.ranking_task(random.Random(scenes.EVAL_SEED_BASE + 7))
    assert len(task) == 12
    match = task[target]
    others = [s for i, s in enumerate(task) if i != target]
    assert all((s.colour, s.shape) != (match.colour, match.shape) for s in others)
    assert sum(s.colour == match.colour for s in others) >= 3
    assert sum(s.shape == match.shape for s in others) >= 3
    assert query in scenes.all_queries()


@needs_model
def test_tokenizer_knows_query_words(demo_reranker):
    tokenizer = demo_reranker.processor.tokenizer
    assert len(tokenizer.encode("yes", add_special_tokens=False)) == 1
    assert len(tokenizer.encode("no", add_special_tokens=False)) == 1
    # Words as they occur inside a query (after a space) are single tokens.
    for word in [*scenes.COLOURS, *scenes.SHAPES, "红色", "圆形", "正方形"]:
        assert len(tokenizer.encode(" " + word, add_special_tokens=False)) == 1, word
    for query in scenes.all_queries():
        ids = tokenizer.encode(query, add_special_tokens=False)
        assert tokenizer.decode(ids) == query
        assert tokenizer.unk_token_id not in ids


@needs_model
def test_model_folder_is_small_and_plain():
    size = sum(p.stat().st_size for p in DEMO_MODEL_DIR.iterdir() if p.is_file())
    assert size < 5 * 1024 * 1024
    config = json.loads((DEMO_MODEL_DIR / "config.json").read_text())
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert config["lychee_reranker"]["kind"] == "yesno"


@needs_model
@pytest.mark.slow
def test_committed_model_ranks_held_out_tasks(demo_reranker):
    from lychee_rerank.demo.evaluate import evaluate

    # Eval seed 1 (the CLI's default is 0): 60 tasks x 12 candidates never seen in training.
    # The shipped model scores 0.883 here (0.920 on 200 tasks of seed 0): the first stage alone
    # scored 0.96, the second stage traded a little of it for every other task shape.
    result = evaluate(tasks=60, seed=1, reranker=demo_reranker)
    assert result.top1 >= 0.85, result.failures
    assert result.top3 >= 0.97


@needs_model
def test_api_ranks_red_circle_first_among_examples(demo_reranker):
    files = sorted(EXAMPLES_DIR.glob("*.png"))
    assert len(files) >= 8
    ranking = demo_reranker.rank("a red circle", [str(f) for f in files])
    assert ranking.mode == "yesno"
    assert ranking[0].name == "red_circle.png"


@needs_model
def test_labelled_examples_rank_relevant_first(demo_reranker):
    lines = [json.loads(line) for line in (EXAMPLES_DIR / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(LABELLED_QUERIES)
    for item in lines:
        files = [str(EXAMPLES_DIR / name) for name in item["images"]]
        ranking = demo_reranker.rank(item["query"], files)
        assert ranking[0].index in item["relevant"], (item["query"], ranking[0].name)


@needs_model
def test_cli_ranks_red_circle_first(tmp_path: Path):
    script = Path(sys.executable).parent / "lychee-rerank"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lychee_rerank.cli"]
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES_DIR, folder)
    proc = subprocess.run(
        command + ["rank", "--model", "demo", "--query", "a red circle", "--format", "json", str(folder)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == len(EXAMPLES)
    assert rows[0]["name"] == "red_circle.png"
    assert rows[0]["rank"] == 1
