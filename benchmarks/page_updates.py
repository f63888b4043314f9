"""The app against the library on the same work: a run in a real browser vs ``Reranker.rank`` on the same files.

    python benchmarks/page_updates.py --model demo --images 150,500 [--rounds 3] [--second-tab] [--stop]
                                      [--repeat 10] [--profile DIR] [--same-session]

For each ``--images`` count: ``Reranker.rank`` in this process on N distinct synthetic JPEGs (after a
warm-up), then the same N images uploaded to ``streamlit run app.py`` in Debian's Chromium
(Playwright, a fresh tab after a warm-up run), Run pressed, timed in the page (performance.now())
from the click until the "完成" line appears and until the grid's first page is drawn. Prints both
times and their ratio, the websocket messages and bytes and the CPU seconds from the click to the
grid, and how often the progress line moved. ``--rounds R``: R library and app runs per count
taken in turns (new images each), the median reported with each round's ratio and, from 6 rounds, a
95% interval for the median: on a shared 2-core machine one run's figure can be off by 20%, and the
interval says whether a target (1.15) was met, missed, or not told apart. ``--second-tab``: another
tab sits on a results page during each app run. ``--stop``: one more run of the largest count, Stop
pressed a third of the way in, timed until the page says it stopped. ``--repeat R``: R more runs of
the largest count (new images each time) with the RSS of the server and its model process after each.
``--profile DIR``: py-spy samples the server and its model process during each timed app run (DIR/app-N-R.txt, collapsed
stacks). The server starts in a session of its own, as a user's does (see :func:`start_server`); ``--same-session``
keeps it in this script's, with Chromium. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from lychee_rerank import Reranker
from lychee_rerank.app.page import CARDS_PER_PAGE
from lychee_rerank.export import format_table
from lychee_rerank.intake import ImageInput
from lychee_rerank.runtime.machine import describe_machine, load_average, machine_info

from bench_support import DEFAULT_OUT_DIR, median, median_interval, percentile, script_main, synthetic_images

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
QUERY = "a red circle"
WARMUP_IMAGES = 6
WAIT_MS = 600_000
# Times a run inside the page (performance.now()), so the figures carry no harness delay: Playwright's
# wait_for re-checks only every 500 ms after its first few tries, and every call from the page to Python
# is a round trip through the driver while the model shares the CPU. A MutationObserver notes the Run
# click, every change of the progress line's text, the "完成" line and the grid's first page; the
# promise window.lrRun resolves when the grid is drawn.
RECORD_RUN = """([cards]) => {
  const rec = { click: null, progress: [], done: null, grid: null };
  let last = null, resolve;
  window.lrRun = new Promise((r) => { resolve = r; });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (rec.click === null && button && button.textContent.includes("开始重排序")) rec.click = performance.now();
  }, true);
  const observer = new MutationObserver(() => {
    const now = performance.now();
    const bar = document.querySelector('.lr-progress-text, [data-testid="stProgress"]');
    const text = bar ? bar.textContent : null;
    if (text !== last) { last = text; rec.progress.push([now, text || ""]); }
    if (rec.done === null && [...document.querySelectorAll('[data-testid^="stAlert"]')]
        .some((alert) => alert.textContent.includes("完成："))) rec.done = now;
    if (rec.done !== null && document.querySelectorAll(".lr-card").length >= cards) {
      rec.grid = now;
      observer.disconnect();
      resolve(rec);
    }
  });
  observer.observe(document.body, { subtree: true, characterData: true, childList: true, attributes: true });
}"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo")
    parser.add_argument("--images", default="150,500", help="comma-separated image counts (default 150,500)")
    parser.add_argument("--size", type=int, default=256, help="side of the square synthetic images (default 256)")
    parser.add_argument("--second-tab", action="store_true", help="keep another tab open on a results page")
    parser.add_argument("--stop", action="store_true", help="also time Stop in a run of the largest count")
    parser.add_argument("--rounds", type=int, default=1,
                        help="library and app runs taken in turns per count; medians reported (default 1)")
    parser.add_argument("--repeat", type=int, default=0, help="more runs of the largest count, RSS after each")
    parser.add_argument("--profile", default=None, help="folder for py-spy profiles of the server's runs")
    parser.add_argument("--same-session", action="store_true",
                        help="start the server in this script's session, with Chromium (as before 2026-12-02)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/page_updates.json)")
    args = parser.parse_args(argv)
    args.counts = [int(n) for n in args.images.split(",")]
    return args


