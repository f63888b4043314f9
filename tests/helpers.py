"""Builders and tools the tests share: small images, tiny models, forward-pass counting, app helpers.

Import it as ``import helpers`` / ``from helpers import ...`` (pytest puts tests/ on the path
through the ``pythonpath`` option in pyproject.toml); fixtures stay in conftest.py.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import io
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tokenizers import normalizers
from transformers import Qwen2TokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

from lychee_rerank.demo import scenes
from lychee_rerank.demo.architecture import CHAT_TEMPLATE, ModelShape, save_random_model

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "view.py")  # the page (app.py serves it with the live view's routes)
XSS_NAME = "<img src=x onerror=alert(1)>.png"
RANK_LINE = re.compile(r"(?:Rank |第 )(\d+)(?: \| Score: | 名 \| 分数：)(\d+\.\d+)")  # the English and Chinese pages
TINY = ModelShape()
# Wide and deep enough that the CPU scores ~10 small images a second: a browser can watch a run go on.
SLOW = ModelShape(name="slow", text_hidden=384, text_layers=12, text_heads=6, text_kv_heads=2, text_intermediate=1536,
                  vision_hidden=128, vision_intermediate=256, note="random Qwen2.5-VL, slow on purpose (untrained)")


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


# Qwen2's pre-tokenizer split (digits one by one) and its special tokens, numbered from 151643 in this order.
QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""  # noqa: E501
QWEN2_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
]
QWEN2_VOCAB_SIZE = 151936  # the published embedding rows (the tokenizer has 151,657 entries)


def qwen_tiktoken_path() -> Path:
    """Qwen's BPE ranks as the dashscope wheel ships them (found without importing dashscope)."""
    spec = importlib.util.find_spec("dashscope")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the dashscope package (a dev dependency) is not installed: pip install -e '.[dev]'")
    return Path(spec.submodule_search_locations[0]) / "resources" / "qwen.tiktoken"


@functools.cache
def qwen2_tokenizer() -> Qwen2TokenizerFast:
    """The real Qwen2 tokenizer: 151,643 BPE ranks from qwen.tiktoken plus Qwen2-VL's special tokens."""
    converted = TikTokenConverter(vocab_file=str(qwen_tiktoken_path()), pattern=QWEN2_PATTERN).converted()
    converted.normalizer = normalizers.NFC()
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=converted, unk_token=None, bos_token=None, eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", model_max_length=32768,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN2_SPECIAL_TOKENS})
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_qwen_vocab_model(out_dir: Path, *, seed: int = 0) -> Path:
    """A tiny random reranker with the real Qwen2 tokenizer and the published vocabulary size."""
    shape = dataclasses.replace(TINY, name="tiny-qwen-vocab", vocab_size=QWEN2_VOCAB_SIZE)
    return save_random_model(out_dir, shape, seed=seed, reranker=True, tokenizer=qwen2_tokenizer())


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


def make_product_folders(root: Path, colour: str = "blue", shape: str = "square", *, groups: int = 6,
                         per_group: int = 4, seed: int = 25) -> dict[str, str]:
    """``groups`` subfolders (``sku1``...) of ``per_group`` demo scenes, in each exactly one ``colour`` ``shape``
    (at a random place among the names); the others differ in both colour and shape. Returns group -> its target's
    name (``"sku1/c.png"``), the image a query for that colour and shape should put first."""
    rng = random.Random(seed)
    others = [(c, s) for c in scenes.COLOURS for s in scenes.SHAPES if c != colour and s != shape]
    targets = {}
    for number in range(1, groups + 1):
        folder = root / f"sku{number}"
        folder.mkdir(parents=True)
        place = rng.randrange(per_group)
        for position in range(per_group):
            want = (colour, shape) if position == place else rng.choice(others)
            name = f"{chr(ord('a') + position)}.png"
            scenes.draw_scene(scenes.random_scene(rng, *want)).save(folder / name)
        targets[folder.name] = f"{folder.name}/{chr(ord('a') + place)}.png"
    return targets


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
    original = scorer.score_inputs  # every batch goes through it, prepared ahead or not

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)
        return original(*args, **kwargs)

    scorer.score_inputs = slow


def assert_contract(results: Any, n: int) -> None:
    """Every input exactly once, ranks 1..n, scores in 0-10, scored results best first."""
    assert len(results) == n
    assert [r.rank for r in results] == list(range(1, n + 1))
    assert sorted(r.index for r in results) == list(range(n))
    assert all(0.0 <= r.score <= 10.0 for r in results)
    scored = [r.score for r in results if r.ok]
    assert scored == sorted(scored, reverse=True)


def open_app(timeout: float = 60) -> Any:
    """The page (``view.py``) run once in Streamlit's AppTest, checked to have drawn without an exception."""
    from streamlit.testing.v1 import AppTest  # lazy: streamlit is the app extra

    at = AppTest.from_file(APP, default_timeout=timeout).run()
    assert not at.exception, at.exception
    return at


def live_view(job: Any) -> dict:
    """What the live view of ``job`` draws now (its feed, as the browser fetches it); the page must have mounted it."""
    from lychee_rerank.app import live_feed  # lazy: streamlit is the app extra

    token = live_feed.token_of(job)
    assert token is not None, "the page did not mount the live view of this run"
    return live_feed.snapshot(token)


def html_bodies(at: Any) -> list[str]:
    """Every piece of HTML the page draws, in page order: each ``st.html`` body, and each card of the results grid
    (one component, lychee_rerank/app/results_grid.py, whose data carries the cards' HTML)."""
    bodies = []
    for element in at.main:
        if element.type == "html":
            bodies.append(element.proto.body)
        elif getattr(element.proto, "component_name", None) == "lychee_grid":
            bodies += [card["html"] for card in json.loads(element.proto.json)["cards"]]
    return bodies


def press_card(at: Any, act: str, index: int) -> None:
    """Press a card's button (view, pick, reject, cmp) in AppTest: the page must have drawn it; what the browser's
    listener (card_actions.js, driven in the Chromium tests) reports is handed to the page's handler, then a rerun."""
    from lychee_rerank.app import card_actions  # lazy: streamlit is the app extra

    drawn = "".join(html_bodies(at))
    assert f'data-act="{act}" data-i="{index}"' in drawn, f"no {act} button on the card of input {index}"
    job = at.session_state["lr_job"]
    assert card_actions.apply({"act": act, "i": index}, job, at.session_state)
    at.run()
    assert not at.exception, at.exception


def unmd(text: str) -> str:
    """A Markdown string as it reads once rendered: CommonMark's backslash escapes removed."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


# Nice values are per thread only on Linux (runtime/threads.give_way does nothing elsewhere).
per_thread_nice = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def thread_nice(thread_id: int | None = None) -> int:
    """The nice value of thread ``thread_id`` (the calling thread by default)."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id() if thread_id is None else thread_id)


def prefetch_threads() -> list[threading.Thread]:
    """The preparing threads (runtime.prefetch.Prefetcher's) alive now."""
    return [t for t in threading.enumerate() if t.name == "lychee-prefetch" and t.is_alive()]
