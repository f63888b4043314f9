"""A run's speed in the app while another tab waits in the queue, and how fast a third page opens (issue 22 item 1).

    python benchmarks/queued_tab.py --model demo --images 600 --queued 50

Starts ``streamlit run app.py`` on a free port and drives Debian's Chromium with three browser
contexts (three users): A uploads ``--images`` distinct small PNGs and ranks them alone (the solo
time), then ranks the same images again with another query while B, with ``--queued`` images,
presses Run and waits in the queue; during A's second run C opens the page. Prints A's images/s
alone and with B queued, their ratio, and C's page-load time. The browser test
``tests/app/test_app_queue_browser.py`` drives the same steps (:func:`measure`).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

from page_updates import CHROMIUM, start_server

from lychee_rerank.export import format_table
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info

from bench_support import DEFAULT_OUT_DIR, script_main, synthetic_image

WAIT_MS = 300_000
RUN, STOP, QUEUED = "开始重排序", "停止", "排队中"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--queued", type=int, default=50)
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/queued_tab.json)")
    return parser.parse_args(argv)


def png_files(start: int, count: int, side: int = 64) -> list[dict]:
    """``count`` distinct small PNGs, as Playwright uploads them."""
    return [{"name": f"q{start + i:05d}.png", "mimeType": "image/png",
             "buffer": synthetic_image(start + i, (side, side), fmt="PNG")} for i in range(count)]


def open_user(browser: Any, url: str) -> Any:
    """A new browser context (another user) with the app open and ready."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(url)
    page.locator("textarea").first.wait_for(state="visible")
    return page


def type_query(page: Any, query: str) -> None:
    box = page.locator("textarea").first
    box.fill(query)
    box.press("Tab")  # commits the text


def upload(page: Any, files: list[dict]) -> None:
    page.locator('[data-testid="stFileUploader"]').filter(has_text="上传图片或 zip").locator(
        'input[type="file"]').set_input_files(files)
    page.get_by_text(f"已选择 {len(files)} 个文件").wait_for()


def start_run(page: Any) -> float:
    """Press Run and wait until the run shows its Stop button; the time of the press."""
    pressed = time.perf_counter()
    page.get_by_role("button", name=RUN).click()
    page.get_by_role("button", name=STOP).wait_for()
    return pressed


def wait_finished(page: Any, count: int) -> float:
    """Wait until the run is over and its results drawn; the time it was seen."""
    page.get_by_role("button", name=STOP).wait_for(state="detached")
    page.get_by_text(f"已处理 {count}/{count}").filter(visible=True).first.wait_for()
    return time.perf_counter()


def measure(browser: Any, url: str, images: int, queued: int) -> dict[str, float]:
    """A alone, then A with B queued and C opening the page: A's two rates and C's load time."""
    a = open_user(browser, url)
    type_query(a, "a red circle")
    upload(a, png_files(0, images))
    pressed = start_run(a)
    solo_s = wait_finished(a, images) - pressed

    b = open_user(browser, url)
    type_query(b, "a green triangle")
    upload(b, png_files(images, queued))
    type_query(a, "a blue square")  # the same images again, another query: nothing comes from the cache
    pressed = start_run(a)
    b.get_by_role("button", name=RUN).click()
    b.get_by_text(QUEUED).filter(visible=True).first.wait_for()
    opening = time.perf_counter()
    c = open_user(browser, url)
    c_load_s = time.perf_counter() - opening
    a_progress = a.get_by_text(re.compile(rf"已处理 \d+/{images}")).first.inner_text()
    with_queue_s = wait_finished(a, images) - pressed
    b_done = wait_finished(b, queued)
    c.context.close()
    return {"solo_s": solo_s, "with_queue_s": with_queue_s, "solo_rate": images / solo_s,
            "with_queue_rate": images / with_queue_s, "ratio": solo_s / with_queue_s, "third_page_s": c_load_s,
            "a_progress_when_c_opened": a_progress, "b_finished": b_done > pressed}


def run(args: argparse.Namespace) -> dict[str, Any]:
    # lazy: playwright is a dev dependency, needed only here
    from playwright.sync_api import sync_playwright

    info = machine_info()
    log = Path(args.out or DEFAULT_OUT_DIR / "queued_tab.json").with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    process, url = start_server(args.model, log)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            figures = measure(browser, url, args.images, args.queued)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
    info["load_average_end"] = load_average()
    return {"benchmark": "queued_tab", "model": args.model, "images": args.images, "queued": args.queued,
            **figures, "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# a queued tab: A ranks {report['images']} PNGs, B queues {report['queued']}, C opens the page; "
          f"{report['model']} in Chromium; {describe_machine(report['machine'])}; full: {path}")
    rows = [["A alone", f"{report['solo_s']:.1f} s ({report['solo_rate']:.0f} images/s)"],
            ["A with B queued (and C opening)", f"{report['with_queue_s']:.1f} s ({report['with_queue_rate']:.0f} "
             f"images/s)"],
            ["A's rate with B queued / alone", f"{report['ratio']:.2f}"],
            ["C's page load during A's run", f"{report['third_page_s']:.1f} s"]]
    print(format_table(["measure", "value"], rows))


def main(argv: list[str] | None = None) -> int:
    return script_main("queued_tab", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
