"""Helpers shared by the app tests: an image folder, a slowed-down scorer."""

from __future__ import annotations

import re
import time
from pathlib import Path

from conftest import jpeg_bytes, png_bytes

APP = str(Path(__file__).resolve().parent.parent / "app.py")
XSS_NAME = "<img src=x onerror=alert(1)>.png"
RANK_LINE = re.compile(r"Rank (\d+) \| Score: (\d+\.\d)")


def make_image_folder(folder: Path, *, corrupt: bool = True, html_name: bool = False) -> Path:
    """Three distinct colour images, plus optionally a truncated JPEG and an HTML-looking file name."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "red_circle.png").write_bytes(png_bytes("red"))
    (folder / "blue_sky.jpg").write_bytes(jpeg_bytes("blue"))
    (folder / "green_wide.png").write_bytes(png_bytes("green", (96, 40)))
    if corrupt:
        (folder / "broken.jpg").write_bytes(jpeg_bytes("white")[:40])
    if html_name:
        (folder / XSS_NAME).write_bytes(png_bytes("yellow"))
    return folder


def slow_down(reranker, seconds: float) -> None:
    """Make every model call of ``reranker`` take at least ``seconds`` (to observe progress, Stop, queueing)."""
    scorer = reranker.scorer
    original = scorer.score

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    scorer.score = slow


def wait_until(condition, timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
