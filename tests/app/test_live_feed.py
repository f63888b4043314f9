"""The live view's server routes (lychee_rerank/app/live_feed.py), called over HTTP with Starlette's test client.

A running job on the tiny model (slowed so that it is still running while the routes are called): its feed
says what the page shows, its thumbnails are JPEGs, Stop stops it at once, and a held fetch comes back as
soon as the job ends. Unknown tokens get 404 and nothing else.
"""

from __future__ import annotations

import gc
import io
from pathlib import Path

import pytest
import streamlit
from PIL import Image
from starlette.applications import Starlette
from starlette.testclient import TestClient

from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs, live_feed

from helpers import make_image_folder, slow_down, wait_until

TIMEOUT = 60


@pytest.fixture
def client() -> TestClient:
    return TestClient(Starlette(routes=live_feed.routes()))


@pytest.fixture
def running(tiny_reranker_dir: Path, tmp_path: Path) -> jobs.Job:
    handle = eng.ModelHandle.load(str(tiny_reranker_dir), "auto")
    slow_down(handle.for_settings(eng.RunSettings(model="tiny")), 0.4)
    job = jobs.Job(handle=handle, engine=eng.Engine(), settings=eng.RunSettings(model="tiny"), query="red",
                   instruction=None, uploads=[], folder=str(make_image_folder(tmp_path / "f", corrupt=False)))
    job.start()
    assert wait_until(lambda: job.progress()[0] >= 1, TIMEOUT)
    yield job
    job.stop()
    assert job.wait(TIMEOUT)


def test_the_feed_says_what_the_page_shows_and_serves_its_thumbnails(client, running):
    token = live_feed.register(running, "en", None)
    assert live_feed.register(running, "zh", None) == token and len(token) >= 24  # one unguessable token per job
    feed = client.get(f"/api/lychee/live/{token}").json()
    assert not feed["finished"] and feed["progress"].startswith("已处理 ") and feed["stop"] == "停止"
    assert any(line.startswith("最新：") for line in feed["lines"])
    card = feed["cards"][0]
    assert card["rank"].startswith("第 1 名") and card["src"] == f"api/lychee/thumb/{token}/c/{card['index']}"
    thumb = client.get("/" + card["src"])
    assert thumb.headers["content-type"] == "image/jpeg" and "immutable" in thumb.headers["cache-control"]
    assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"
    assert client.get(f"/api/lychee/thumb/{token}/c/999").status_code == 404  # no such image
    assert client.get(f"/api/lychee/thumb/{token}/p/0").status_code == 404  # no previous run


def test_stop_stops_the_job_and_the_feed_says_it_ended(client, running):
    token = live_feed.register(running, "en", None)
    assert client.post(f"/api/lychee/stop/{token}").json() == {"stopping": True}
    assert running.wait(TIMEOUT) and running.state == jobs.STOPPED
    feed = client.get(f"/api/lychee/live/{token}").json()
    assert feed["finished"] and feed["lines"] == []  # nothing "latest" or "per second" about a run that ended
    assert feed["progress"].startswith(f"{running.done} of ")  # the count where it stopped


def test_unknown_tokens_get_nothing(client):
    assert client.get("/api/lychee/live/not-a-token").status_code == 404
    assert client.get("/api/lychee/thumb/not-a-token/c/0").status_code == 404
    assert client.post("/api/lychee/stop/not-a-token").status_code == 404
    assert client.get("/api/lychee/stop/not-a-token").status_code == 405  # Stop is a POST only


def test_a_feed_does_not_keep_its_job_alive(client):
    """The sessions' memory budget decides how long a run and its uploads live; its feed only points at it."""
    job = jobs.Job(handle=None, engine=None, settings=eng.RunSettings(model="tiny"), query="red", instruction=None,
                   uploads=[("a.png", b"not read")])
    token = live_feed.register(job, "en", None)
    assert live_feed.feed(token).job is job
    assert client.get(f"/api/lychee/live/{token}").json()["progress"] == "0 of 0 processed"
    del job
    gc.collect()
    assert live_feed.feed(token) is None
    assert client.get(f"/api/lychee/live/{token}").status_code == 404


def test_the_results_widgets_scripts_are_found_in_the_installed_streamlit():
    """Issue 27: the idle live view loads the scripts of the results page's widgets ahead. A Streamlit that renamed
    them would quietly bring their loading back into the moment between a run's end and its results."""
    scripts = live_feed.results_scripts()
    assert [Path(path).name.split(".")[0] for path in scripts] == list(live_feed.RESULTS_WIDGETS)
    assert all((Path(streamlit.__file__).parent / "static" / path).is_file() for path in scripts)
