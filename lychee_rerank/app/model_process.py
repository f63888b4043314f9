"""A model loaded in a process of its own, for the app server: the same methods as an in-process ModelHandle.

Why: the demo model on 2 CPU cores runs mostly Python, and in the server's process it shared one GIL with
Streamlit, the live feed's requests and the thumbnails. Runs in the browser took 1.25-1.36 times the library's
own time on the same files (benchmarks/RESULTS.md, issue 27). In its own process the model keeps its GIL to
itself, a crash (out of memory) ends that process and not the server, and every tab still shares one copy of
the weights. ``LYCHEE_MODEL_PROCESS=0`` loads models in the server's process instead.

The two ends speak pickled tuples over a pipe (the protocol is in model_worker.py). Inputs go over as what they
are: uploads as their bytes, folder files as paths the model process opens itself.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import subprocess
import sys
import threading
from dataclasses import replace
from multiprocessing.connection import Connection, Pipe
from pathlib import Path
from typing import Any

from ..errors import ModelProcessError
from ..intake import FileOpener, ImageInput, describe_read_error
from ..results import Ranking
from .engine import Callbacks, RankRequest, RunSettings

logger = logging.getLogger(__name__)

PROCESS_ENV = "LYCHEE_MODEL_PROCESS"
STOP_POLL_S = 0.05  # how often a run's caller checks Stop while no message comes
DESCRIBE_TIMEOUT_S = 60.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


def in_own_process() -> bool:
    """Whether the app loads models in a process of their own (the default; ``LYCHEE_MODEL_PROCESS=0``: not)."""
    return os.environ.get(PROCESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def portable_input(item: ImageInput) -> ImageInput:
    """``item`` as it can cross the pipe: a zip member's reader cannot, so the member is read here (a read error
    becomes the same placeholder the model's side would have made)."""
    if item.opener is None or isinstance(item.opener, FileOpener):
        return item
    try:
        return replace(item, data=item.read_bytes(), opener=None)
    except Exception as exc:  # noqa: BLE001 - any read failure is the item's problem, not the run's
        return replace(item, opener=None, problem=describe_read_error(exc))


def _portable(request: RankRequest) -> RankRequest:
    if request.texts:
        return request
    return replace(request, documents=[portable_input(item) for item in request.documents])


