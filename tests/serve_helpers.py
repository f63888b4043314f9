"""Builders the serve tests share: a real uvicorn server on a free loopback port, in a thread or a subprocess.

Import it as ``from serve_helpers import ...`` (tests/ is on pytest's path); fixtures stay in the test files.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from lychee_rerank.serve.app import create_app
from lychee_rerank.serve.config import ServeSettings

from helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@contextlib.contextmanager
def live_server(reranker: Any, **settings: Any) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 around ``reranker`` (in a thread), stopped on exit; yields its URL."""
    port = free_port()
    app = create_app(reranker, ServeSettings(port=port, **settings))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    assert wait_until(lambda: server.started or not thread.is_alive(), timeout=60), "the server did not start"
    assert server.started, "the server failed to start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


@contextlib.contextmanager
def server_process(*args: str, port: int | None = None, env: dict[str, str] | None = None
                   ) -> Iterator[tuple[subprocess.Popen, str]]:
    """``lychee-rerank serve ARGS`` as a subprocess on a free port, ready (``/health`` 200); killed on exit."""
    port = port or free_port()
    command = [sys.executable, "-m", "lychee_rerank.cli", "serve", "--port", str(port), *args]
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **(env or {})}
    # A file, not a pipe: a pipe nobody reads would block the server once its buffer filled.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        ready = wait_until(lambda: process.poll() is not None or _healthy(url), timeout=180, interval=0.2)
        if not ready or process.poll() is not None:
            process.kill()
            process.wait(30)
            log.seek(0)
            raise AssertionError(f"the server did not become ready:\n{log.read().decode(errors='replace')[-3000:]}")
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def metric(url: str, name: str, headers: dict[str, str] | None = None) -> float:
    """The value of one unlabelled metric (or the sum over its labels) from ``/metrics``."""
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=30).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def process_rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")