def start_server(model: str, log: Path, same_session: bool = False) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on a free port. In a session of its own unless ``same_session``: a user starts the
    server in a terminal and opens the page in the desktop's browser, so on Linux (autogroup, or the desktop's
    cgroups) the scheduler shares the CPU between the two groups, not between Chromium's many threads and the
    model's two."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "LYCHEE_MODEL": model, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=not same_session,
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


def processes() -> dict[int, tuple[str, int, float]]:
    """Every process now: pid -> (name, parent pid, CPU seconds used so far), from one pass over /proc."""
    ticks, found = os.sysconf("SC_CLK_TCK"), {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text() if entry.name.isdigit() else ""
        except OSError:
            continue
        if stat:
            name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
            found[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return found


def process_tree(pid: int, table: dict[int, tuple[str, int, float]] | None = None) -> set[int]:
    """``pid`` and every process under it (the app's model process is the server's child)."""
    parents = {child: parent for child, (_, parent, _) in (table or processes()).items()}
    tree, grew = {pid}, True
    while grew:
        children = {child for child, parent in parents.items() if parent in tree} - tree
        tree, grew = tree | children, bool(children)
    return tree


def rss_mib(pid: int) -> float:
    """The resident memory of one process."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return sum(int(line.split()[1]) for line in lines if line.startswith("VmRSS:")) / 1024


def tree_rss_mib(pid: int) -> dict[str, float]:
    """The server's resident memory, its model process's (its children's) and both together."""
    server = rss_mib(pid)
    model = sum(rss_mib(member) for member in process_tree(pid) - {pid})
    return {"server": server, "model_process": model, "total": server + model}


def cpu_seconds(pid: int | None = None) -> dict[str, float]:
    """CPU seconds used so far by the server (``pid`` and its model process) and by every Chromium process."""
    used = {"server": 0.0, "model": 0.0, "chromium": 0.0, "harness": 0.0}
    table = processes()
    server = process_tree(pid, table) if pid is not None else set()
    harness = process_tree(os.getpid(), table)
    for member, (name, _, seconds) in table.items():
        if member in server:
            used["server"] += seconds
            used["model"] += seconds if member != pid else 0.0
        elif "chrom" in name:
            used["chromium"] += seconds
            kind = chromium_kind(Path(f"/proc/{member}"))
            used[f"chromium_{kind}"] = used.get(f"chromium_{kind}", 0.0) + seconds
        elif member in harness:  # this script and Playwright's driver: work a user's machine does not do
            used["harness"] += seconds
    return used


def chromium_kind(entry: Path) -> str:
    """A Chromium process's part (renderer, gpu, utility, ...; browser: the main one), from its --type flag."""
    try:
        command = (entry / "cmdline").read_bytes()  # Chromium rewrites its own: flags by spaces, not NULs
    except OSError:
        return "gone"
    found = re.search(rb"--type=([\w-]+)", command)
    return found.group(1).decode().replace("-process", "") if found else "browser"


def as_files(images: list[tuple[str, bytes]]) -> list[dict]:
    return [{"name": name, "mimeType": "image/jpeg", "buffer": data} for name, data in images]


def library_seconds(reranker: Reranker, images: list[tuple[str, bytes]]) -> tuple[float, float]:
    """Wall and CPU seconds of ``rank()`` on ``images`` in this process."""
    inputs = [ImageInput(name=name, data=data) for name, data in images]
    start, cpu = time.perf_counter(), time.process_time()
    reranker.rank(QUERY, inputs)
    return time.perf_counter() - start, time.process_time() - cpu


class App:
    """A browser on the app: one page per run, with its websocket frames and progress changes recorded."""

    def __init__(self, playwright: Any, url: str, server_pid: int):
        self.server_pid = server_pid
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        self.url = url

    def open(self) -> Any:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        page.frames_seen, page.media_seen = [], []
        # sizes are asked after the run: each ask is a round trip through Playwright's driver, CPU a user's
        # machine does not spend while the model works
        page.on("requestfinished", lambda request: page.media_seen.append(request))
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda frame: page.frames_seen.append((time.perf_counter(), len(frame)))))
        page.goto(self.url)
        page.locator("textarea").first.wait_for(state="visible")
        return page

    def upload(self, page: Any, images: list[tuple[str, bytes]]) -> None:
        query = page.locator("textarea").first
        query.fill(QUERY)
        query.press("Tab")
        uploads = page.locator('[data-testid="stFileUploader"]').filter(has_text="上传图片或 zip")
        uploads.locator('input[type="file"]').set_input_files(as_files(images))
        page.get_by_text(f"已选择 {len(images)} 个文件").wait_for()

    def run(self, page: Any, images: list[tuple[str, bytes]]) -> dict[str, Any]:
        """Press Run on uploaded images. In-page times (s from the click): the done line, the grid's first page and
        each progress text; the harness's own clock for the span, to count messages and CPU."""
        page.evaluate(RECORD_RUN, [min(len(images), CARDS_PER_PAGE)])
        page.frames_seen.clear()
        page.media_seen.clear()
        start = time.perf_counter()
        cpu = cpu_seconds(self.server_pid)
        page.get_by_role("button", name="开始重排序").click()
        rec = page.evaluate("() => window.lrRun")
        after = cpu_seconds(self.server_pid)
        click = rec["click"]
        return {"start": start, "end": time.perf_counter(), "done_s": (rec["done"] - click) / 1000,
                "grid_s": (rec["grid"] - click) / 1000,
                "progress": [((when - click) / 1000, text) for when, text in rec["progress"]],
                **{f"{name}_cpu_s": after[name] - cpu.get(name, 0.0) for name in after}}

    def stop_after(self, page: Any, fraction: float, total: int) -> dict[str, float]:
        """Press Run, then Stop once ``fraction`` of ``total`` is scored; the press and the stopped line's times."""
        page.get_by_role("button", name="开始重排序").click()
        page.wait_for_function(
            """([at]) => { const bar = document.querySelector('.lr-progress-text');
                 const m = bar && bar.textContent.match(/已处理 (\\d+)\\//); return m && Number(m[1]) >= at; }""",
            arg=[int(fraction * total)], polling=20)
        with page.expect_response(lambda response: "/api/lychee/stop/" in response.url) as stop:
            pressed = time.perf_counter()
            page.get_by_role("button", name="停止").click()
        acknowledged = time.perf_counter() if stop.value.ok else float("nan")
        page.get_by_text("已停止：").first.wait_for()
        return {"pressed": pressed, "acknowledged": acknowledged, "stopped": time.perf_counter()}


def _body_size(request: Any) -> int:
    """Bytes of an HTTP response the page fetched (thumbnails, media, the live feed); 0 if unknown."""
    try:
        return request.sizes()["responseBodySize"]
    except Exception:  # noqa: BLE001 - a request that failed or was cancelled carries nothing
        return 0


def progress_figures(span: dict[str, Any], total: int) -> dict[str, float]:
    """How often the progress line's text changed while scoring (first count seen to the last)."""
    counting = [when for when, text in span["progress"] if "已处理" in text and when <= span["done_s"]]
    gaps = [b - a for a, b in zip(counting, counting[1:])]
    scoring = (counting[-1] - counting[0]) if len(counting) > 1 else float("nan")
    finished = [when for when, text in span["progress"] if f"/{total} " in text and f" {total}/" in text]
    return {"first_count_s": counting[0] if counting else float("nan"),
            "last_count_s": finished[0] if finished else span["done_s"],
            "progress_changes": len(counting), "progress_per_s": (len(counting) - 1) / scoring if gaps else 0.0,
            "progress_gap_median_s": median(gaps), "progress_gap_p90_s": percentile(gaps, 90),
            "progress_gap_max_s": max(gaps, default=float("nan"))}


class Profiler:
    """py-spy sampling the server between start() and stop() (collapsed stacks, one file per run)."""

    def __init__(self, folder: str | None, pid: int):
        self.folder, self.pid, self.process = Path(folder) if folder else None, pid, None

    def start(self, name: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(self.pid), "--subprocesses",
                   "--rate", "200", "--format", "raw", "--threads", "--output", str(self.folder / f"{name}.txt")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # py-spy attaches before the run starts

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=60)
            self.process = None


def app_run(app: App, images: list[tuple[str, bytes]], profiler: Profiler, name: str) -> dict[str, Any]:
    page = app.open()
    app.upload(page, images)
    profiler.start(name)
    try:
        span = app.run(page, images)
    finally:
        profiler.stop()
    sent = [size for when, size in page.frames_seen if span["start"] <= when <= span["end"]]
    figures = {"app_s": span["done_s"], "grid_s": span["grid_s"], "harness_s": span["end"] - span["start"],
               "messages": len(sent), "bytes": sum(sent), "media_bytes": sum(map(_body_size, page.media_seen)),
               "server_cpu_s": span["server_cpu_s"], "model_cpu_s": span["model_cpu_s"],
               "harness_cpu_s": span["harness_cpu_s"], "chromium_cpu_s": span["chromium_cpu_s"],
               "chromium_parts_cpu_s": {name.removeprefix("chromium_").removesuffix("_cpu_s"): seconds
                                        for name, seconds in span.items() if name.startswith("chromium_")
                                        and name != "chromium_cpu_s"},
               **progress_figures(span, len(images))}
    page.context.close()
    return figures


def open_results_tab(app: App, images: list[tuple[str, bytes]]) -> Any:
    """A second tab showing a finished run's results (left open while the measured runs go on)."""
    page = app.open()
    app.upload(page, images)
    app.run(page, images)
    return page


def measure(args: argparse.Namespace, url: str, pid: int) -> dict[str, Any]:
    # lazy: playwright is a dev dependency, needed only here
    from playwright.sync_api import sync_playwright

    reranker = Reranker.from_pretrained(args.model)
    seed, profiler, rows, extra = 0, Profiler(args.profile, pid), [], {}

    def fresh(count: int) -> list[tuple[str, bytes]]:
        nonlocal seed
        seed += count
        return synthetic_images(count, (args.size,) * 2, start=seed - count)

    with sync_playwright() as playwright:
        app = App(playwright, url, pid)
        library_seconds(reranker, fresh(WARMUP_IMAGES))
        app_run(app, fresh(WARMUP_IMAGES), Profiler(None, pid), "warmup")
        second = open_results_tab(app, fresh(WARMUP_IMAGES)) if args.second_tab else None
        for count in args.counts:
            rounds = []
            for turn in range(args.rounds):  # in turns: a slow spell of the machine falls on both sides
                images = fresh(count)
                library, library_cpu = library_seconds(reranker, images)
                figures = app_run(app, images, profiler, f"app-{count}-{turn + 1}")
                rounds.append({"images": count, "library_s": library, "library_cpu_s": library_cpu,
                               "ratio": figures["app_s"] / library, **figures, "load_average": load_average()})
            rows.append(summarize(rounds))
        if args.stop:
            page = app.open()
            app.upload(page, images := fresh(max(args.counts)))
            span = app.stop_after(page, 1 / 3, len(images))
            extra["stop_s"] = span["stopped"] - span["pressed"]
            extra["stop_acknowledged_s"] = span["acknowledged"] - span["pressed"]
            page.context.close()
        extra["rss_mib"], extra["rss_parts_mib"] = [], []
        for _ in range(args.repeat):
            app_run(app, fresh(max(args.counts)), Profiler(None, pid), "repeat")
            extra["rss_parts_mib"].append(tree_rss_mib(pid))
            extra["rss_mib"].append(extra["rss_parts_mib"][-1]["total"])
        if second is not None:
            second.context.close()
    return {"rows": rows, "torch_threads": reranker.describe()["cpu_threads"], **extra}


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One count's rounds as one row: the median of each time and of the rounds' ratios (each round's ratio listed
    too); the other figures are the round with the median ratio's."""
    middle = sorted(rounds, key=lambda r: r["ratio"])[(len(rounds) - 1) // 2]
    medians = {name: median([r[name] for r in rounds]) for name in ("library_s", "app_s", "grid_s", "harness_s")}
    ratios = [r["ratio"] for r in rounds]
    return {**middle, **medians, "ratio": median(ratios), "ratio_interval": median_interval(ratios), "ratios": ratios,
            "rounds": rounds}


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    log = Path(args.out or DEFAULT_OUT_DIR / "page_updates.json").with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    process, url = start_server(args.model, log, args.same_session)
    try:
        figures = measure(args, url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=20)
    info["load_average_end"] = load_average()
    info["torch_threads"] = figures.pop("torch_threads")  # what the runs use (the server picks the same)
    return {"benchmark": "page_updates", "model": args.model, "size": args.size, "second_tab": args.second_tab,
            "same_session": args.same_session, **figures, "machine": info}


def ratio_cell(row: dict[str, Any]) -> str:
    """The median ratio, its 95% interval (6 rounds or more) and each round's, sorted."""
    low, high = row.get("ratio_interval") or (math.nan, math.nan)  # a report from before the interval lacks it
    interval = f" [{low:.2f}-{high:.2f}]" if not math.isnan(low) else ""
    rounds = f" ({', '.join(f'{x:.2f}' for x in sorted(row['ratios']))})" if len(row["ratios"]) > 1 else ""
    return f"{row['ratio']:.2f}{interval}{rounds}"


def print_table(report: dict[str, Any], path: Any) -> None:
    tab = ", a second tab open on results" if report["second_tab"] else ""
    session = "the server in Chromium's session" if report.get("same_session") else "the server in its own session"
    print(f"# app vs library: {report['model']}, {report['size']} px images, Chromium{tab}, {session}; "
          f"{describe_machine(report['machine'])}; full: {path}")
    rows = [[r["images"], f"{r['library_s']:.2f} s", f"{r['app_s']:.2f} s",
             ratio_cell(r),
             f"{r['grid_s']:.2f} s", f"{r['messages']}",
             f"{r['bytes'] / 1024:.0f} + {r['media_bytes'] / 1024:.0f} KiB",
             f"{r['progress_per_s']:.1f}/s (max gap {r['progress_gap_max_s']:.2f} s)",
             f"{r['library_cpu_s']:.1f} / {r['server_cpu_s']:.1f} ({r.get('model_cpu_s', math.nan):.1f}) / "
             f"{r['chromium_cpu_s']:.1f} / {r.get('harness_cpu_s', math.nan):.1f}"]
            for r in report["rows"]]
    print(format_table(["images", "library rank()", "app Run → 完成", "ratio [95% interval] (each round)",
                        "app Run → grid",
                        "messages", "bytes: websocket + HTTP", "progress line moves",
                        "CPU s: library / server + model (model) / Chromium / harness"], rows))
    harness = ", ".join(f"{r['images']}: {r['harness_s']:.2f} s" for r in report["rows"])
    print("Times in the page, from the Run click. The harness's own clock, from its click call until it heard the "
          f"grid was drawn: {harness}. CPU from the click to the grid; harness: this script and Playwright's driver.")
    if "stop_s" in report:
        print("Stop pressed → the server has stopped the run (after its current image): "
              f"{report['stop_acknowledged_s']:.2f} s; → the stopped line and the results drawn: "
              f"{report['stop_s']:.2f} s")
    if report.get("rss_mib"):
        rss = report["rss_mib"]
        growth = (rss[-1] / rss[1] - 1) * 100 if len(rss) > 1 else float("nan")
        print(f"server + model process RSS after each repeat (MiB): {', '.join(f'{v:.0f}' for v in rss)}; "
              f"run 2 → last: {growth:+.1f}%")
        parts = report.get("rss_parts_mib") or []
        for part in ("server", "model_process"):
            print(f"  {part.replace('_', ' ')}: {', '.join(f'{p[part]:.0f}' for p in parts)}")


def main(argv: list[str] | None = None) -> int:
    return script_main("page_updates", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
