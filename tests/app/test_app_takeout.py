"""The app's "take picks to your other tools" panel (issue 25), driven by AppTest on a folder run:
"Write ratings" asks first (count and folder), then writes sidecars; the shown images copy out."""

from __future__ import annotations

import hashlib
from pathlib import Path

from streamlit.testing.v1 import AppTest

from lychee_rerank.app import jobs

from helpers import make_image_folder, open_app, unmd

TIMEOUT = 60


def run_folder(at: AppTest, folder: Path) -> jobs.Job:
    at.text_area(key="query").input("a red circle")
    at.text_input(key="folder").input(str(folder))
    at.run()
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT), "the run did not finish"
    at.run()
    assert not at.exception, at.exception
    return job


def originals(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.suffix != ".xmp"}


def test_write_ratings_confirms_count_and_folder_then_writes_sidecars(app_env, tmp_path: Path):
    folder = make_image_folder(tmp_path / "images", corrupt=False)
    before = originals(folder)
    at = open_app()
    at.radio(key="lang").set_value("en").run()
    run_folder(at, folder)
    at.button(key="write_ratings").click().run()
    assert not list(folder.glob("*.xmp")), "nothing is written before the confirmation"
    confirm = " ".join(w.value for w in at.warning)
    assert "3 .xmp sidecar(s)" in confirm and str(folder) in confirm.replace("\\", "")
    at.button(key="write_ratings_yes").click().run()
    assert not at.exception, at.exception
    assert sorted(p.name for p in folder.glob("*.xmp")) == sorted(f"{name}.xmp" for name in before)
    assert any("Wrote 3 sidecar(s)" in s.value for s in at.success)
    assert originals(folder) == before


def test_cancel_writes_nothing_and_marks_without_picks_say_so(app_env, tmp_path: Path):
    folder = make_image_folder(tmp_path / "images", corrupt=False)
    at = open_app()
    at.radio(key="lang").set_value("en").run()
    run_folder(at, folder)
    at.button(key="write_ratings").click().run()
    at.button(key="write_ratings_no").click().run()
    assert not list(folder.glob("*.xmp")) and not at.warning
    at.radio(key="rating_from").set_value("marks").run()
    at.button(key="write_ratings").click().run()
    assert any("pick (5) or reject (-1)" in unmd(e.value) for e in at.error)


def test_copy_out_copies_the_shown_images(app_env, tmp_path: Path):
    folder = make_image_folder(tmp_path / "images", corrupt=False)
    at = open_app()
    at.radio(key="lang").set_value("en").run()
    run_folder(at, folder)
    at.text_input(key="copy_to").input(str(tmp_path / "picks")).run()
    at.button(key="copy_button").click().run()
    assert not at.exception, at.exception
    copied = sorted(p.name for p in (tmp_path / "picks").iterdir())
    assert copied == sorted([*(p.name for p in folder.iterdir()), "lychee-copied.csv"])
