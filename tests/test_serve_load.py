"""The service under load and at shutdown, on the demo model, over loopback only.

* 16 concurrent clients x 10 requests x 8 images: every request answered 200 with exactly its own results.
  (Throughput, latency and batch sizes are not asserted: ``benchmarks/serve_load.py`` prints them.)
* SIGTERM during load, on a real ``lychee-rerank serve`` process: requests in flight complete, later ones
  get 503, and the process exits 0. A request whose body is still arriving holds the drain open, so the
  503 is observed deterministically, never raced against the exit.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from lychee_rerank import Reranker

from helpers import png_bytes, wait_until
from serve_helpers import ROOT, data_uri, live_server, metric, server_process

CLIENTS, REQUESTS, IMAGES = 16, 10, 8
QUERY = "a red circle"


def palette() -> list[bytes]:
    """24 distinct images (colours and sizes), so a result given to the wrong image shows in its score."""
    colours = [(r, g, b) for r in (0, 120, 250) for g in (0, 130, 240) for b in (10, 200)][:24]
    return [png_bytes(colour, (56 + 8 * (i % 4), 56 + 8 * (i % 3))) for i, colour in enumerate(colours)]


def request_images(images: list[bytes], client: int, number: int) -> list[int]:
    start = (client * REQUESTS + number) * 5
    return [(start + k) % len(images) for k in range(IMAGES)]


@pytest.mark.slow
def test_16_clients_each_get_their_own_results():
    reranker = Reranker.from_pretrained("demo", device="cpu", batch_size=16)
    images = palette()
    reference = {r.index: r.p_yes for r in reranker.rank(QUERY, images)}
    with live_server(reranker) as url:

        def client(number: int) -> list[tuple[list[int], httpx.Response]]:
            answers = []
            with httpx.Client(timeout=300) as http:
                for n in range(REQUESTS):
                    chosen = request_images(images, number, n)
                    payload = {"query": QUERY, "documents": [{"image": data_uri(images[i])} for i in chosen]}
                    answers.append((chosen, http.post(url + "/v1/rerank", json=payload)))
            return answers

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = [a for batch in pool.map(client, range(CLIENTS)) for a in batch]
        pooled = metric(url, "lychee_pool_requests_sum") / metric(url, "lychee_pool_requests_count")
    assert len(answers) == CLIENTS * REQUESTS
    assert sorted({response.status_code for _, response in answers}) == [200]
    for chosen, response in answers:
        results = response.json()["results"]
        assert sorted(r["index"] for r in results) == list(range(IMAGES))
        for r in results:
            # Pools of other compositions pad differently: float noise of ~1e-7, nothing more.
            assert r["relevance_score"] == pytest.approx(reference[chosen[r["index"]]], abs=1e-5)
    print(f"mean requests per engine call: {pooled:.2f}")


def _slow_request(port: int, body: bytes) -> socket.socket:
    """A request whose headers and first half of the body are sent; the rest waits for the test."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = (f"POST /v1/rerank HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


@pytest.mark.slow
def test_sigterm_during_load_finishes_in_flight_refuses_new_and_exits_0():
    images = palette()
    payload = {"query": QUERY, "documents": [{"image": data_uri(i)} for i in images[:IMAGES]]}
    body = json.dumps(payload).encode()
    with server_process("--model", "demo", "--batch-size", "8", "--threads", "1", "--drain-timeout", "120") as (
            process, url):
        port = int(url.rsplit(":", 1)[1])
        slow = _slow_request(port, body)
        assert wait_until(lambda: metric(url, "lychee_requests_in_flight") >= 2, timeout=60), "slow request in flight"
        statuses: list[int] = []
        errors: list[Exception] = []

        def load() -> None:
            with httpx.Client(timeout=120) as http:
                while True:
                    try:
                        status = http.post(url + "/v1/rerank", json=payload).status_code
                    except httpx.HTTPError as exc:
                        errors.append(exc)
                        return
                    statuses.append(status)
                    if status == 503:
                        return

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        assert wait_until(lambda: statuses.count(200) >= 4, timeout=120), "the load is running"
        process.send_signal(signal.SIGTERM)
        probe = httpx.post(url + "/v1/rerank", json=payload, timeout=60)
        assert probe.status_code == 503 and probe.json()["error"]["type"] == "shutting_down"
        assert httpx.get(url + "/health", timeout=60).status_code == 503
        for thread in threads:
            thread.join(180)
        assert not errors, errors
        assert set(statuses) == {200, 503} and statuses.count(503) == len(threads)
        slow.sendall(body[len(body) // 2:])
        response = http.client.HTTPResponse(slow)
        response.begin()
        answer = json.loads(response.read())
        slow.close()
        assert response.status == 200 and len(answer["results"]) == IMAGES, "the request in flight completed"
        assert process.wait(120) == 0


@pytest.mark.slow
def test_benchmark_script_prints_both_phases_and_memory(tmp_path):
    out = tmp_path / "serve_load.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/serve_load.py", "--clients", "2", "--requests", "2", "--images", "2",
         "--size", "64x64", "--batch-size", "4", "--threads", "1", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for words in ("one_at_a_time", "pooled", "p50 s", "p99 s", "req/s", "batch", "server RSS"):
        assert words in done.stdout
    report = json.loads(out.read_text())
    assert report["pooled"]["non_200"] == report["one_at_a_time"]["non_200"] == 0
    assert report["rss_mib_after"] > 0 and report["server_exit_code"] == 0
