"""The Streamlit app driven by AppTest (no browser), with a tiny random model.

AppTest cannot upload files, so the tests use the app's local-folder field (a real
feature: ranking a folder on disk without uploading it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lychee_rerank.app import cards as cards_mod
from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs, live_feed, page, sessions
from lychee_rerank.cli import main
from lychee_rerank.export import to_json
from lychee_rerank.results import RankResult, format_size
from lychee_rerank.scoring.prompts import TASK_INSTRUCTIONS
from lychee_rerank.settings import DEMO_EXAMPLES_DIR

from helpers import (
    APP,
    RANK_LINE,
    XSS_NAME,
    ForwardCounter,
    html_bodies,
    live_view,
    make_image_folder,
    open_app,
    png_bytes,
    press_card,
    slow_down,
    unmd,
    wait_until,
)

TIMEOUT = 60


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")


def run_to_end(at: AppTest, query: str, folder: Path) -> jobs.Job:
    at.text_area(key="query").input(query)
    at.text_input(key="folder").input(str(folder))
    at.run()
    assert not at.button(key="run").disabled
    at.button(key="run").click().run()
    assert "lr_job" in at.session_state
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT), "the run did not finish"
    at.run()
    assert not at.exception, at.exception
    return job


def cards(at: AppTest) -> list[tuple[int, float]]:
    """(rank, score) of every grid card, in page order."""
    found = []
    for body in html_bodies(at):
        if 'class="lr-card' in body:
            rank, score = RANK_LINE.search(body).groups()
            found.append((int(rank), float(score)))
    return found


def captions(at: AppTest) -> list[str]:
    return [unmd(c.value) for c in at.caption]


# --- the page ------------------------------------------------------------------------------


def live_views(at: AppTest) -> list:
    return [e for e in at.main if str(getattr(e, "key", "")).endswith(live_feed.KEY)]


def test_the_live_view_is_mounted_idle_before_the_first_run(app_env, folder):
    """Issue 27: its script loads with the page, not in the first half second of scoring (a running view is
    tested in Chromium); the results replace it."""
    at = open_app()
    idle = live_views(at)
    assert len(idle) == 1 and idle[0].proto.component_name == "lychee_live"
    assert json.loads(idle[0].proto.json) == {"token": None, "preload": live_feed.results_scripts()}
    run_to_end(at, "shapes, for the idle live view", folder)  # a query of its own: scores are cached per process
    assert live_views(at) == [] and cards(at)


def test_run_says_what_is_missing_and_starts_nothing_until_query_and_images(app_env, folder):
    at = open_app()
    assert not at.button(key="run").disabled  # never disabled while idle: see the browser test
    assert "请先输入查询文本或上传参考图。" in captions(at)

    at.button(key="run").click().run()
    assert "lr_job" not in at.session_state
    assert [w.value for w in at.warning] == ["请先输入查询文本或上传参考图。"]

    at.text_area(key="query").input("   ").run()  # whitespace only is still empty
    assert "请先输入查询文本或上传参考图。" in captions(at)

    at.text_area(key="query").input("a red circle").run()
    assert "请上传图片或填写本地文件夹。" in captions(at)
    at.button(key="run").click().run()
    assert "lr_job" not in at.session_state and [w.value for w in at.warning] == ["请上传图片或填写本地文件夹。"]

    at.text_input(key="folder").input(str(folder)).run()
    assert not [c for c in captions(at) if c.startswith("请")]


def test_the_in_use_panel_says_how_many_cpu_threads_score(app_env):
    at = open_app()
    panel = [m.value for m in at.markdown if "CPU 线程" in m.value]
    assert len(panel) == 1 and "- CPU 线程: `1`" in panel[0], "the tiny model on the CPU scores on one thread"


def test_run_shows_progress_and_a_grid_in_score_order(app_env, folder):
    at = open_app()
    job = run_to_end(at, "a red circle", folder)

    assert job.state == jobs.DONE and job.done == job.total == 4
    progress = at.get("progress")[0]
    assert progress.value == 100 and progress.proto.text == "已处理 4/4 张"
    assert any("完成：4 张图片已排序" in s.value for s in at.success)

    shown = cards(at)
    assert [rank for rank, _ in shown] == [1, 2, 3, 4]
    scores = [score for _, score in shown]
    assert scores == sorted(scores, reverse=True)
    assert scores == [round(r.score, page.score_decimals(job.results)) for r in job.results]
    assert job.results[-1].name == "broken.jpg"  # unreadable: last, flagged
    bodies = [body for body in html_bodies(at) if 'class="lr-card' in body]
    assert "lr-top" in bodies[0] and all("lr-top" not in b for b in bodies[1:])
    assert "⚠ 预处理警告" in bodies[-1] and all("预处理警告" not in b for b in bodies[:-1])
    outputs = [body for body in html_bodies(at) if 'class="lr-output"' in body]
    assert len(outputs) == 4 and all("<summary>模型输出</summary>" in body for body in outputs)
    assert all("<details" in body and "<details open" not in body for body in outputs)  # closed until opened


def test_threshold_top_k_and_language_never_rescore(app_env, folder):
    at = open_app()
    job = run_to_end(at, "a blue sky", folder)
    with ForwardCounter(job.handle.base.model) as counter:
        at.selectbox(key="top_k").set_value(3).run()
        assert [rank for rank, _ in cards(at)] == [1, 2, 3]

        at.selectbox(key="top_k").set_value("all").run()
        threshold = job.results[1].score  # keeps ranks 1 and 2 (and ties)
        at.slider(key="threshold").set_value(round(threshold - 0.05, 1)).run()
        assert all(score >= round(threshold - 0.05, 1) for _, score in cards(at))
        assert 2 <= len(cards(at)) < 4

        at.radio(key="lang").set_value("en").run()
        assert at.button(key="run").label == "Start reranking"
        assert at.get("progress")[0].proto.text == "4 of 4 processed"
        outputs = [body for body in html_bodies(at) if 'class="lr-output"' in body]
        assert outputs and all("<summary>Model output</summary>" in body for body in outputs)
        assert at.text_area(key="query").value == "a blue sky"  # widgets keep their values across languages
    assert counter.calls == 0, "filters and the language never rescore"
    assert at.session_state["lr_job"] is job


def test_same_query_and_images_reuse_cached_scores(app_env, folder):
    at = open_app()
    first = run_to_end(at, "a green wide picture", folder)

    with ForwardCounter(first.handle.base.model) as counter:
        at.button(key="run").click().run()
        second = at.session_state["lr_job"]
        assert second is not first and second.wait(TIMEOUT)
        at.run()
    assert second.cached and counter.calls == 0
    assert [(r.name, r.score) for r in second.results] == [(r.name, r.score) for r in first.results]
    assert any("使用缓存的分数" in s.value for s in at.success)


def test_default_settings_score_exactly_as_the_cli_does(app_env, folder, capsys):
    """The app's default pixel preset is the model's own budget, as the CLI's and the library's are."""
    at = open_app()
    assert at.radio(key="pixels").value == "standard"
    job = run_to_end(at, "a red circle", folder)
    args = ["-q", "rank", "--model", str(app_env), "--query", "a red circle", "--format", "json", str(folder)]
    assert main(args) == 0
    cli = {r["name"]: (r["score"], r["max_pixels"], r["scored_size"]) for r in json.loads(capsys.readouterr().out)}
    app = {r.name: (r.score, r.max_pixels, format_size(r.scored_size)) for r in job.results}
    assert app == cli and len(app) == 4
    assert {r.max_pixels for r in job.results} == {1280 * 28 * 28}


def test_a_custom_instruction_replaces_the_preset_and_is_exported(app_env, folder):
    at = open_app()
    at.text_input(key="instruction").input("Find the picture with the most red in it.")
    job = run_to_end(at, "a red circle", folder)
    assert {r.instruction for r in job.results} == {"Find the picture with the most red in it."}
    assert json.loads(to_json(job.results))[0]["instruction"] == "Find the picture with the most red in it."
    assert page.chosen_instruction("product", "  ") == "product"


def test_a_reference_image_alone_ranks_by_likeness(app_env, folder):
    at = open_app()
    at.text_input(key="folder").input(str(folder)).run()
    assert "请先输入查询文本或上传参考图。" in captions(at)  # no query text and no reference yet
    at.file_uploader(key="reference").set_value(("reference.png", png_bytes("red"), "image/png")).run()
    assert "请先输入查询文本或上传参考图。" not in captions(at)
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert job.query_image[0] == "reference.png" and len(job.results) == 4
    assert {r.instruction for r in job.results} == {TASK_INSTRUCTIONS[("image", "image")]}
    header = next(e.proto.body for e in at.get("html") if 'class="lr-query"' in e.proto.body)
    assert re.search(r'<img src="[^"]*/media/[0-9a-f]+\.jpg"', header)  # served once, cached by the browser
    assert [rank for rank, _ in cards(at)] == [1, 2, 3, 4]
    records = json.loads(to_json(job.results, extra=job.export_fields()))
    assert {(r["query"], r["query_image"]) for r in records} == {(None, "reference.png")}


def test_the_texts_tab_ranks_pasted_lines_in_text_cards(app_env):
    at = open_app()
    at.radio(key="doc_kind").set_value("texts").run()
    at.text_area(key="query").input("a red dress").run()
    assert "请粘贴候选文本（每行一条）。" in captions(at)  # no texts yet
    at.text_area(key="texts").input("red silk dress\n\nblue denim jacket\n红色连衣裙\n").run()
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert sorted(r.text for r in job.results) == sorted(["red silk dress", "blue denim jacket", "红色连衣裙"])
    bodies = [body for body in html_bodies(at) if 'class="lr-card' in body]
    assert len(bodies) == 3 and all('class="lr-text"' in b and "<img" not in b for b in bodies)
    assert [rank for rank, _ in cards(at)] == [1, 2, 3]
    # Issue 21 bug 9: texts are counted as texts, and there is no zip of originals they do not have.
    assert [b.proto.label for b in at.get("download_button")] == ["下载 CSV", "下载 JSON"]
    assert at.get("progress")[0].proto.text == "已处理 3/3 条"
    assert any("完成：3 条文本已排序" in s.value for s in at.success)
    assert "显示 3 / 3 条" in captions(at)


def test_bad_model_path_shows_an_error_panel_not_a_traceback(monkeypatch, tmp_path):
    monkeypatch.setenv("LYCHEE_MODEL", str(tmp_path / "no-such-model"))
    at = open_app()
    assert len(at.error) == 1
    text = unmd(at.error[0].value)
    assert "无法加载模型" in text and "no-such-model" in text and "demo" in text
    assert "模型文件夹" in text and "--model" not in text  # issue 16 bug 7: no CLI hint for web users
    assert at.button(key="run").disabled


def test_local_folder_is_hidden_when_not_on_localhost(app_env):
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = open_app()
        assert not [w for w in at.text_input if w.key == "folder"]
        assert any("localhost" in c for c in captions(at))
    finally:
        config.set_option("server.address", before)


# --- runs: Stop, queueing (the Job the page drives) ----------------------------------------------


@pytest.fixture
def slow_handle(tiny_reranker_dir: Path) -> eng.ModelHandle:
    handle = eng.ModelHandle.load(str(tiny_reranker_dir), "auto")
    settings = eng.RunSettings(model="tiny")  # the variant the jobs below use
    slow_down(handle.for_settings(settings), 0.15)
    return handle


def new_job(handle, engine, query, folder) -> jobs.Job:
    return jobs.Job(
        handle=handle,
        engine=engine,
        settings=eng.RunSettings(model="tiny"),
        query=query,
        instruction=None,
        uploads=[],
        folder=str(folder),
    )


def test_stop_keeps_what_was_scored(slow_handle, tmp_path):
    folder = make_image_folder(tmp_path / "many", corrupt=False)
    for i in range(5):
        (folder / f"extra_{i}.png").write_bytes((folder / "red_circle.png").read_bytes()[:-12] + bytes([i]) * 12)
    job = new_job(slow_handle, eng.Engine(), "red", folder).start()
    assert wait_until(lambda: job.done >= 2, 30)
    job.stop()
    assert job.wait(30)
    assert job.state == jobs.STOPPED
    assert 2 <= len(job.scored) < job.total == 8
    assert len(job.results) == 8  # every input still comes back, the rest marked skipped
    assert [r.rank for r in job.scored] == list(range(1, len(job.scored) + 1))


def test_a_second_run_waits_queued_then_both_finish(slow_handle, tmp_path):
    folder = make_image_folder(tmp_path / "q", corrupt=False)
    engine = eng.Engine()
    first = new_job(slow_handle, engine, "red", folder).start()
    assert wait_until(lambda: first.state == jobs.RUNNING, 30)
    second = new_job(slow_handle, engine, "blue", folder).start()
    assert wait_until(lambda: second.state == jobs.QUEUED, 10)
    assert first.wait(30) and second.wait(30)
    assert first.state == second.state == jobs.DONE
    assert len(first.results) == len(second.results) == 3
    assert {r.name for r in second.results} == {"red_circle.png", "blue_sky.jpg", "green_wide.png"}
    # Issue 16 bug 6: the wait in the queue is reported apart from the run time.
    assert second.queued_seconds > 0.2 and first.queued_seconds == 0.0
    assert second.run_seconds == pytest.approx(second.seconds - second.queued_seconds, abs=1e-6)


def test_progress_says_scoring_then_the_latest_result_and_the_rate(app_env, tiny_reranker_dir, tmp_path):
    """Issue 16 bug 8: "scoring the first image" while it is scored; the latest result without a second count."""
    at = open_app()
    handle = eng.ModelHandle.load(str(tiny_reranker_dir), "auto")
    settings = eng.RunSettings(model="tiny")  # the variant new_job's run uses
    slow_down(handle.for_settings(settings), 1.5)
    job = new_job(handle, eng.Engine(), "red", make_image_folder(tmp_path / "p", corrupt=False)).start()
    assert wait_until(lambda: job.state == jobs.RUNNING, 30)
    at.session_state["lr_job"] = job
    at.run()
    live = live_view(job)  # drawn in the browser from this feed while the run goes on (live.js)
    assert "正在为第一张图片打分…（第一张最慢：模型在预热）" in live["lines"]
    assert live["progress"] == "已处理 0/3 张" and not live["finished"]
    assert wait_until(lambda: job.progress()[0] >= 1, 30)
    live = live_view(job)
    done, total, latest = job.progress()
    assert f"最新：{latest.name} → {cards_mod.format_score(latest.score)}" in live["lines"]
    assert not any(line.startswith("第") for line in live["lines"])  # no "#4" beside "5 of 24"
    assert any("张/秒 · 预计还需" in line for line in live["lines"]) and job.rate() > 0
    assert live["cards"] and live["cards"][0]["rank"].startswith("第 1 名 | 分数：")  # the grid fills in
    assert live["cards"][0]["src"].startswith("api/lychee/thumb/")
    job.stop()
    assert job.wait(30)


def test_durations_read_naturally():
    assert page.duration_text("zh", 0.2) == "1 秒" and page.duration_text("zh", 65) == "1 分 5 秒"
    assert page.duration_text("en", 59.1) == "1 min 0 s" and page.duration_text("en", 12) == "12 s"


def test_stopping_a_queued_run_ends_it(slow_handle, tmp_path):
    folder = make_image_folder(tmp_path / "s", corrupt=False)
    engine = eng.Engine()
    engine.run_lock.acquire()
    try:
        job = new_job(slow_handle, engine, "red", folder).start()
        assert wait_until(lambda: job.state == jobs.QUEUED, 10)
        job.stop()
        assert job.wait(5) and job.state == jobs.STOPPED and job.results == []
    finally:
        engine.run_lock.release()


def test_runs_take_the_model_in_the_order_run_was_pressed():
    """A tab still writing its big upload to disk keeps its place: a tab that pressed Run after it waits (under load,
    the browser test's second tab, with 50 images, ran before the first tab's 600)."""
    runs, first, second = eng.RunQueue(), object(), object()
    runs.join(first)
    runs.join(second)
    assert not runs.take(second, 0)  # the first has not asked for the model yet, but it pressed first
    assert runs.take(first, 0)
    assert not runs.take(second, 0)  # the first holds the model
    runs.release()
    assert runs.take(second, 0)
    runs.release()
    late, gone = object(), object()
    runs.join(gone)
    runs.join(late)
    runs.leave(gone)  # cached, stopped or failed before its turn: it gives up its place
    assert runs.take(late, 0)
    runs.release()


def test_a_run_pressed_later_waits_for_the_one_pressed_first(slow_handle, tmp_path):
    """The same with real jobs: the second waits (QUEUED) until the first has had the model."""
    engine = eng.Engine()
    engine.run_lock.acquire()  # another tab's run: both jobs line up behind it
    try:
        first = new_job(slow_handle, engine, "red", make_image_folder(tmp_path / "a", corrupt=False)).start()
        second = new_job(slow_handle, engine, "blue", make_image_folder(tmp_path / "b", corrupt=False)).start()
        assert wait_until(lambda: first.state == second.state == jobs.QUEUED, 10)
    finally:
        engine.run_lock.release()
    assert first.wait(60) and second.wait(60)
    assert first.state == second.state == jobs.DONE
    assert first.scoring_started < second.scoring_started
    assert second.queued_seconds > first.queued_seconds  # it also waited for the first one's run


# --- small helpers ------------------------------------------------------------------------------


def test_score_bands():
    assert cards_mod.band_colour(5.99) == cards_mod.BAND_COLOURS["low"]
    assert cards_mod.band_colour(6.0) == cards_mod.band_colour(7.99) == cards_mod.BAND_COLOURS["mid"]
    assert cards_mod.band_colour(8.0) == cards_mod.band_colour(10) == cards_mod.BAND_COLOURS["high"]


def test_card_escapes_file_names_and_output():
    result = RankResult(
        rank=1,
        index=0,
        name=XSS_NAME,
        score=8.5,
        raw_output="<b>Score: 8.5</b>",
        parse_method="primary",
        warning="could not read image: <script>",
    )
    html = cards_mod.card_html(
        result, "data:image/jpeg;base64,", rank_line="Rank 1 | Score: 8.5", badge="⚠", warning=result.warning
    )
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.png" in html
    assert "<script>" not in html
    assert cards_mod.highlight_score_html(result.raw_output, "primary") == "&lt;b&gt;<mark>Score: 8.5</mark>&lt;/b&gt;"
    assert cards_mod.highlight_score_html("", "yesno") == ""  # the page then says "(no output)"


def test_localhost_detection():
    assert page.is_localhost("127.0.0.1") and page.is_localhost("localhost") and page.is_localhost("::1")
    assert not page.is_localhost("0.0.0.0") and not page.is_localhost("") and not page.is_localhost(None)
    assert not page.is_localhost("192.168.1.5")


def test_cache_key_depends_on_settings_query_and_images():
    settings = eng.RunSettings(model="m")
    key = eng.ScoreCache.key(settings, "red", None, ["a", "b"])
    assert key == eng.ScoreCache.key(settings, " red ", None, ["a", "b"])
    assert key != eng.ScoreCache.key(settings, "blue", None, ["a", "b"])
    assert key != eng.ScoreCache.key(settings, "red", None, ["b", "a"])
    assert key != eng.ScoreCache.key(eng.RunSettings(model="m", mode="generate"), "red", None, ["a", "b"])
    assert key != eng.ScoreCache.key(eng.RunSettings(model="m", pixel_patches=123), "red", None, ["a", "b"])


# --- issue 16 bugs (each test failed before its fix) -----------------------------------------------

def result_with(index: int, score: float, **extra) -> RankResult:
    return RankResult(rank=index + 1, index=index, name=f"img{index}.png", score=score, raw_output="",
                      parse_method="yesno", **extra)


def test_the_threshold_compares_the_score_the_card_shows():
    shown = [result_with(0, 9.9909), result_with(1, 9.94)]
    assert cards_mod.format_score(9.9909) == "10.0"
    assert [r.index for r in page.visible_results(shown, 10.0, "all")] == [0]  # the card says 10.0
    assert [r.index for r in page.visible_results(shown, 9.9, "all")] == [0, 1]


def test_the_zip_holds_what_its_label_counts_without_failures_or_duplicates():
    from lychee_rerank.export import top_k_zip, zippable
    from lychee_rerank.intake import ImageInput

    inputs = [ImageInput(name=f"img{i}.png", data=bytes([i]) * 8) for i in range(4)]
    results = [result_with(0, 9.0), result_with(1, 8.0, duplicate_of=0), result_with(2, 7.0),
               RankResult(rank=4, index=3, name="img3.png", score=0.0, raw_output="", parse_method="failed")]
    assert [r.index for r in zippable(results, inputs)] == [0, 2]
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(top_k_zip(results, inputs, 4))) as archive:
        assert len(archive.namelist()) == len(zippable(results, inputs)) == 2



def test_the_folder_field_takes_a_quoted_path_and_says_at_once_what_is_wrong(app_env, folder, tmp_path):
    """Issue 16 bug 9: quoted paths, a file called 'no such folder', errors only after Run, the 'or' label."""
    at = open_app()
    field = at.text_input(key="folder")
    assert "与上传的图片一起排序" in field.label and not field.label.startswith("或")
    at.text_area(key="query").input("a red circle")
    file = folder / "red_circle.png"
    at.text_input(key="folder").input(str(file)).run()
    assert [unmd(e.value) for e in at.error] == [f"这是一个文件，不是文件夹：{file}"]  # before any Run
    at.text_input(key="folder").input(str(tmp_path / "nowhere")).run()
    assert [unmd(e.value) for e in at.error] == [f"找不到文件夹：{tmp_path / 'nowhere'}"]
    at.text_input(key="folder").input(f'"{folder}"').run()  # as a file manager copies it
    assert not at.error
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT) and job.state == jobs.DONE and len(job.results) == 4
    assert page.clean_folder("  '/a b/c'  ") == "/a b/c"


@pytest.mark.parametrize("warning", [
    "very small image (8×8): enlarged for the model; its score may be unreliable",
    "not an image: looks like a text file",
    "not an image: looks like a web page (HTML), perhaps a failed download",
    "extreme aspect ratio (3000×20, 150:1): padded with white to 100:1 for the model",
    "animated image (12 frames): only the first frame was scored",
    "truncated or corrupt image data (a PNG file whose header cannot be read)",
    "/home/me/shoot: no such folder",
    "file not found",
])
def test_the_chinese_page_shows_intake_warnings_in_chinese(warning):
    """Issue 16 bug 7: the Chinese UI mixed in English intake warnings and run errors."""
    from lychee_rerank.app.text import translate_warning

    chinese = translate_warning("zh", warning)
    assert chinese != warning and any("\u4e00" <= ch <= "\u9fff" for ch in chinese)
    assert translate_warning("en", warning) == warning


# --- issue 16: what to build --------------------------------------------------------------------


def card_names(at: AppTest) -> list[str]:
    return [re.search(r'class="lr-name" title="([^"]*)"', body).group(1)
            for body in html_bodies(at) if 'class="lr-card' in body]


def test_the_demo_is_labelled_and_its_button_loads_the_examples(monkeypatch):
    monkeypatch.setenv("LYCHEE_MODEL", "demo")
    at = open_app()
    assert any("内置演示模型" in box.value for box in at.info)
    at.button(key="demo_examples").click().run()
    assert at.text_area(key="query").value == "a red circle"
    assert at.text_input(key="folder").value == str(DEMO_EXAMPLES_DIR)
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT) and job.results[0].name == "red_circle.png"


def test_other_models_have_no_demo_banner(app_env):
    at = open_app()
    assert not any("内置演示模型" in box.value for box in at.info)
    assert "demo_examples" not in [button.key for button in at.button]


def test_grid_columns_and_sorting_by_name(app_env, folder):
    at = open_app()
    job = run_to_end(at, "red", folder)
    assert card_names(at) == [r.name for r in job.results]  # by score, the default
    at.radio(key="sort").set_value("name").run()
    assert card_names(at) == ["blue_sky.jpg", "broken.jpg", "green_wide.png", "red_circle.png"]
    at.select_slider(key="columns").set_value(5).run()
    assert not at.exception and len(card_names(at)) == 4


def test_scores_get_two_decimals_only_where_one_would_hide_the_order():
    def result(index: int, score: float) -> RankResult:
        return RankResult(rank=index + 1, index=index, name=f"{index}.png", score=score, raw_output="",
                          parse_method="yesno", warning=None)

    assert page.score_decimals([result(0, 9.4), result(1, 8.0), result(2, 8.0)]) == 1  # a true tie
    assert page.score_decimals([result(0, 8.04), result(1, 8.01)]) == 2  # both "8.0"
    assert page.visible_results([result(0, 8.04), result(1, 8.01)], 8.03, "all", decimals=2)[0].score == 8.04


def test_a_reload_gets_the_session_back_and_others_see_it_in_recent_runs(app_env, folder):
    at = open_app()
    job = run_to_end(at, "a red circle", folder)
    at.radio(key="sort").set_value("name").run()
    session = at.session_state["lr_session"]
    assert at.query_params["s"] == [session] or at.query_params["s"] == session

    reloaded = AppTest.from_file(APP, default_timeout=TIMEOUT)
    reloaded.query_params["s"] = session  # the same URL, after a refresh
    reloaded.run()
    assert reloaded.session_state["lr_job"] is job
    assert reloaded.session_state["lr_session"] != session  # taken over under a new id (issue 22 item 3)
    assert reloaded.text_area(key="query").value == "a red circle" and reloaded.radio(key="sort").value == "name"
    assert card_names(reloaded) == card_names(at)

    other = open_app()  # a new tab without the URL: a new session, the run under recent runs (localhost)
    assert other.session_state["lr_session"] != session and "lr_job" not in other.session_state
    recent = [b for b in other.button if (b.key or "").startswith("recent_")]
    assert len(recent) >= 1 and "a red circle" in recent[0].label
    recent[0].click().run()
    assert other.session_state["lr_job"] is job and len(card_names(other)) == 4


def open_with_session_id(session_id: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["s"] = session_id
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("made_up", ["attacker-chosen-id", "x" * 5000, "AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA"])
def test_a_session_id_the_server_did_not_issue_starts_a_fresh_session(app_env, folder, made_up):
    """Issue 22 item 3: a link with a made-up id must not become a session its sender can open later."""
    victim = open_with_session_id(made_up)
    own = victim.session_state["lr_session"]
    assert own != made_up and sessions.is_issued(own) and victim.query_params["s"] in (own, [own])
    run_to_end(victim, "secret product launch", folder)
    victim.run()  # saved under the victim's own id

    sender = open_with_session_id(made_up)  # the sender opens the link it made
    assert "lr_job" not in sender.session_state
    assert sender.text_area(key="query").value != "secret product launch"


def test_a_session_link_opens_once_so_a_shared_id_does_not_follow_the_victim(app_env, folder):
    """The sender's own (issued) id sent to a victim: the victim's work goes on under a new id."""
    sender = open_app()
    link = sender.session_state["lr_session"]
    victim = open_with_session_id(link)
    assert victim.session_state["lr_session"] != link
    run_to_end(victim, "secret product launch", folder)
    victim.run()
    again = open_with_session_id(link)
    assert "lr_job" not in again.session_state


def test_session_ids_are_checked_for_format_and_tag():
    issued = sessions.new_session_id()
    assert sessions.is_issued(issued)
    token, tag = issued.split(".")
    assert not sessions.is_issued(f"{token}.{tag[::-1]}") and not sessions.is_issued(issued + "x")
    assert not sessions.is_issued(None) and not sessions.is_issued(["a", "b"]) and not sessions.is_issued("")


def compare_cells(at: AppTest) -> list[str]:
    """The names in the comparison, in order (empty when nothing is compared)."""
    body = next((e.proto.body for e in at.get("html") if 'class="lr-compare"' in e.proto.body), "")
    return re.findall(r"<figcaption>([^<]*)</figcaption>", body)


def test_compare_is_one_click_from_the_grid_and_lines_the_images_up(app_env, folder):
    """Issue 21 bug 11: ⇄ on a card adds it to the comparison (no typing); "compare the picks" in one click."""
    at = open_app()
    job = run_to_end(at, "a red circle", folder)
    first, second, third = job.results[:3]
    assert compare_cells(at) == [] and at.button(key="compare_picks").disabled
    press_card(at, "cmp", second.index)
    press_card(at, "cmp", first.index)
    assert not at.exception
    assert compare_cells(at) == [second.name, first.name]  # in the order chosen
    body = next(e.proto.body for e in at.get("html") if 'class="lr-compare"' in e.proto.body)
    assert "repeat(2, minmax(0, 1fr))" in body and body.count('class="lr-cmp-box"') == 2  # one box size for all
    press_card(at, "cmp", second.index)  # pressed again: out of the comparison
    assert compare_cells(at) == [first.name]

    for result in (third, first):
        press_card(at, "pick", result.index)
    at.button(key="compare_picks").click().run()
    assert compare_cells(at) == [first.name, third.name]  # the picks, best ranked first
    at.button(key="compare_clear").click().run()
    assert compare_cells(at) == []


def test_the_results_controls_are_the_users_and_survive_a_new_run(app_env, folder):
    """Issue 21 bug 2: a new run reset columns, sort, the mark filter and top-K to their defaults."""
    at = open_app()
    run_to_end(at, "a red circle", folder)
    at.select_slider(key="columns").set_value(5).run()
    at.radio(key="sort").set_value("name").run()
    at.selectbox(key="mark_filter").set_value("no_rejects").run()
    at.selectbox(key="top_k").set_value(20).run()
    at.slider(key="threshold").set_value(0.5).run()
    run_to_end(at, "a blue sky, another query", folder)
    assert at.select_slider(key="columns").value == 5
    assert at.radio(key="sort").value == "name"
    assert at.selectbox(key="mark_filter").value == "no_rejects"
    assert at.selectbox(key="top_k").value == 20
    assert at.slider(key="threshold").value == 0.5


def test_two_tabs_on_two_models_keep_both_loaded(app_env, folder, tiny_instruct_dir):
    """Issue 21 bug 3: tabs on different models took turns in a one-model cache and reloaded on every click."""
    tab_a = open_app()
    first_a = run_to_end(tab_a, "a red circle", folder)
    tab_b = open_app()
    tab_b.text_input(key="model").input(str(tiny_instruct_dir)).run()
    first_b = run_to_end(tab_b, "a red circle", folder)
    assert first_b.handle is not first_a.handle
    for _ in range(3):  # clicks and keystrokes in both tabs
        tab_a.radio(key="sort").set_value("name").run()
        tab_b.radio(key="sort").set_value("score").run()
    second_a = run_to_end(tab_a, "a blue sky for tab a", folder)
    second_b = run_to_end(tab_b, "a blue sky for tab b", folder)
    assert second_a.handle is first_a.handle and second_b.handle is first_b.handle  # never loaded again


def test_the_model_pool_keeps_models_within_its_budget(tiny_reranker_dir, tiny_instruct_dir):
    from lychee_rerank.app.models import ModelPool

    a, b = str(tiny_reranker_dir), str(tiny_instruct_dir)
    roomy = ModelPool(budget_bytes=1 << 40)
    assert roomy.get(a) is roomy.get(a) and roomy.status(a) == "loaded"
    roomy.get(b)
    assert roomy.loaded() == [(a, "auto"), (b, "auto")] and roomy.loads == 2

    tight = ModelPool(budget_bytes=int(1.5 * roomy.get(a).weight_bytes()))  # room for one tiny model only
    first = tight.get(a)
    tight.get(b)
    assert tight.loaded() == [(b, "auto")] and tight.status(a) == "evicted" and tight.status("other") == "new"
    assert tight.get(a) is not first and tight.loads == 3  # least recently used out, loaded again when asked


def test_texts_are_counted_as_texts_in_recent_runs_and_a_stopped_run_says_what_it_scored(app_env, folder):
    """Issue 21 bug 10: "400 张" in recent runs for a stopped run that scored 104."""
    at = open_app()
    first = run_to_end(at, "a red circle", folder)
    variant = first.handle.for_settings(first.settings)
    slow_down(variant, 0.4)
    try:
        at.text_area(key="query").input("a query stopped early").run()
        at.button(key="run").click().run()
        stopped = at.session_state["lr_job"]
        assert wait_until(lambda: stopped.done >= 1, TIMEOUT)
        stopped.stop()
        assert stopped.wait(TIMEOUT) and stopped.state == jobs.STOPPED
    finally:
        del variant.scorer.score_inputs
    other = open_app()
    labels = [b.label for b in other.button if (b.key or "").startswith("recent_") and "stopped early" in b.label]
    scored = len(stopped.scored)
    assert labels and labels[0].endswith(f"{scored}/{len(stopped.results)} 张（已停止）") and scored < 4


def test_a_queued_run_says_queued_once(app_env, folder):
    """Issue 21 bug 10: a queued tab showed both "排队中…" and "正在重排序…点击停止"."""
    at = open_app()
    first = run_to_end(at, "a red circle", folder)
    first.engine.run_lock.acquire()  # another tab's run holds the model
    try:
        at.text_area(key="query").input("a queued query").run()
        at.button(key="run").click().run()
        queued = at.session_state["lr_job"]
        assert wait_until(lambda: queued.state == jobs.QUEUED, TIMEOUT)
        at.run()
        live = live_view(queued)
        assert live["queued"] and "排队中" in live["queued"]
        assert not any("正在重排序" in line for line in live["lines"])
    finally:
        first.engine.run_lock.release()
    assert queued.wait(TIMEOUT)


def test_a_folder_says_what_it_skipped_and_cards_show_notes(app_env, tmp_path):
    """Issue 21 bugs 7 and 10: notes.txt was skipped silently; notes (alpha on white...) were never shown."""
    from PIL import Image

    folder = make_image_folder(tmp_path / "noted", corrupt=False)
    (folder / "notes.txt").write_text("not an image")
    Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(folder / "transparent.png")
    at = open_app()
    job = run_to_end(at, "a red circle", folder)
    assert f"读取提示：{folder}：跳过了 1 个非图片文件" in captions(at)
    transparent = next(r for r in job.results if r.name == "transparent.png")
    assert transparent.notes == ("transparent areas composited on white",)
    body = next(body for body in html_bodies(at) if "transparent.png" in body and "lr-card" in body)
    assert '<div class="lr-note">透明区域已合成到白色背景上</div>' in body and "lr-warn" not in body


def test_an_offline_hub_id_is_explained_in_the_pages_language(monkeypatch):
    """Issue 21 bug 10: the Chinese page said "pass --model DIR" in English."""
    monkeypatch.setenv("LYCHEE_MODEL", "someone/not-downloaded-model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = open_app()
    text = unmd(at.error[0].value)
    assert "不在本机的 Hugging Face 缓存中" in text and "--model" not in text
    at.radio(key="lang").set_value("en").run()
    assert "sidebar's Model field" in unmd(at.error[0].value) and "--model" not in unmd(at.error[0].value)


def test_the_chinese_page_speaks_chinese_on_cards_and_uploaders(app_env, folder):
    """Issue 21 bug 10: "Rank N | Score:" and the uploader's "Upload / 1GB per file" stayed English."""
    at = open_app()
    run_to_end(at, "a red circle", folder)
    bodies = [body for body in html_bodies(at) if 'class="lr-card' in body]
    assert "第 1 名 | 分数：" in bodies[0] and "Rank" not in bodies[0]
    style = next(e.proto.body for e in at.get("html") if "stFileUploaderDropzoneInstructions" in e.proto.body)
    assert 'content: "上传"' in style and 'content: "每个文件不超过 512 MB"' in style
    at.radio(key="lang").set_value("en").run()
    assert "Rank 1 | Score:" in next(body for body in html_bodies(at) if 'class="lr-card' in body)


