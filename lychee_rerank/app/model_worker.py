"""The app's model process: one model loaded, ranking what the app server sends it (see model_process.py).

The server starts it as ``python -m lychee_rerank.app.model_worker FD MODEL DTYPE``; FD is this process's end of
a pipe of pickled tuples ``(kind, call_id, *payload)``:

* it says ``("ready", 0, info)`` once the model is loaded, or ``("failed", 0, error)`` and exits;
* ``("describe", id, settings)`` -> ``("result", id, dict)``;
* ``("rank", id, settings, request)`` -> ``("progress", id, done, total, result)`` per document, ``("wait", id)``
  if the model is busy, then ``("result", id, ranking)`` or ``("error", id, error)``;
* ``("stop", id)`` stops that run after its current batch; ``("quit", 0)`` ends the process.

It ends when the server closes its end of the pipe (the server quit, or dropped the model for room).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from ..errors import LycheeRerankError
from .engine import Callbacks, ModelHandle, RankRequest, RunSettings

logger = logging.getLogger("lychee_rerank.app.model_worker")


def transportable_error(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives the pipe (its type and message intact), else a plain error saying the same."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception whose class cannot be rebuilt on the other side
        kind = LycheeRerankError if isinstance(exc, LycheeRerankError) else RuntimeError
        return kind(f"{type(exc).__name__}: {exc}")


class Worker:
    """Answers the server's messages; each run ranks on a thread of its own so Stop and describe get through."""

    def __init__(self, conn: Connection, handle: ModelHandle):
        self.conn, self.handle = conn, handle
        self._send_lock = threading.Lock()
        self._stops: dict[int, threading.Event] = {}

    def send(self, *message: Any) -> None:
        with self._send_lock:  # the run's thread and the main loop both write
            self.conn.send(message)

    def serve(self) -> None:
        while True:
            try:
                kind, call_id, *payload = self.conn.recv()
            except (EOFError, OSError):
                return  # the server closed its end: nothing more will come
            if kind == "quit":
                return
            if kind == "stop":
                if (event := self._stops.get(call_id)) is not None:
                    event.set()
            elif kind == "rank":
                self._stops[call_id] = threading.Event()
                threading.Thread(target=self._rank, args=(call_id, *payload), name="lychee-rerank-job",
                                 daemon=True).start()
            elif kind == "describe":
                self._reply(call_id, lambda: self.handle.describe(payload[0]))

    def _reply(self, call_id: int, compute: Callable[[], Any]) -> None:
        try:
            result = compute()
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the page that asked
            if not isinstance(exc, LycheeRerankError):
                logger.exception("call %s failed in the model process", call_id)
            self.send("error", call_id, transportable_error(exc))
            return
        self.send("result", call_id, result)

    def _rank(self, call_id: int, settings: RunSettings, request: RankRequest) -> None:
        stop = self._stops[call_id]
        calls = Callbacks(on_progress=lambda done, total, result: self.send("progress", call_id, done, total, result),
                          should_stop=stop.is_set, on_wait=lambda: self.send("wait", call_id))
        try:
            self._reply(call_id, lambda: self.handle.rank(settings, request, calls))
        finally:
            self._stops.pop(call_id, None)


def main(argv: list[str]) -> int:
    fd, model, dtype = argv
    # Ctrl+C in the server's terminal reaches this process too: the server decides, and its exit ends this one.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s model process: %(message)s")
    conn = Connection(int(fd))
    try:
        handle = ModelHandle.load(model, dtype)
    except Exception as exc:  # noqa: BLE001 - the server shows it in the page
        conn.send(("failed", 0, transportable_error(exc)))
        return 1
    conn.send(("ready", 0, {"model": handle.model_name, "weight_bytes": handle.weight_bytes()}))
    Worker(conn, handle).serve()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # at once: a run's thread may still be inside the model
