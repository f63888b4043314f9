"""Issue 22 item 8: what the server keeps for closed tabs is bounded in bytes, not only in count."""

from __future__ import annotations

import gc
import tempfile
from pathlib import Path

import pytest

from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs
from lychee_rerank.app.sessions import SessionStore
from lychee_rerank.settings import MAX_FILE_BYTES

from helpers import ROOT, png_bytes
from image_factory import zip_bytes


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


def test_a_kept_run_holds_its_uploads_on_disk_until_no_run_needs_them(tiny_reranker_dir: Path):
    """Issue 27: kept runs cost paths, not the uploads' bytes; a run that ranks them again keeps their folder."""
    handle, engine = eng.ModelHandle.load(str(tiny_reranker_dir), "auto"), eng.Engine()
    uploads = [(f"{i}.png", png_bytes((i * 60, 0, 0), (64, 64))) for i in range(3)]
    uploads.append(("more.zip", zip_bytes([("d.png", png_bytes("blue"))])))
    first = jobs.Job(handle=handle, engine=engine, settings=eng.RunSettings(model="tiny"), query="red",
                     instruction=None, uploads=list(uploads))
    assert first.start().wait(60) and first.state == jobs.DONE
    assert all(item.data is None for item in first.inputs) and first.uploads == []
    [folder] = [spool.path for spool in first.spools]
    assert first.upload_bytes == sum(len(data) for _, data in uploads)
    again = jobs.Job(handle=handle, engine=engine, settings=eng.RunSettings(model="tiny"), query="blue",
                     instruction=None, uploads=[], reused=list(first.uploaded), spools=list(first.spools))
    del first
    gc.collect()
    assert folder.is_dir()  # the second run ranks the same uploads
    assert again.start().wait(60) and again.state == jobs.DONE
    assert sorted(r.name for r in again.results) == ["0.png", "1.png", "2.png", "more.zip/d.png"]
    assert all(r.ok for r in again.results) and again.thumbnail(3)[:2] == b"\xff\xd8"
    del again
    gc.collect()
    assert not folder.exists()


def test_uploads_that_cannot_be_kept_on_disk_fail_the_run_with_advice(tiny_reranker_dir: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch):
    from lychee_rerank.app.text import translate_warning

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    job = jobs.Job(handle=eng.ModelHandle.load(str(tiny_reranker_dir), "auto"), engine=eng.Engine(),
                   settings=eng.RunSettings(model="tiny"), query="red", instruction=None,
                   uploads=[("a.png", png_bytes("red"))])
    assert job.start().wait(60) and job.state == jobs.ERROR
    assert "TMPDIR" in job.error and "missing" in job.error
    shown = translate_warning("zh", job.error)
    assert shown.startswith("无法把上传的图片暂存到磁盘")
    assert shown.endswith("设置 TMPDIR 为有空间的文件夹后重新启动应用")
