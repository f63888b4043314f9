"""Only regular files are ever read (issue 22, item 2): pipes, sockets and devices are warned rows, never waited on,
and the check is made again when a file is opened, so a link swapped after the folder was listed is refused too."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lychee_rerank.intake import collect_inputs, header_size

from intake_checks import prepare, write

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def finishes(work: Callable[[], object], timeout: float = 60.0) -> object:
    """``work()``'s value; fails (instead of hanging the suite) when it does not return."""
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert done, "blocked: a pipe was opened and waited on"
    return done[0]


def release(fifo: Path) -> None:
    """Give a reader stuck on ``fifo`` (before the fix) its end of file, so no thread is left behind."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader waiting


@pytest.fixture
def special_folder(tmp_path: Path):
    root = tmp_path / "f1"
    write(root / "real.png")
    os.mkfifo(root / "inner_fifo")
    os.mkfifo(root / "named_fifo.png")
    (root / "via_link.png").symlink_to("inner_fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "socket.png"))
    yield root
    sock.close()
    for fifo in ("inner_fifo", "named_fifo.png"):
        release(root / fifo)


def test_pipes_sockets_and_links_to_them_are_warned_rows(special_folder: Path):
    result = collect_inputs([special_folder])
    by_name = {item.name: item for item in result.inputs}
    assert sorted(by_name) == ["named_fifo.png", "real.png", "socket.png", "via_link.png"]
    assert "a pipe (FIFO)" in by_name["named_fifo.png"].problem
    assert "a pipe (FIFO)" in by_name["via_link.png"].problem, "not a 'broken symlink'"
    assert "a socket" in by_name["socket.png"].problem
    assert any("skipped 1 non-image" in note for note in result.notes), "the unnamed FIFO is counted, not lost"
    prepared = finishes(lambda: [prepare(item) for item in result.inputs])
    assert [p.failed for p in prepared] == [p.source.name != "real.png" for p in prepared]


def test_an_explicit_link_to_a_pipe_or_a_device_says_what_it_is(special_folder: Path):
    [link, device] = collect_inputs([special_folder / "via_link.png", "/dev/null"]).inputs
    assert "a pipe (FIFO)" in link.problem and "broken" not in link.problem
    assert "a device" in device.problem


def test_a_file_swapped_for_a_pipe_after_listing_is_refused_when_opened(tmp_path: Path):
    root = tmp_path / "swap"
    write(root / "a.png")
    [item] = collect_inputs([root]).inputs
    os.mkfifo(tmp_path / "fifo")
    os.replace(tmp_path / "fifo", root / "a.png")
    try:
        prepared = finishes(lambda: prepare(item))
        assert finishes(lambda: header_size(item)) is None
    finally:
        release(root / "a.png")
    assert prepared.failed and "a pipe (FIFO)" in prepared.warning


def test_a_link_swapped_to_lead_outside_after_listing_is_refused_when_opened(tmp_path: Path):
    root = tmp_path / "root"
    write(root / "real.png")
    (root / "link.png").symlink_to("real.png")
    outside = write(tmp_path / "secret.png")
    by_name = {item.name: item for item in collect_inputs([root]).inputs}
    (root / "link.png").unlink()
    (root / "link.png").symlink_to(outside)
    prepared = prepare(by_name["link.png"])
    assert prepared.failed and "leads outside the folder" in prepared.warning
    assert not prepare(by_name["real.png"]).failed
