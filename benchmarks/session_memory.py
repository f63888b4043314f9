"""The app server's memory over many browser sessions, and after they are closed (issue 22 item 8).

    python benchmarks/session_memory.py --model demo --sessions 20 --images 100

Starts ``streamlit run app.py`` on a free port, then for each session opens a new browser context
in Debian's Chromium, uploads ``--images`` distinct synthetic images (different in every session,
so no run is answered from the cache), runs them and waits for the results, and closes the
context. Prints the server's RSS (from /proc) before the first session, after each session, and
while it settles for ``--settle`` seconds after the last one is closed (Streamlit keeps a closed
tab's session for ``server.disconnectedSessionTTL``, 120 s by default). Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from page_updates import CHROMIUM, start_server

from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info

from bench_support import script_main, synthetic_image


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=256, help="side of the square synthetic images (default 256)")
    parser.add_argument("--settle", type=float, default=150.0, help="seconds to watch RSS after the last session")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/session_memory.json)")
    return parser.parse_args(argv)


def rss_mib(pid: int) -> float:
    """The resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def one_session(browser: Any, url: str, files: list[dict]) -> float:
    """Upload, run and wait for the grid in a fresh browser context; the seconds it took."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(300_000)
    start = time.perf_counter()
    page.goto(url)
    query = page.locator("textarea").first
    query.fill("a red circle")
    query.press("Tab")
    uploads = page.locator('[data-testid="stFileUploader"]').filter(has_text="上传图片或 zip")
    uploads.locator('input[type="file"]').set_input_files(files)
    page.get_by_text(f"已选择 {len(files)} 个文件").wait_for()
    page.get_by_role("button", name="开始重排序").click()
    page.get_by_text(f"已处理 {len(files)}/{len(files)} 张").first.wait_for()
    page.locator(".lr-card").first.wait_for()
    seconds = time.perf_counter() - start
    context.close()
    return seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    # lazy: playwright is a dev dependency, needed only here
    from playwright.sync_api import sync_playwright

    info = machine_info()
    log = Path(args.out or "benchmarks/out/session_memory.json").with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    process, url = start_server(args.model, log)
    after: list[float] = []
    settle: list[tuple[float, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            one_session(browser, url, files_for(0, 4, args.size))  # the model loaded, the page compiled
            before = rss_mib(process.pid)
            for session in range(args.sessions):
                one_session(browser, url, files_for((session + 1) * args.images, args.images, args.size))
                after.append(rss_mib(process.pid))
            browser.close()
        closed = time.monotonic()
        while (waited := time.monotonic() - closed) < args.settle:
            time.sleep(min(10.0, args.settle - waited))
            settle.append((time.monotonic() - closed, rss_mib(process.pid)))
    finally:
        process.terminate()
        process.wait(timeout=20)
    info["load_average_end"] = load_average()
    return {"benchmark": "session_memory", "model": args.model, "sessions": args.sessions, "images": args.images,
            "size": args.size, "rss_before_mib": before, "rss_after_each_mib": after, "rss_settling_mib": settle,
            "machine": info}


def files_for(start: int, count: int, side: int) -> list[dict]:
    return [{"name": f"s{start + i:05d}.jpg", "mimeType": "image/jpeg",
             "buffer": synthetic_image(start + i, (side, side))} for i in range(count)]


def print_table(report: dict[str, Any], path: Any) -> None:
    after = report["rss_after_each_mib"]
    settled = report["rss_settling_mib"][-1][1] if report["rss_settling_mib"] else float("nan")
    print(f"# session memory: {report['sessions']} sessions × {report['images']} images of {report['size']} px on "
          f"{report['model']}, in Chromium; {describe_machine(report['machine'])}; full: {path}")
    rows = [["server RSS before the sessions", f"{report['rss_before_mib']:.0f} MiB"]]
    rows += [[f"after session {i}", f"{after[i - 1]:.0f} MiB"] for i in (1, 5, 10, 15, 20) if i <= len(after)]
    rows += [["growth per session (first to last)",
              f"{(after[-1] - after[0]) / max(len(after) - 1, 1):.1f} MiB" if after else "n/a"],
             [f"{report['rss_settling_mib'][-1][0]:.0f} s after the last was closed" if report["rss_settling_mib"]
              else "after closing", f"{settled:.0f} MiB"]]
    print(format_table(["measure", "value"], rows))


def main(argv: list[str] | None = None) -> int:
    return script_main("session_memory", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
