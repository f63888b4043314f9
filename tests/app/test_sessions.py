"""Issue 22 item 8: what the server keeps for closed tabs is bounded in bytes, not only in count."""

from __future__ import annotations

from pathlib import Path

import pytest

from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs
from lychee_rerank.app.sessions import SessionStore
from lychee_rerank.settings import MAX_FILE_BYTES

from helpers import ROOT, png_bytes


class HeldBytes:
    """A stand-in for a finished Job that holds ``n`` bytes (the store only asks for nbytes)."""

    def __init__(self, n: int):
        self.n = n

    def nbytes(self) -> int:
        return self.n


def save(store: SessionStore, session_id: str, job: HeldBytes) -> None:
    store.save(session_id, {"lr_job": job, "query": session_id}, "lr_job")


def test_the_store_drops_the_oldest_sessions_and_runs_past_its_byte_bound():
    store = SessionStore(max_sessions=64, max_recent=8, max_bytes=1000)
    for i in range(20):
        save(store, f"s{i}", HeldBytes(300))
        assert store.held_bytes() <= 1000
    state: dict = {}
    assert store.take_over("s19", "new", state, "lr_job") and state["query"] == "s19"  # the newest is kept
    assert not store.take_over("s0", "other", {}, "lr_job")  # the oldest went
    assert len(store.recent()) <= 3


def test_the_page_in_use_keeps_its_run_even_when_it_alone_is_over_the_bound():
    store = SessionStore(max_bytes=1000)
    save(store, "old", HeldBytes(10))
    save(store, "big", HeldBytes(5000))
    state: dict = {}
    assert store.take_over("big", "big2", state, "lr_job") and state["lr_job"].n == 5000
    assert not store.take_over("old", "old2", {}, "lr_job")


def test_a_job_counts_its_uploads_once_and_the_thumbnails_it_made(tiny_reranker_dir: Path):
    uploads = [(f"{i}.png", png_bytes((i * 40, 0, 0), (300, 300))) for i in range(4)]
    job = jobs.Job(handle=eng.ModelHandle.load(str(tiny_reranker_dir), "auto"), engine=eng.Engine(),
                   settings=eng.RunSettings(model="tiny"), query="red", instruction=None, uploads=list(uploads))
    assert job.start().wait(60) and job.state == jobs.DONE
    uploaded = sum(len(data) for _, data in uploads)
    assert job.nbytes() == uploaded
    thumbnail = job.thumbnail(0)
    assert job.nbytes() == uploaded + len(thumbnail)


def test_the_servers_upload_limit_is_ours():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024**2 == MAX_FILE_BYTES


def test_too_many_uploads_tells_a_web_user_what_to_do_not_a_command_line_flag():
    from lychee_rerank.app.text import translate_warning
    from lychee_rerank.errors import TooManyImagesError
    from lychee_rerank.intake import check_image_count

    with pytest.raises(TooManyImagesError) as caught:
        check_image_count(1200, 1000, "the uploads")
    for lang in ("zh", "en"):
        shown = translate_warning(lang, str(caught.value))
        assert "1200" in shown and "1000" in shown and "--max-images" not in shown and "max_images" not in shown
    assert translate_warning("zh", str(caught.value)).startswith("上传了 1200 张图片")