def test_a_new_run_shows_the_previous_results_until_it_has_its_own(app_env, folder):
    at = open_app()
    first = run_to_end(at, "a red circle", folder)
    variant = first.handle.for_settings(first.settings)
    slow_down(variant, 1.0)  # the page's own model, slowed: the next run's first image takes a second
    try:
        at.text_area(key="query").input("a blue sky over the previous results").run()  # never scored before
        at.button(key="run").click().run()
        second = at.session_state["lr_job"]
        assert second is not first and second.active and second.progress()[0] == 0
        live = live_view(second)
        assert live["header"] == "上一次的结果（查询：a red circle），新结果出来后替换"
        assert [card["name"] for card in live["cards"]] == [r.name for r in first.results if r.ok][:3]  # best first
        assert all("/p/" in card["src"] for card in live["cards"])  # the previous run's thumbnails
        assert second.wait(TIMEOUT)
    finally:
        del variant.scorer.score_inputs


@pytest.mark.parametrize("kind", ["images", "texts"])
def test_the_full_size_view_opens_on_the_card_pressed(app_env, folder, kind):
    """The view is a browser component (tested in Chromium); here: it opens on the right result, for both kinds."""
    at = open_app()
    if kind == "texts":
        at.radio(key="doc_kind").set_value("texts").run()
        at.text_area(key="texts").input("red silk dress\nblue denim jacket").run()
        at.text_area(key="query").input("a red dress").run()
        at.button(key="run").click().run()
        job = at.session_state["lr_job"]
        assert job.wait(TIMEOUT)
        at.run()
    else:
        job = run_to_end(at, "a red circle", folder)
    second = job.results[1]
    press_card(at, "view", second.index)
    assert not at.exception, at.exception
    session = at.session_state["lr_view"]
    assert session.index == second.index and not session.closed
    mounted = [e for e in at.main if str(getattr(e, "key", "")).endswith("lr_viewer")]
    assert len(mounted) == 1 and mounted[0].proto.component_name == "lychee_viewer"
    data = json.loads(mounted[0].proto.json)
    assert data["start"] == second.index and len(data["items"]) == len(job.results)
    assert data["details"][str(second.index)]["output"] == second.raw_output
    if kind == "images":  # a thumbnail for every card, the large preview around the one on screen
        assert all(item["thumb"] for item in data["items"]) and data["details"][str(second.index)]["src"]
    else:
        assert {item["text"] for item in data["items"]} == {"red silk dress", "blue denim jacket"}