class ProcessModelHandle:
    """One model in its own process; every tab's runs and describes go through here (thread-safe)."""

    def __init__(self, model: str, dtype: str, process: subprocess.Popen, conn: Connection, info: dict[str, Any]):
        self.model, self.dtype, self.info = model, dtype, info
        self._process, self._conn = process, conn
        self._calls: dict[int, queue.Queue] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._ended = False
        self._closing = False
        self._runs = 0
        threading.Thread(target=self._read, name="lychee-model-process", daemon=True).start()

    @classmethod
    def load(cls, model: str, dtype: str = "auto") -> ProcessModelHandle:
        """Start the process and wait until it has loaded ``model`` (its load error, raised here, if it fails)."""
        ours, theirs = Pipe()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen([sys.executable, "-m", "lychee_rerank.app.model_worker", str(theirs.fileno()),
                                    model, dtype], pass_fds=[theirs.fileno()], env=env)
        theirs.close()
        try:
            kind, _, payload = ours.recv()
        except (EOFError, OSError):
            code = process.wait()
            raise ModelProcessError(f"the model process ended while loading {model} ({_exit_text(code)}); see the "
                                    "server's log for why") from None
        if kind == "failed":
            process.wait()
            ours.close()
            raise payload
        logger.info("model %s loaded in process %d", model, process.pid)
        return cls(model, dtype, process, ours, payload)

    @property
    def model_name(self) -> str:
        return str(self.info["model"])

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def alive(self) -> bool:
        return not self._ended and self._process.poll() is None

    def weight_bytes(self) -> int:
        return int(self.info["weight_bytes"])

    def describe(self, settings: RunSettings) -> dict[str, Any]:
        """Where and how runs with ``settings`` go, as the model's process reports it now."""
        call_id, answers = self._call("describe", settings)
        try:
            kind, payload = answers.get(timeout=DESCRIBE_TIMEOUT_S)
        except queue.Empty:
            raise ModelProcessError("the model process did not answer within a minute; restart the app") from None
        finally:
            self._forget(call_id)
        return self._outcome(kind, payload)

    def rank(self, settings: RunSettings, request: RankRequest, calls: Callbacks) -> Ranking:
        """Rank ``request`` in the model's process, passing its progress on; Stop is sent on as soon as it is seen."""
        with self._lock:
            self._runs += 1  # counted first: a close() from now on waits for this run
        call_id = None
        try:
            call_id, answers = self._call("rank", settings, _portable(request))
            return self._follow(call_id, answers, calls)
        finally:
            if call_id is not None:
                self._forget(call_id)
            with self._lock:
                self._runs -= 1
                end_now = self._closing and self._runs == 0
            if end_now:
                self._end()

    def close(self) -> None:
        """End the process once its current run (if any) is over: the pool dropped this model for room."""
        with self._lock:
            self._closing = True
            end_now = self._runs == 0
        if end_now:
            self._end()

    def _end(self) -> None:
        """Ask the process to leave (its model's memory goes with it) and reap it without holding anyone up."""
        self._send("quit", 0)
        threading.Thread(target=_reap, args=(self._process,), name="lychee-model-reaper", daemon=True).start()

    def _follow(self, call_id: int, answers: queue.Queue, calls: Callbacks) -> Ranking:
        stop_sent = False
        while True:
            if not stop_sent and calls.should_stop():
                self._send("stop", call_id)
                stop_sent = True
            try:
                kind, payload = answers.get(timeout=STOP_POLL_S)
            except queue.Empty:
                continue
            if kind == "progress":
                calls.on_progress(*payload)
            elif kind == "wait":
                calls.on_wait()
            else:
                return self._outcome(kind, payload)

    def _outcome(self, kind: str, payload: tuple) -> Any:
        if kind == "result":
            return payload[0]
        if kind == "error":
            raise payload[0]
        raise ModelProcessError(f"the model process ended ({_exit_text(_exit_code(self._process))}); press Run "
                                "again to load the model again")

    def _call(self, kind: str, *args: Any) -> tuple[int, queue.Queue]:
        answers: queue.Queue = queue.Queue()
        with self._lock:
            if self._ended:
                raise ModelProcessError("the model process has ended; press Run again to load the model again")
            call_id = next(self._ids)
            self._calls[call_id] = answers
            try:
                self._conn.send((kind, call_id, *args))
            except OSError:
                del self._calls[call_id]
                raise ModelProcessError(f"the model process has ended ({_exit_text(_exit_code(self._process))}); "
                                        "press Run again to load the model again") from None
        return call_id, answers

    def _send(self, *message: Any) -> None:
        with self._lock:
            if not self._ended:
                try:
                    self._conn.send(message)
                except OSError:  # the process just left; the reader tells the waiting calls
                    pass

    def _forget(self, call_id: int) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def _read(self) -> None:
        """Hands each message to the call it answers; when the pipe ends, tells every waiting call."""
        while True:
            try:
                kind, call_id, *payload = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                answers = self._calls.get(call_id)
            if answers is not None:
                answers.put((kind, tuple(payload)))
        with self._lock:
            self._ended = True
            waiting = list(self._calls.values())
        self._conn.close()
        for answers in waiting:
            answers.put(("ended", ()))
        if not self._closing:
            logger.error("the model process of %s ended (%s)", self.model, _exit_text(_exit_code(self._process)))


def _reap(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _exit_code(process: subprocess.Popen) -> int | None:
    """The exit code of a process whose pipe just closed (it may take a moment to be gone); None if it lingers."""
    try:
        return process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running, not answering"
    if code < 0:
        return f"killed by signal {-code}" + (", often for lack of memory" if code == -9 else "")
    return f"exit code {code}"
