"""Load on ``lychee-rerank serve``: the same requests pooled (concurrent clients) and one at a time.

Starts a real server process on a free loopback port, warms it up, then sends CLIENTS x REQUESTS requests
of IMAGES distinct images each (one query, as a search box or a catalog job sends them):

* **pooled**: CLIENTS clients at once, each sending its REQUESTS in turn: the worker pools their
  documents into shared engine calls;
* **one at a time**: the very same requests from one client, each answered before the next is sent.

Printed: p50/p99 latency, requests/s, images/s, mean documents per forward pass and mean requests per
engine call (from the server's /metrics), and the server's RSS before and after the load. Figures only;
nothing here is asserted.

    python benchmarks/serve_load.py --model demo --batch-size 16 --threads 2
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench_support import percentile, script_main, synthetic_image

ROOT = Path(__file__).resolve().parent.parent
QUERY = "a red circle on a white background"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10, help="per client")
    parser.add_argument("--images", type=int, default=8, help="per request")
    parser.add_argument("--size", default="256x256", help="image size WxH")
    parser.add_argument("--batch-size", default="16", help="the server's --batch-size")
    parser.add_argument("--threads", type=int, default=None, help="the server's --threads")
    parser.add_argument("--pool-documents", type=int, default=None,
                        help="the server's --pool-documents (set it to --images to see concurrency without pooling)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/serve_load.json)")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def metrics(url: str) -> dict[str, float]:
    wanted = ("lychee_batch_documents_sum", "lychee_batch_documents_count", "lychee_pool_requests_sum",
              "lychee_pool_requests_count")
    found = dict.fromkeys(wanted, 0.0)
    for line in httpx.get(f"{url}/metrics", timeout=60).text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "lychee_rerank.cli", "-q", "serve", "--model", args.model, "--port", str(port),
               "--batch-size", args.batch_size, "--device", args.device]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.pool_documents:
        command += ["--pool-documents", str(args.pool_documents)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.kill()
    raise SystemExit("serve_load: the server did not become ready")


def payloads(args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    """Per client, its requests' JSON bodies (every image distinct, so nothing is deduplicated)."""
    width, height = (int(side) for side in args.size.split("x"))
    out = []
    for client in range(args.clients):
        requests = []
        for number in range(args.requests):
            first = (client * args.requests + number) * args.images
            documents = [{"image": "data:image/jpeg;base64," + base64.b64encode(
                synthetic_image(first + k, (width, height))).decode()} for k in range(args.images)]
            requests.append({"model": args.model, "query": QUERY, "documents": documents})
        out.append(requests)
    return out


def send_all(url: str, requests: list[dict[str, Any]]) -> list[tuple[float, int]]:
    answers = []
    with httpx.Client(timeout=600) as http:
        for body in requests:
            start = time.perf_counter()
            status = http.post(f"{url}/v1/rerank", json=body).status_code
            answers.append((time.perf_counter() - start, status))
    return answers


def phase(url: str, per_client: list[list[dict[str, Any]]], concurrent: bool, images: int) -> dict[str, Any]:
    before = metrics(url)
    start = time.perf_counter()
    if concurrent:
        with ThreadPoolExecutor(len(per_client)) as pool:
            answers = [a for batch in pool.map(lambda r: send_all(url, r), per_client) for a in batch]
    else:
        answers = send_all(url, [body for requests in per_client for body in requests])
    wall = time.perf_counter() - start
    after = metrics(url)
    latencies = [seconds for seconds, _ in answers]
    delta = {key: after[key] - before[key] for key in after}
    return {
        "requests": len(answers), "non_200": sum(1 for _, status in answers if status != 200),
        "wall_s": wall, "requests_per_s": len(answers) / wall, "images_per_s": len(answers) * images / wall,
        "p50_s": percentile(latencies, 50), "p99_s": percentile(latencies, 99),
        "mean_batch_documents": _mean(delta, "lychee_batch_documents"),
        "mean_requests_per_engine_call": _mean(delta, "lychee_pool_requests"),
    }


def _mean(delta: dict[str, float], histogram: str) -> float:
    return delta[f"{histogram}_sum"] / max(1.0, delta[f"{histogram}_count"])


def run(args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    per_client = payloads(args)
    process = start_server(args, port)
    try:
        send_all(url, per_client[0][:2])  # warm-up: first-call costs out of the figures
        rss_before = rss_mib(process.pid)
        one = phase(url, per_client, concurrent=False, images=args.images)
        pooled = phase(url, per_client, concurrent=True, images=args.images)
        rss_after = rss_mib(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        exit_code = process.wait(120)
    return {"model": args.model, "batch_size": args.batch_size, "pool_documents": args.pool_documents,
            "clients": args.clients, "requests": args.requests,
            "images": args.images, "size": args.size, "one_at_a_time": one, "pooled": pooled,
            "rss_mib_before": rss_before["VmRSS"], "rss_mib_after": rss_after["VmRSS"],
            "rss_mib_peak": rss_after["VmHWM"], "server_exit_code": exit_code}


def print_table(report: dict[str, Any], path: Path) -> None:
    print(f"# {report['clients']} clients x {report['requests']} requests x {report['images']} images "
          f"({report['size']}), model {report['model']}, batch size {report['batch_size']}, "
          f"pool {report['pool_documents'] or 'default'}")
    print(f"{'':16} {'p50 s':>8} {'p99 s':>8} {'req/s':>8} {'img/s':>8} {'batch':>7} {'req/call':>9} {'non-200':>8}")
    for name in ("one_at_a_time", "pooled"):
        row = report[name]
        print(f"{name:16} {row['p50_s']:8.3f} {row['p99_s']:8.3f} {row['requests_per_s']:8.2f} "
              f"{row['images_per_s']:8.1f} {row['mean_batch_documents']:7.2f} "
              f"{row['mean_requests_per_engine_call']:9.2f} {row['non_200']:8d}")
    ratio = report["pooled"]["requests_per_s"] / report["one_at_a_time"]["requests_per_s"]
    print(f"pooled / one at a time: {ratio:.2f}x requests/s")
    print(f"server RSS: {report['rss_mib_before']:.0f} MiB before the load, {report['rss_mib_after']:.0f} MiB after "
          f"(peak {report['rss_mib_peak']:.0f} MiB); exit code after SIGTERM {report['server_exit_code']}")
    print(f"# full figures: {path}")


def main(argv: list[str] | None = None) -> int:
    return script_main("serve_load", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
