"""Work done ahead on a background thread and handed over through a bounded queue.

A run prepares batches (decode, resize, processor) while the model scores the
previous one: the GPU no longer waits on the CPU. The queue holds at most
``depth`` finished items, so memory stays bounded however long the run. An
exception in the producer reaches the consumer (never a hang), and closing
early (a stopped run) ends the producer at its next hand-over. Every wait is
bounded: a producer stuck in a call that never returns (a read from a hung
network share) is left behind as a daemon thread, with a warning, so a stopped,
failed or interrupted run always ends.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from .threads import give_way

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"
_POLL_S = 0.05  # how often a blocked producer checks whether the consumer has gone
CLOSE_WAIT_S = 30.0  # the most a run waits for the producer to finish the batch it is preparing
INTERRUPT_WAIT_S = 1.0  # after Ctrl+C (or another BaseException) the process is leaving: do not hold it

logger = logging.getLogger(__name__)


class Prefetcher(Generic[T]):
    """Iterates ``source`` on a daemon thread, ``depth`` items ahead of the consumer.

    Use as a context manager so the thread always ends; ``depth`` 0 runs ``source``
    on the caller's thread (sequential, for comparison and debugging). ``should_stop``
    is polled while the consumer waits for an item: when it returns True the iteration
    ends (and :attr:`stopped` is set), even if the producer is stuck. ``nice`` raises the
    producer thread's nice value (Linux): it gives way to the consumer on a shared core.
    """

    def __init__(
        self, source: Iterable[T], depth: int, name: str = "lychee-prefetch",
        should_stop: Callable[[], bool] | None = None, nice: int = 0,
    ):
        self.depth = depth
        self.nice = nice
        self.stopped = False
        self._should_stop = should_stop
        self._source = iter(source)
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=max(depth, 1))
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._fill, name=name, daemon=True) if depth > 0 else None
        if self._thread is not None:
            self._thread.start()

    def __iter__(self) -> Iterator[T]:
        if self._thread is None:
            yield from self._source
            return
        while True:
            try:
                kind, value = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._should_stop is not None and self._should_stop():
                    self.stopped = True
                    return
                continue
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]

    def close(self, timeout: float = CLOSE_WAIT_S) -> bool:
        """Stop the producer at its next hand-over and wait for it, at most ``timeout`` seconds.

        Returns whether it ended; one still running after that is left behind (a daemon thread).
        """
        self._closed.set()
        if self._thread is None:
            return True
        deadline = time.monotonic() + timeout
        while self._thread.is_alive():
            self._drain()
            left = deadline - time.monotonic()
            if left <= 0:
                logger.warning("the preparing thread %s did not end within %.0f s (stuck reading a file?); "
                               "left behind", self._thread.name, timeout)
                return False
            self._thread.join(min(_POLL_S, left))
        return True

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        interrupted = kind is not None and not issubclass(kind, Exception)
        self.close(INTERRUPT_WAIT_S if interrupted else CLOSE_WAIT_S)

    def _fill(self) -> None:
        give_way(self.nice)
        try:
            for item in self._source:
                if not self._offer(_ITEM, item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            self._offer(_ERROR, exc)
            return
        self._offer(_DONE, None)

    def _offer(self, kind: str, value: object) -> bool:
        while not self._closed.is_set():
            try:
                self._queue.put((kind, value), timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _drain(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
