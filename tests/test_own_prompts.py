"""Prompt adherence on the demo model: generated images ranked by their own embedded prompts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import sd_writers as sd
from PIL import Image

from lychee_rerank.cli import main
from lychee_rerank.export import to_csv, to_json
from lychee_rerank.own_prompts import NO_PROMPT_WARNING, query_for, rank_by_own_prompts
from lychee_rerank.scoring.prompts import INSTRUCTION_PRESETS
from lychee_rerank.settings import DEMO_EXAMPLES_DIR, DEMO_MODEL_DIR

needs_model = pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="demo model not built")


def example(name: str) -> Image.Image:
    with Image.open(DEMO_EXAMPLES_DIR / name) as image:
        return image.convert("RGB")


def comfy_with_primitive(prompt: str, image: Image.Image) -> bytes:
    graph = sd.comfy_graph(positive=["10", 0])
    graph["10"] = {"inputs": {"value": prompt}, "class_type": "PrimitiveStringMultiline"}
    return sd.comfy_png(graph, image=image)


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """Demo shapes saved by three front ends; two prompts match their image, two name another one."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    files = {
        "a1111_red_circle.png": sd.a1111_png(sd.infotext("a red circle", "blurry", seed=11), example("red_circle.png")),
        "comfy_green_star.png": comfy_with_primitive("a green star", example("green_star.png")),
        "invoke_blue_square.png": sd.invokeai_png(sd.invokeai_metadata("a red circle", seed=33),
                                                  example("blue_square_on_yellow.png")),
        "a1111_purple_circle.jpg": sd.a1111_jpeg(sd.infotext("a green star", seed=44),
                                                 example("purple_circle_on_mint.png")),
        "plain_orange_square.png": sd._save(example("orange_square_on_darkgrey.png"), "PNG"),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def demo():
    import torch

    from lychee_rerank import Reranker

    torch.set_num_threads(1)
    return Reranker.from_pretrained("demo", device="cpu", dtype="float32", batch_size=4)


def test_query_for_normalises_mixes_and_falls_back():
    assert query_for("  a red\n circle ", None, mix=False) == ("a red circle", True)
    assert query_for("a red circle", "sharp", mix=True) == ("a red circle, and also: sharp", True)
    assert query_for(None, "a red circle", mix=True) == ("a red circle", False)
    assert query_for("   ", None, mix=False) == (None, False)


@needs_model
def test_images_that_follow_their_prompt_outrank_those_that_do_not(demo, generated):
    ranking = rank_by_own_prompts(demo, sorted(generated.iterdir()))
    by_name = {r.name: r for r in ranking}
    assert len(ranking) == 5 and ranking.stats["groups"] == 2
    followed = {"a1111_red_circle.png", "comfy_green_star.png"}
    assert {r.name for r in ranking[:2]} == followed, [(r.name, r.score) for r in ranking]
    assert min(by_name[n].score for n in followed) > 5 > max(
        by_name[n].score for n in ("invoke_blue_square.png", "a1111_purple_circle.jpg"))
    plain = ranking[-1]
    assert (plain.name, plain.parse_method, plain.warning, plain.prompt) == (
        "plain_orange_square.png", "no_prompt", NO_PROMPT_WARNING, None)
    assert by_name["comfy_green_star.png"].query == "a green star"
    assert (by_name["a1111_red_circle.png"].seed, by_name["a1111_red_circle.png"].generator) == (11, "AUTOMATIC1111")
    assert by_name["invoke_blue_square.png"].generator == "InvokeAI"
    assert {r.instruction for r in ranking if r.ok} == {INSTRUCTION_PRESETS["generated"]}
    assert sorted(r.index for r in ranking) == [0, 1, 2, 3, 4]


@needs_model
def test_a_typed_query_scores_the_images_without_a_prompt(demo, generated):
    ranking = rank_by_own_prompts(demo, sorted(generated.iterdir()), query="an orange square")
    plain = next(r for r in ranking if r.name == "plain_orange_square.png")
    assert plain.ok and plain.query == "an orange square"
    assert "scored against the typed query" in " ".join(plain.notes)
    assert next(r for r in ranking if r.name == "a1111_red_circle.png").query == "a red circle"


@needs_model
def test_a_mixed_query_appends_the_typed_text(demo, generated):
    ranking = rank_by_own_prompts(demo, sorted(generated.iterdir()), query="flat", mix=True)
    assert next(r for r in ranking if r.name == "a1111_red_circle.png").query == "a red circle, and also: flat"


