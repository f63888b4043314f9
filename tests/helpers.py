"""Builders and tools the tests share: small images, tiny models, forward-pass counting, app helpers.

Import it as ``import helpers`` / ``from helpers import ...`` (pytest puts tests/ on the path
through the ``pythonpath`` option in pyproject.toml); fixtures stay in conftest.py.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from lychee_rerank.demo.architecture import ModelShape, save_random_model

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
XSS_NAME = "<img src=x onerror=alert(1)>.png"
RANK_LINE = re.compile(r"Rank (\d+) \| Score: (\d+\.\d)")
TINY = ModelShape()


def png_bytes(color: str | tuple, size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes(color: str | tuple, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def webp_bytes(color: str | tuple, size: tuple[int, int] = (48, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "WEBP")
    return buffer.getvalue()


def build_tiny_model(out_dir: Path, *, seed: int = 0, reranker: bool = True, shape: ModelShape = TINY) -> Path:
    """A random tiny Qwen2.5-VL folder (reranker=True marks it a yes/no reranker, so auto mode picks yes/no)."""
    return save_random_model(out_dir, shape, seed=seed, reranker=reranker)


def make_five_image_folder(folder: Path) -> Path:
    """Five files, one of them corrupt (a truncated JPEG)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "red_dress.png").write_bytes(png_bytes("red"))
    (folder / "blue_sky.jpg").write_bytes(jpeg_bytes("blue"))
    (folder / "green.png").write_bytes(png_bytes("green", (80, 40)))
    (folder / "yellow.webp").write_bytes(webp_bytes("yellow"))
    (folder / "broken.jpg").write_bytes(jpeg_bytes("white")[:40])
    return folder


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


class ForwardCounter:
    """Counts the forward passes of a model by wrapping its ``forward`` from the outside.

    Use as a context manager; ``calls`` holds the count. The model's class is untouched:
    leaving the block removes the instance attribute again.
    """

    def __init__(self, model: Any):
        self.model = model
        self.calls = 0

    def __enter__(self) -> ForwardCounter:
        original = self.model.forward

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        self.model.forward = counted
        return self

    def __exit__(self, *exc: object) -> None:
        del self.model.forward


def slow_down(reranker: Any, seconds: float) -> None:
    """Make every model call of ``reranker`` take at least ``seconds`` (to observe progress, Stop, queueing)."""
    scorer = reranker.scorer
    original = scorer.score

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    scorer.score = slow


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
