"""Nothing hangs a run (issue 22, item 2), in real subprocesses: a link to a FIFO in a folder is a warned row and
the command ends; Ctrl+C ends a run whose preparing thread is stuck reading a pipe.

Since only regular files are opened now (checked on the opened file), the command line cannot block on a FIFO any
more; the Ctrl+C case therefore blocks the run through the Python API, with an input whose own reader waits on a
pipe (as a read from a hung network share would), and checks the process ends.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import ROOT, png_bytes

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
LOAD_S = 300  # importing torch and loading the demo model, on a busy machine
RUN_S = 30  # the run itself, once the model is loaded (issue 22's bound)
STUCK_RUN = """
import sys
from lychee_rerank import Reranker
from lychee_rerank.intake import ImageInput

def stuck():
    print("reading the pipe", file=sys.stderr, flush=True)
    with open(sys.argv[1], "rb") as pipe:  # blocks: nobody writes to it
        return pipe.read()

reranker = Reranker.from_pretrained("demo", device="cpu")
reranker.rank("a red circle", [sys.argv[2], ImageInput(name="stuck.png", opener=stuck)])
"""


class Watched:
    """A subprocess whose stderr lines are collected on a thread, so waiting for one never blocks for ever."""

    def __init__(self, args: list[str], stdout: Path):
        with open(stdout, "wb") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=ENV, stdout=out, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for(self, marker: str) -> None:
        while not any(marker in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=LOAD_S))
            except queue.Empty:
                raise AssertionError(f"no {marker!r} line; stderr so far: {''.join(self.seen)[-2000:]}") from None

    def ends(self) -> int:
        try:
            return self.proc.wait(timeout=RUN_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {RUN_S} s later: the run hangs") from None

    def stderr(self) -> str:
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def release(fifo: Path) -> None:
    """End of file for a reader still stuck on ``fifo``."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_a_link_to_a_fifo_is_a_warned_row_and_the_command_ends(tmp_path: Path):
    folder = tmp_path / "f1"
    folder.mkdir()
    for index, colour in enumerate(["red", "blue", "green"]):
        (folder / f"img{index}.png").write_bytes(png_bytes(colour))
    os.mkfifo(folder / "inner_fifo")
    (folder / "via_link.png").symlink_to("inner_fifo")
    out = tmp_path / "out.json"
    run = Watched([sys.executable, "-m", "lychee_rerank.cli", "rank", "--model", "demo", "--query", "a red circle",
                   "--format", "json", "--threads", "1", str(folder)], out)
    try:
        run.wait_for("INFO model")
        assert run.ends() == 0, run.stderr()
    finally:
        run.kill()
        release(folder / "inner_fifo")
    records = {record["name"]: record for record in json.loads(out.read_text(encoding="utf-8"))}
    assert sorted(records) == ["img0.png", "img1.png", "img2.png", "via_link.png"]
    fifo = records["via_link.png"]
    assert fifo["parse_method"] == "failed" and "a pipe (FIFO)" in fifo["warning"] and fifo["rank"] == 4


def test_ctrl_c_ends_a_run_blocked_reading_a_pipe(tmp_path: Path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes("red"))
    run = Watched([sys.executable, "-c", STUCK_RUN, str(fifo), str(image)], tmp_path / "out.txt")
    try:
        run.wait_for("reading the pipe")
        run.proc.send_signal(signal.SIGINT)
        code = run.ends()
    finally:
        run.kill()
        release(fifo)
    assert code != 0 and "KeyboardInterrupt" in run.stderr()
