"""Progress of a batch job: a bar with rate and ETA on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

logger = logging.getLogger("lychee_rerank.batch")

LOG_EVERY_S = 10.0


class Progress:
    """Counts rows done out of ``total``; call :meth:`update` with each batch of rows and :meth:`close` at the end."""

    def __init__(self, total: int, *, bar: bool | None = None):
        self.total = total
        self.done = 0
        self.started = time.perf_counter()
        self._last_log = self.started
        self._bar: Any = None
        if bar if bar is not None else sys.stderr.isatty():
            # lazy: tqdm only for an interactive terminal
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, unit="row", file=sys.stderr, dynamic_ncols=True)

    @property
    def seconds(self) -> float:
        """Seconds since the progress started."""
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        """Rows per second so far (0.0 before the first)."""
        elapsed = self.seconds
        return self.done / elapsed if elapsed > 0 else 0.0

    def update(self, rows: int) -> None:
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        now = time.perf_counter()
        if now - self._last_log >= LOG_EVERY_S or self.done == self.total:
            self._last_log = now
            rate = self.rate
            eta = (self.total - self.done) / rate if rate else float("nan")
            logger.info("%d/%d rows (%.1f rows/s, ETA %s)", self.done, self.total, rate, _duration(eta))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: no rate yet
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
