"""Issue 27: the uploader's files go to disk as they arrive (lychee_rerank/app/upload_prep.py), not after Run.

A prepared set ranks exactly as the uploads themselves (the same inputs, the same cache key), a refined query
reuses its folder instead of writing the files again, a replaced set is dropped with its folder, and a set that
cannot be read fails its run with the message the run would have given.
"""

from __future__ import annotations

import gc
from pathlib import Path

from streamlit.proto.Common_pb2 import FileURLs
from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

from lychee_rerank.app import engine as eng
from lychee_rerank.app import jobs
from lychee_rerank.app.upload_prep import UploadPrep

from helpers import png_bytes
from image_factory import zip_bytes

TIMEOUT = 60


def uploaded(files: list[tuple[str, bytes]], tag: str = "") -> list[UploadedFile]:
    """The uploader's value as Streamlit hands it to the page."""
    return [UploadedFile(UploadedFileRec(f"{tag}{i}", name, "image/png", data), FileURLs())
            for i, (name, data) in enumerate(files)]


def job_for(handle, engine, query: str, **given) -> jobs.Job:
    job = jobs.Job(handle=handle, engine=engine, settings=eng.RunSettings(model="tiny"), query=query,
                   instruction=None, **given)
    assert job.start().wait(TIMEOUT), "the run did not end"
    return job


def test_a_prepared_set_ranks_as_its_uploads_and_a_refined_query_writes_nothing_again(tiny_reranker_dir: Path):
    handle, engine = eng.ModelHandle.load(str(tiny_reranker_dir), "auto"), eng.Engine()
    files = [(f"{i}.png", png_bytes((i * 60, 0, 0), (64, 64))) for i in range(3)]
    files.append(("more.zip", zip_bytes([("d.png", png_bytes("blue"))])))
    direct = job_for(handle, engine, "red", uploads=list(files))
    prep = UploadPrep()
    prep.offer(uploaded(files))
    first = job_for(handle, engine, "red", uploads=[], prepared=prep.take(uploaded(files)))
    assert first.state == jobs.DONE and first.cached  # the same digests, so the same key as the direct run
    assert [r.name for r in first.results] == [r.name for r in direct.results]
    refined = job_for(handle, engine, "blue", uploads=[], prepared=prep.take(uploaded(files)))
    assert refined.state == jobs.DONE and not refined.cached and all(r.ok for r in refined.results)
    assert sorted(r.name for r in refined.results) == ["0.png", "1.png", "2.png", "more.zip/d.png"]
    [folder] = {spool.path for spool in first.spools + refined.spools}  # one folder for both runs
    assert sorted(p.name for p in folder.iterdir()) == ["00001.png", "00002.png", "00003.png", "00004.zip"]
    assert refined.upload_bytes == sum(len(data) for _, data in files) and refined.prepared is None


def test_only_a_new_set_is_prepared_and_a_replaced_one_goes_with_its_folder():
    prep, first, second = UploadPrep(), [("a.png", png_bytes("red"))], [("b.png", png_bytes("green"))]
    prep.offer(uploaded(first))
    pending = prep.take(uploaded(first))
    prep.offer(uploaded(first))  # the next rerun, same files
    assert prep.take(uploaded(first)) is pending and prep.take(uploaded(second)) is None
    folder = pending.result(TIMEOUT).spool.path
    assert folder.is_dir()
    prep.offer(uploaded(second, tag="new"))
    assert prep.take(uploaded(first)) is None and prep.take(uploaded(second, tag="new")) is not None
    del pending
    gc.collect()
    assert not folder.exists()
    prep.offer([])
    assert prep.take([]) is None


def test_a_set_that_cannot_be_read_fails_its_run_with_the_runs_own_message(tiny_reranker_dir: Path):
    handle, engine = eng.ModelHandle.load(str(tiny_reranker_dir), "auto"), eng.Engine()
    files = [("empty.zip", zip_bytes([("notes.txt", b"no images here")]))]
    direct = job_for(handle, engine, "red", uploads=list(files))
    prep = UploadPrep()
    prep.offer(uploaded(files))
    prepared = job_for(handle, engine, "red", uploads=[], prepared=prep.take(uploaded(files)))
    assert direct.state == prepared.state == jobs.ERROR
    assert prepared.error == direct.error and "no images" in prepared.error
