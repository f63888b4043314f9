"""How often the app's page updates during a run, and what each update costs, seen from a real browser.

    python benchmarks/page_updates.py --model demo --images 100

Starts ``streamlit run app.py`` on a free port with ``--model``, opens it in Debian's Chromium
(Playwright), uploads ``--images`` distinct synthetic images, presses Run and records, until the
results grid is drawn: every websocket message from the server (its time and size), and the
progress text each time it changes. Prints the run's wall time, how many updates the page got
(messages per second while scoring), the bytes they carried (the live grid's thumbnails are most
of it), and the gap between consecutive progress changes. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from lychee_rerank.app.page import CARDS_PER_PAGE
from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info

from bench_support import median, percentile, script_main, synthetic_image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=256, help="side of the square synthetic images (default 256)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/page_updates.json)")
    return parser.parse_args(argv)


def start_server(model: str, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LYCHEE_MODEL": model, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.25)
    process.terminate()
    raise TimeoutError("streamlit did not start within 120 s")


def drive(url: str, files: list[dict], frames: list[tuple[float, int]], changes: list[float]) -> dict[str, float]:
    # lazy: playwright is a dev dependency, needed only here
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(300_000)
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda frame: frames.append((time.perf_counter(), len(frame)))))
        page.goto(url)
        query = page.locator("textarea").first
        query.wait_for(state="visible", timeout=120_000)
        query.fill("a red circle")
        query.press("Tab")
        uploads = page.locator('[data-testid="stFileUploader"]').filter(has_text="上传图片或 zip")
        uploads.locator('input[type="file"]').set_input_files(files)
        page.get_by_text(f"已选择 {len(files)} 个文件").wait_for()
        page.expose_function("lrProgressChanged", lambda: changes.append(time.perf_counter()))
        page.evaluate("""() => new MutationObserver(() => window.lrProgressChanged()).observe(
            document.body, {subtree: true, characterData: true, childList: true,
                            attributeFilter: ["aria-valuenow"]})""")
        frames.clear()
        start = time.perf_counter()
        page.get_by_role("button", name="开始重排序").click()
        page.get_by_text(f"已处理 {len(files)}/{len(files)} 张").first.wait_for()
        scored = time.perf_counter()
        page.locator(".lr-card").nth(min(len(files), CARDS_PER_PAGE) - 1).wait_for()  # the grid's first page
        end = time.perf_counter()
        browser.close()
    return {"start": start, "scored": scored, "end": end}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    files = [{"name": f"image_{i:03d}.jpg", "mimeType": "image/jpeg", "buffer": synthetic_image(i, (args.size,) * 2)}
             for i in range(args.images)]
    frames: list[tuple[float, int]] = []
    changes: list[float] = []
    log = Path(args.out or "benchmarks/out/page_updates.json").with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    process, url = start_server(args.model, log)
    try:
        span = drive(url, files, frames, changes)
    finally:
        process.terminate()
        process.wait(timeout=20)
    seconds = span["end"] - span["start"]
    during = [size for when, size in frames if span["start"] <= when <= span["end"]]
    ticks = sorted({round(t, 2) for t in changes if span["start"] <= t <= span["end"]})
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    info["load_average_end"] = load_average()
    return {"benchmark": "page_updates", "model": args.model, "images": args.images, "size": args.size,
            "seconds": seconds, "scored_s": span["scored"] - span["start"],
            "messages": len(during), "bytes": sum(during),
            "messages_per_s": len(during) / seconds, "bytes_per_s": sum(during) / seconds,
            "page_changes": len(ticks), "gap_median_s": median(gaps), "gap_p90_s": percentile(gaps, 90),
            "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# page updates: {report['model']}, {report['images']} images of {report['size']} px, in Chromium; "
          f"{describe_machine(report['machine'])}; full: {path}")
    rows = [["Run pressed to the progress bar's last image", f"{report['scored_s']:.1f} s"],
            ["Run pressed to the results grid drawn", f"{report['seconds']:.1f} s"],
            ["server messages", f"{report['messages']} ({report['messages_per_s']:.1f}/s)"],
            ["bytes sent", f"{report['bytes'] / 1024:.0f} KiB ({report['bytes_per_s'] / 1024:.0f} KiB/s)"],
            ["page changes seen", report["page_changes"]],
            ["gap between changes, median / p90", f"{report['gap_median_s']:.2f} s / {report['gap_p90_s']:.2f} s"]]
    print(format_table(["measure", "value"], rows))


def main(argv: list[str] | None = None) -> int:
    return script_main("page_updates", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
