"""What the command line writes to a terminal besides its results: log lines and progress.

Both escape control and bidi characters (:func:`~.safe_text.terminal_text`), so a file name or a
warning quoting one cannot print a fake line, move the cursor, clear the screen or reverse text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from .safe_text import terminal_text

logger = logging.getLogger("lychee_rerank.cli")


class TerminalFormatter(logging.Formatter):
    """Log lines whose names and warnings cannot move the cursor, clear the screen or fake a line."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = terminal_text(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return "\n".join(terminal_text(line) for line in super().formatException(ei).split("\n"))


def progress_callback(total_hint: int) -> tuple[Callable, Callable[[], None]]:
    """``(on_progress, close)`` for a run: a bar on a terminal, a log line per image otherwise."""
    if sys.stderr.isatty():
        # lazy: tqdm only for an interactive terminal
        from tqdm.auto import tqdm

        bar = tqdm(total=total_hint, unit="img", file=sys.stderr)

        def on_progress(done: int, total: int, result: Any) -> None:
            bar.set_postfix_str(f"{terminal_text(result.name)} → {result.score:.1f}", refresh=False)
            bar.update(done - bar.n)

        return on_progress, bar.close

    def log_progress(done: int, total: int, result: Any) -> None:
        note = f" ⚠ {result.warning}" if result.warning else ""
        logger.info("[%d/%d] %s → %.2f%s", done, total, result.name, result.score, note)

    return log_progress, lambda: None
