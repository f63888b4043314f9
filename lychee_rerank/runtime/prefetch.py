"""Work done ahead on a background thread and handed over through a bounded queue.

A run prepares batches (decode, resize, processor) while the model scores the
previous one: the GPU no longer waits on the CPU. The queue holds at most
``depth`` finished items, so memory stays bounded however long the run. An
exception in the producer reaches the consumer (never a hang), and closing
early (a stopped run) ends the producer at its next hand-over.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _DONE = "item", "error", "done"
_POLL_S = 0.05  # how often a blocked producer checks whether the consumer has gone


class Prefetcher(Generic[T]):
    """Iterates ``source`` on a daemon thread, ``depth`` items ahead of the consumer.

    Use as a context manager so the thread always ends; ``depth`` 0 runs ``source``
    on the caller's thread (sequential, for comparison and debugging).
    """

    def __init__(self, source: Iterable[T], depth: int, name: str = "lychee-prefetch"):
        self.depth = depth
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
            kind, value = self._queue.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]

    def close(self) -> None:
        """Stop the producer at its next hand-over and wait for it."""
        self._closed.set()
        if self._thread is not None:
            while self._thread.is_alive():
                self._drain()
                self._thread.join(_POLL_S)

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _fill(self) -> None:
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
