"""Uploads spooled to disk (issue 27): the inputs read them back, the folder is private and goes with its Spool."""

from __future__ import annotations

import gc
import os
import pickle
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lychee_rerank.errors import UploadSpoolError
from lychee_rerank.intake import FileOpener, Spool, inputs_from_uploads
from lychee_rerank.intake.spool import PREFIX, delete_own_folders, sweep_orphans

import image_factory as factory
from intake_checks import PNG, names, prepare


def test_spooled_uploads_hold_no_bytes_and_read_back_the_same(tmp_path: Path) -> None:
    archive = factory.zip_bytes([("x/2.png", PNG), ("x/bad.png", b"not an image")])
    jpeg = factory.jpeg()
    cap = max(len(PNG), len(jpeg))
    uploads = [("C:\\fakepath\\a.png", PNG), ("photos.zip", archive), ("b.jpg", jpeg), ("big.png", bytes(cap + 1))]
    spool = Spool()
    inputs = inputs_from_uploads(uploads, spool=spool, max_file_bytes=cap)
    assert names(inputs) == ["fakepath/a.png", "photos.zip/x/2.png", "photos.zip/x/bad.png", "b.jpg", "big.png"]
    assert all(item.data is None and item.path is None for item in inputs)  # no bytes held; not a user's file
    assert inputs[0].read_bytes() == PNG and inputs[3].read_bytes() == jpeg
    assert inputs[1].read_bytes() == PNG
    assert [prepare(item).failed for item in inputs] == [False, False, True, False, True]
    assert "file too large" in inputs[4].problem
    # the image files and the zip are written (not the refused one), in a folder only this user can open
    assert sorted(p.name for p in spool.path.iterdir()) == ["00001.png", "00002.zip", "00003.jpg"]
    assert spool.bytes == len(PNG) + len(archive) + len(jpeg)
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o700
    assert spool.path.name.startswith(f"{PREFIX}{os.getpid()}-")


def test_a_spooled_input_crosses_a_pipe_as_its_path() -> None:
    spool, big = Spool(), factory.jpeg((400, 300))
    [item] = inputs_from_uploads([("a.jpg", big)], spool=spool)
    assert isinstance(item.opener, FileOpener) and item.opener.path.parent == spool.path
    copy = pickle.loads(pickle.dumps(item))
    assert copy.opener.path == item.opener.path and copy.read_bytes() == big
    assert len(pickle.dumps(item)) < 1000 < len(big)


def test_the_folder_goes_with_the_last_reference_to_its_spool() -> None:
    spool = Spool()
    inputs = inputs_from_uploads([("a.png", PNG), ("b.zip", factory.zip_bytes([("c.png", PNG)]))], spool=spool)
    folder = spool.path
    assert folder.is_dir() and inputs[1].read_bytes() == PNG
    del spool, inputs
    gc.collect()
    assert not folder.exists()
    closed = Spool()
    closed.write("a.png", PNG)
    closed.close()
    assert not closed.path.exists()


def test_folders_of_servers_that_ended_are_swept(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"{PREFIX}{int(ended.stdout)}-abc"
    alive = tmp_path / f"{PREFIX}{os.getpid()}-def"
    other = tmp_path / "lychee-rerank-uploads-notapid"
    for folder in (dead, alive, other):
        folder.mkdir()
        (folder / "00001.png").write_bytes(PNG)
    assert sweep_orphans(str(tmp_path)) == 1
    assert not dead.exists() and alive.is_dir() and other.is_dir()


def test_a_stopping_server_deletes_only_its_own_folders(tmp_path: Path) -> None:
    own, other = tmp_path / f"{PREFIX}{os.getpid()}-abc", tmp_path / f"{PREFIX}1-def"
    for folder in (own, other):
        folder.mkdir()
        (folder / "00001.png").write_bytes(PNG)
    assert delete_own_folders(str(tmp_path)) == 1
    assert not own.exists() and other.is_dir()


def test_a_spool_that_cannot_be_written_says_how_to_fix_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    with pytest.raises(UploadSpoolError, match=r"in .*missing \(.*\); free some space there, or .*TMPDIR"):
        Spool()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spool = Spool()
    spool.close()  # the folder went (as if cleaned away): writing into it fails with the same advice
    with pytest.raises(UploadSpoolError, match="TMPDIR"):
        inputs_from_uploads([("a.png", PNG)], spool=spool)
