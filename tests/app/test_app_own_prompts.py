"""The app with generated images: the "each image's own prompt" choice, and the generation info on each card."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import sd_writers as sd

from lychee_rerank.app import jobs
from lychee_rerank.export import to_json

from helpers import html_bodies, open_app, png_bytes

TIMEOUT = 60


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "a.png").write_bytes(sd.a1111_png(sd.infotext("a red circle", "blurry", seed=11)))
    (folder / "b.png").write_bytes(sd.comfy_png(sd.comfy_graph(positive="a green star", seed=22)))
    (folder / "plain.png").write_bytes(png_bytes("blue"))
    return folder


def run(at, folder: Path) -> jobs.Job:
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT), "the run did not finish"
    at.run()
    assert not at.exception, at.exception
    return job


def test_the_own_prompt_choice_is_offered_only_for_images_with_prompts(app_env, outputs, tmp_path):
    at = open_app()
    assert not [w for w in at.radio if w.key == "query_source"]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "x.png").write_bytes(png_bytes("red"))
    at.text_input(key="folder").input(str(plain)).run()
    assert not [w for w in at.radio if w.key == "query_source"]
    at.text_input(key="folder").input(str(outputs)).run()
    assert at.radio(key="query_source").options == ["输入的查询", "每张图自己的提示词", "自己的提示词 + 输入的文字"]


def test_each_image_is_scored_against_its_own_prompt_and_its_card_shows_it(app_env, outputs):
    at = open_app()
    at.text_input(key="folder").input(str(outputs)).run()
    at.radio(key="query_source").set_value("own").run()
    assert not at.button(key="run").disabled and "请先输入查询文本或上传参考图。" not in [c.value for c in at.caption]
    job = run(at, outputs)
    assert job.state == jobs.DONE and len(job.results) == 3
    by_name = {r.name: r for r in job.results}
    assert (by_name["a.png"].query, by_name["b.png"].query) == ("a red circle", "a green star")
    assert by_name["plain.png"].parse_method == "no_prompt" and job.results[-1].name == "plain.png"
    cards = [body for body in html_bodies(at) if 'class="lr-card' in body]
    assert sum("<summary>生成信息</summary>" in body for body in cards) == 2
    card = cards[[r.name for r in job.results].index("a.png")]
    copyable = re.search(r'<pre class="lr-gen-text">([^<]*)</pre>', card).group(1)
    assert "a red circle\nNegative prompt: blurry\nSteps: 20" in html.unescape(copyable)
    assert '<button type="button" class="lr-copy">复制</button>' in card
    assert any("<b>种子</b>: 22" in body for body in cards)
    records = json.loads(to_json(job.results, extra=job.export_fields()))
    assert {r["query_source"] for r in records} == {"own"}
    assert {r["name"]: r["query"] for r in records} == {"a.png": "a red circle", "b.png": "a green star",
                                                         "plain.png": None}


def test_a_typed_query_scores_the_images_without_a_prompt_and_mixes_with_the_rest(app_env, outputs):
    at = open_app()
    at.text_input(key="folder").input(str(outputs)).run()
    at.radio(key="query_source").set_value("mix").run()
    at.text_area(key="query").input("flat").run()
    job = run(at, outputs)
    assert {r.name: r.query for r in job.results} == {
        "a.png": "a red circle, and also: flat", "b.png": "a green star, and also: flat", "plain.png": "flat"}
    assert all(r.ok for r in job.results)