@needs_model
def test_progress_counts_the_whole_run_and_stop_keeps_every_row(demo, generated):
    seen = []
    rank_by_own_prompts(demo, sorted(generated.iterdir()), on_progress=lambda d, t, r: seen.append((d, t, r.index)))
    assert [(d, t) for d, t, _ in seen] == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert seen[0][2] == 4 and sorted(i for _, _, i in seen) == [0, 1, 2, 3, 4]  # the row without a prompt first
    stopped = rank_by_own_prompts(demo, sorted(generated.iterdir()), should_stop=lambda: True)
    assert len(stopped) == 5 and stopped.stopped
    assert {r.parse_method for r in stopped} == {"skipped", "no_prompt"}


@needs_model
def test_exports_carry_the_generation_columns(demo, generated):
    ranking = rank_by_own_prompts(demo, sorted(generated.iterdir()))
    records = json.loads(to_json(ranking))
    assert all({"prompt", "negative_prompt", "seed", "generator", "generation", "query"} <= set(r) for r in records)
    red = next(r for r in records if r["name"] == "a1111_red_circle.png")
    assert (red["prompt"], red["negative_prompt"], red["seed"]) == ("a red circle", "blurry", 11)
    assert red["generation"]["Sampler"] == "DPM++ 2M"
    rows = list(csv.DictReader(io.StringIO(to_csv(ranking))))
    assert rows[0].keys() >= {"prompt", "negative_prompt", "seed", "generator"}
    assert next(r for r in rows if r["name"] == "comfy_green_star.png")["prompt"] == "a green star"


def test_plain_images_keep_the_old_export_columns(tmp_path):
    from lychee_rerank.results import RankResult

    result = RankResult(rank=1, index=0, name="a.png", score=1.0, raw_output="", parse_method="yesno")
    assert "prompt" not in json.loads(to_json([result]))[0]
    assert "prompt" not in to_csv([result]).splitlines()[0]


@needs_model
def test_cli_query_from_metadata_json(generated, capsys):
    code = main(["-q", "rank", "--model", "demo", "--device", "cpu", "--query-from-metadata", "--format", "json",
                 str(generated)])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out)
    assert len(records) == 5 and records[-1]["name"] == "plain_orange_square.png"
    assert {r["name"] for r in records[:2]} == {"a1111_red_circle.png", "comfy_green_star.png"}
    assert all("prompt" in r and "seed" in r for r in records)
    # Grouped by prompt without being asked (DESIGN.md §2): each prompt's best is rank 1 in its group.
    groups = {r["name"]: (r["group"], r["rank_in_group"]) for r in records}
    assert groups == {"a1111_red_circle.png": ("a red circle", 1), "invoke_blue_square.png": ("a red circle", 2),
                      "comfy_green_star.png": ("a green star", 1), "a1111_purple_circle.jpg": ("a green star", 2),
                      "plain_orange_square.png": ("(no prompt)", 1)}


@needs_model
def test_grouping_by_prompt_puts_each_prompts_best_first(tmp_path, capsys):
    winners = sd.make_prompt_batch(tmp_path / "batch")
    args = ["-q", "rank", "--model", "demo", "--device", "cpu", "--query-from-metadata", "--group-by", "prompt"]
    assert main([*args, "--format", "json", str(tmp_path / "batch")]) == 0
    records = json.loads(capsys.readouterr().out)
    best = {r["group"]: r["name"] for r in records if r["rank_in_group"] == 1}
    assert best == winners, [(r["group"], r["name"], r["score"]) for r in records]
    assert sorted(r["rank_in_group"] for r in records if r["group"] == "a green star") == [1, 2, 3]
    assert main([*args, str(tmp_path / "batch")]) == 0  # the table: one row per prompt, its best named
    table = capsys.readouterr().out.splitlines()
    assert table[0].split("|")[1].strip() == "group" and len(table) == 4
    assert {row.split("|")[1].strip(): row.split("|")[2].strip() for row in table[2:]} == winners


def test_cli_refuses_what_does_not_go_with_own_prompts(generated, capsys):
    for extra in (["--query-image", str(generated / "plain_orange_square.png")], ["--append-query"]):
        code = main(["rank", "--model", "demo", "--query-from-metadata", *extra, str(generated)])
        assert code == 1
        assert capsys.readouterr().err.strip().count("\n") == 0  # one line

