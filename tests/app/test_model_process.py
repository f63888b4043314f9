"""The app's model in a process of its own (lychee_rerank/app/model_process.py), on the tiny random models.

Runs through it must equal runs in the server's process: the same results for folders, uploads (a zip's members
among them), texts, a reference image and own prompts. Stop reaches it, typed errors come back typed, a killed
process is reported and loaded again, and a model the pool drops takes its process with it.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import zipfile
from pathlib import Path

import pytest

from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs
from lychee_rerank.app.model_process import ProcessModelHandle, portable_input
from lychee_rerank.app.models import ModelPool
from lychee_rerank.app.page import inputs_from_sources
from lychee_rerank.errors import InvalidQueryError, InvalidSettingError, ModelNotFoundError, ModelProcessError
from lychee_rerank.intake import ImageInput, inputs_from_uploads

from helpers import jpeg_bytes, make_image_folder, png_bytes, wait_until

TIMEOUT = 120
NEVER = eng.Callbacks(on_progress=lambda *_: None, should_stop=lambda: False, on_wait=lambda: None)


@pytest.fixture(scope="module")
def remote(tiny_reranker_dir: Path) -> ProcessModelHandle:
    handle = ProcessModelHandle.load(str(tiny_reranker_dir))
    yield handle
    handle.close()


@pytest.fixture(scope="module")
def local(tiny_reranker_dir: Path) -> eng.ModelHandle:
    return eng.ModelHandle.load(str(tiny_reranker_dir))


def finished(handle, **given) -> jobs.Job:
    job = jobs.Job(handle=handle, engine=eng.Engine(), settings=eng.RunSettings(model="tiny"), instruction=None,
                   **{"query": "a red circle", "uploads": [], **given}).start()
    assert job.wait(TIMEOUT), "the run did not finish"
    assert job.error is None, job.error
    return job


def seen(job: jobs.Job) -> list[tuple]:
    return [(r.rank, r.name, r.score, r.raw_output, r.parse_method, r.warning, r.path) for r in job.results]


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_folder_and_uploads_rank_as_in_the_server_process(remote, local, tmp_path):
    folder = make_image_folder(tmp_path / "images")  # a broken JPEG among them
    uploads = [("sky.jpg", jpeg_bytes("skyblue")),
               ("pack.zip", zipped({"a/red.png": png_bytes("red"), "a/cut.jpg": jpeg_bytes("white")[:40]}))]
    mine, theirs = finished(remote, folder=str(folder), uploads=uploads), finished(local, folder=str(folder),
                                                                                 uploads=uploads)
    assert seen(mine) == seen(theirs) and len(mine.results) == 7
    assert mine.done == 7 and mine.state == jobs.DONE
    assert any(r.warning for r in mine.results if r.name == "broken.jpg")


def test_texts_a_reference_image_and_own_prompts_rank_as_in_the_server_process(remote, local):
    texts = ["a red circle", "a blue square", "green grass"]
    assert seen(finished(remote, texts=texts)) == seen(finished(local, texts=texts))
    reference = ("ref.png", png_bytes("red"))
    uploads = [("r.png", png_bytes("red")), ("b.jpg", jpeg_bytes("blue"))]
    assert seen(finished(remote, uploads=uploads, query_image=reference)) == seen(
        finished(local, uploads=uploads, query_image=reference))
    own = {"uploads": uploads, "query_source": "own"}  # no prompts inside: scored against the typed query
    assert seen(finished(remote, **own)) == seen(finished(local, **own))


def test_a_zip_member_crosses_as_its_bytes_and_a_folder_file_as_its_path(tmp_path):
    folder = make_image_folder(tmp_path / "images", corrupt=False)
    member = inputs_from_uploads([("pack.zip", zipped({"red.png": png_bytes("red")}))])[0]
    crossed = portable_input(member)
    assert crossed.opener is None and crossed.data == png_bytes("red") and crossed.name == member.name
    on_disk = ImageInput(name="red_circle.png", path=str(folder / "red_circle.png"),
                         opener=inputs_from_sources([], str(folder), []).inputs[0].opener)
    assert portable_input(on_disk) is on_disk  # read by the model's process itself


def test_stop_reaches_the_model_process(remote):
    uploads = [(f"{i}.png", png_bytes((i, 0, 0))) for i in range(40)]
    stop = threading.Event()
    stop.set()  # pressed as the run starts: the model's process stops after its first batch
    calls = eng.Callbacks(on_progress=lambda *_: None, should_stop=stop.is_set, on_wait=lambda: None)
    inputs = inputs_from_uploads(uploads)
    ranking = remote.rank(eng.RunSettings(model="tiny"), eng.RankRequest("red", inputs), calls)
    assert ranking.stopped and len(ranking) == 40
    assert sum(r.parse_method == "skipped" for r in ranking) >= 30


def test_errors_come_back_typed(remote, tmp_path):
    with pytest.raises(InvalidQueryError):
        remote.rank(eng.RunSettings(model="tiny"), eng.RankRequest("", inputs_from_uploads(
            [("r.png", png_bytes("red"))])), NEVER)
    with pytest.raises(InvalidSettingError, match="unknown model family"):
        remote.describe(eng.RunSettings(model="tiny", family="no-such-family"))
    assert remote.describe(eng.RunSettings(model="tiny"))["device"] == "cpu" and remote.alive
    with pytest.raises(ModelNotFoundError):
        ProcessModelHandle.load(str(tmp_path / "no-model-here"))


def test_a_killed_model_process_is_reported_and_loaded_again(tiny_reranker_dir):
    pool = ModelPool(budget_bytes=1 << 40, loader=ProcessModelHandle.load)
    first = pool.get(str(tiny_reranker_dir))
    os.kill(first.pid, signal.SIGKILL)
    assert wait_until(lambda: not first.alive, TIMEOUT)
    with pytest.raises(ModelProcessError, match="press Run again"):
        first.describe(eng.RunSettings(model="tiny"))
    assert pool.status(str(tiny_reranker_dir)) == "evicted"  # the page says it loads the model again
    again = pool.get(str(tiny_reranker_dir))
    assert again is not first and again.alive and pool.loads == 2
    again.close()


def test_a_model_dropped_for_room_ends_its_process(tiny_reranker_dir, tiny_instruct_dir):
    a, b = str(tiny_reranker_dir), str(tiny_instruct_dir)
    first = ProcessModelHandle.load(a)
    pool = ModelPool(budget_bytes=int(1.5 * first.weight_bytes()), loader=ProcessModelHandle.load)
    first.close()
    dropped = pool.get(a)
    kept = pool.get(b)
    assert pool.loaded() == [(b, "auto")]
    assert wait_until(lambda: not dropped.alive, TIMEOUT), "the dropped model's process is still running"
    assert kept.alive
    kept.close()
