"""The real app (``streamlit run app.py``) driven in Debian's Chromium with Playwright.

Run with ``pytest -m browser``. ``LYCHEE_UPDATE_SCREENSHOT=1`` also rewrites
docs/screenshot.png (the demo model and examples when present, else the tiny model).
"""

from __future__ import annotations

import csv
import io
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from lychee_rerank.intake import spool

from helpers import ROOT, SLOW, XSS_NAME, build_tiny_model, jpeg_bytes, png_bytes

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
# Every wait is on state (a locator or an expect), sized for a loaded 2-core machine; none is a sleep.
WAIT_MS = 120_000
DEMO_MODEL = ROOT / "lychee_rerank" / "demo" / "model"
DEMO_EXAMPLES = ROOT / "lychee_rerank" / "demo" / "examples"

if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
sync_api.expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def slow_reranker_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random reranker slow enough on the CPU (~10 images/s) that a page can be watched during a run."""
    return build_tiny_model(tmp_path_factory.mktemp("slow-reranker"), seed=5, shape=SLOW)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(model: str, timeout: float = 90, env: dict[str, str] | None = None):
    """``streamlit run app.py`` on a free port (``env`` added to its environment); always terminated. The model
    loads in a process of its own, as it does for users (this file's tests run with LYCHEE_MODEL_PROCESS=0)."""
    port = free_port()
    env = {**os.environ, "LYCHEE_MODEL": model, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "LYCHEE_MODEL_PROCESS": "1", **(env or {})}
    ARTIFACTS.mkdir(exist_ok=True)  # a test run alone on a fresh clone has made no other artifact yet
    log = open(ARTIFACTS / f"streamlit-{port}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not start within {timeout} s; see {log.name}")
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@contextmanager
def browser_page(width: int = 1400, height: int = 1000):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            # the clipboard: generation info's Copy button is checked by reading back what it wrote
            page = browser.new_page(viewport={"width": width, "height": height},
                                    permissions=["clipboard-read", "clipboard-write"])
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            browser.close()


def uploader(page, label: str):
    """The file input of the uploader whose label contains ``label``."""
    return page.locator('[data-testid="stFileUploader"]').filter(has_text=label).locator('input[type="file"]')


def uploader_part(page, selector: str):
    """A part of the reference-image uploader (still empty, so it shows its button and size line)."""
    return page.locator('[data-testid="stFileUploader"]').filter(has_text="参考图").locator(selector).first


def rank_images(page, url: str, query: str, files: list[dict], reference: dict | None = None) -> None:
    """Open the app, type the query (and add a reference image), upload the files, press Run, wait for the grid."""
    start_run(page, url, query, files, reference)
    sync_api.expect(page.locator(".lr-card")).to_have_count(len(files))
    page.get_by_text(f"已处理 {len(files)}/{len(files)} 张").first.wait_for()


def start_run(page, url: str, query: str, files: list[dict], reference: dict | None = None) -> None:
    """Open the app, type the query (and add a reference image), upload the files and press Run."""
    page.goto(url)
    query_box = page.locator("textarea").first
    query_box.wait_for(state="visible")  # the first run loads the model
    if query:
        query_box.fill(query)
        query_box.press("Tab")  # commits the text (Ctrl+Enter would also start the run before any upload)
        sync_api.expect(query_box).to_have_value(query)
    if reference is not None:
        uploader(page, "参考图").set_input_files(reference)
        page.get_by_text(reference["name"]).first.wait_for()
    uploader(page, "上传图片或 zip").set_input_files(files)
    page.get_by_text(f"已选择 {len(files)} 个文件").wait_for()
    run = page.get_by_role("button", name="开始重排序")
    sync_api.expect(run).to_be_enabled()
    run.click()


def tall_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its own container, so grow the viewport to the page's height first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 4000)})
    next_frames(page)
    page.screenshot(path=str(path))


def next_frames(page) -> None:
    """Wait until the browser has drawn two more frames (layout after a resize has settled)."""
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")


def test_upload_run_and_grid(tiny_reranker_dir: Path):
    ARTIFACTS.mkdir(exist_ok=True)
    files = [
        {"name": "red_circle.png", "mimeType": "image/png", "buffer": png_bytes("red")},
        {"name": "blue_sky.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes("blue")},
        {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": jpeg_bytes("white")[:40]},
        {"name": XSS_NAME, "mimeType": "image/png", "buffer": png_bytes("yellow")},
    ]
    dialogs: list[str] = []
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        rank_images(page, url, "a red circle", files)

        cards = page.locator(".lr-card")
        assert cards.count() == 4
        for rank in range(1, 5):
            assert cards.nth(rank - 1).locator(".lr-rank").inner_text().startswith(f"第 {rank} 名 | 分数：")

        broken = cards.filter(has_text="broken.jpg")
        assert broken.count() == 1 and broken.locator(".lr-warn").count() == 1
        assert "预处理警告" in broken.locator(".lr-warn").inner_text()
        assert cards.filter(has=page.locator(".lr-warn")).count() == 1

        top_image = page.locator(".lr-top img")
        assert top_image.count() == 1
        style = top_image.evaluate(
            "el => { const s = getComputedStyle(el); return [s.borderTopWidth, s.borderTopStyle, s.borderTopColor]; }"
        )
        assert style == ["3px", "solid", "rgb(76, 175, 80)"]
        assert cards.nth(1).locator("img").evaluate("el => getComputedStyle(el).borderTopStyle") == "none"

        # The HTML-looking file name is text, never markup that runs.
        assert page.locator(".lr-name", has_text=XSS_NAME).count() == 1
        assert page.locator('img[src="x"]').count() == 0
        assert dialogs == []

        # Issue 21 bug 10: the uploaders' button and size line are Chinese too (Streamlit draws them in English).
        after = "el => getComputedStyle(el, '::after').content"
        assert uploader_part(page, "button p").evaluate(after) == '"上传"'
        assert uploader_part(page, '[data-testid="stFileUploaderDropzoneInstructions"] span').evaluate(after) == (
            '"每个文件不超过 512 MB"')

        tall_screenshot(page, ARTIFACTS / "app-result.png")


# Issue 22 item 4: names that are Markdown or HTML made the browser fetch from elsewhere.
HOSTILE_UPLOADS = [r"![t](https:\\127.0.0.1:9\ext_beacon.png).png", "![z](http:⁄127.0.0.1:9⁄b.png).png", XSS_NAME,
                   '=HYPERLINK("http://127.0.0.1:9/x","y").png']


def test_hostile_names_stay_text_in_the_grid_the_view_and_the_comparison(tiny_reranker_dir: Path):
    files = [{"name": name, "mimeType": "image/png", "buffer": png_bytes(colour)}
             for name, colour in zip(HOSTILE_UPLOADS, ("red", "green", "blue", "yellow"))]
    elsewhere: list[str] = []
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        page.on("request", lambda request: None if request.url.startswith((url, "data:", "blob:"))
                else elsewhere.append(request.url))
        rank_images(page, url, "a red circle ![q](http://127.0.0.1:9/q.png)", files)
        names = page.locator(".lr-card .lr-name")
        shown = sorted(names.nth(i).inner_text() for i in range(4))
        # As the server got them (the browser sends '"' as %22, the app shows '/' for '\\'), and as text:
        assert XSS_NAME in shown and any(n.startswith("![t](https:") and "ext_beacon.png)" in n for n in shown)
        assert any(n.startswith("![z](http:") for n in shown) and any(n.startswith("=HYPERLINK(") for n in shown)
        view = open_full_view(page)
        for rank in range(1, 5):
            sync_api.expect(view.locator(".name")).to_have_text(names.nth(rank - 1).inner_text())
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Escape")
        sync_api.expect(view).to_have_count(0)
        for rank in range(4):
            card_buttons(page, "cmp").nth(rank).click()
            sync_api.expect(page.locator(".lr-compare figcaption")).to_have_count(rank + 1)
        assert sorted(page.locator(".lr-compare figcaption").all_inner_texts()) == shown
        page.reload()  # the recent runs and the restored page, labelled with the query
        sync_api.expect(page.locator(".lr-card")).to_have_count(4)
    assert elsewhere == []


@pytest.mark.skipif(
    not os.environ.get("LYCHEE_UPDATE_SCREENSHOT"),
    reason="set LYCHEE_UPDATE_SCREENSHOT=1 to refresh docs/screenshot.png",
)
def test_readme_screenshot(tiny_reranker_dir: Path):
    ARTIFACTS.mkdir(exist_ok=True)
    examples = sorted(p for p in DEMO_EXAMPLES.glob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
    model = "demo" if (DEMO_MODEL / "config.json").exists() else str(tiny_reranker_dir)
    if examples:
        files = [
            {"name": p.name, "mimeType": "image/png" if p.suffix == ".png" else "image/jpeg", "buffer": p.read_bytes()}
            for p in examples[:9]
        ]
    else:
        colours = ["red", "darkred", "orange", "blue", "green", "purple"]
        files = [
            {"name": f"{c}_circle.png", "mimeType": "image/png", "buffer": png_bytes(c, (160, 120))} for c in colours
        ]
    with streamlit_server(model) as url, browser_page(1400, 1100) as page:
        rank_images(page, url, "a red circle", files)
        page.mouse.move(0, 0)
        (ROOT / "docs").mkdir(exist_ok=True)
        tall_screenshot(page, ROOT / "docs" / "screenshot.png")


def test_reference_image_upload_run_and_grid(tiny_reranker_dir: Path):
    """"More like this one": a reference image and no query text, then the ranked grid under the query."""
    ARTIFACTS.mkdir(exist_ok=True)
    reference = {"name": "reference.png", "mimeType": "image/png", "buffer": png_bytes("red", (120, 90))}
    files = [
        {"name": f"{colour}.png", "mimeType": "image/png", "buffer": png_bytes(colour, (96, 96))}
        for colour in ("red", "blue", "green")
    ]
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        rank_images(page, url, "", files, reference=reference)
        cards = page.locator(".lr-card")
        assert cards.count() == 3
        for rank in range(1, 4):
            assert cards.nth(rank - 1).locator(".lr-rank").inner_text().startswith(f"第 {rank} 名 | 分数：")
        query = page.locator(".lr-query")
        assert query.count() == 1 and query.locator("img").count() == 1
        tall_screenshot(page, ARTIFACTS / "app-reference.png")


def demo_example_files() -> list[dict]:
    """The first nine bundled demo examples, as upload payloads."""
    examples = sorted(p for p in DEMO_EXAMPLES.glob("*.png"))
    return [{"name": p.name, "mimeType": "image/png", "buffer": p.read_bytes()} for p in examples[:9]]


@pytest.mark.skipif(
    not os.environ.get("LYCHEE_UPDATE_SCREENSHOT"),
    reason="set LYCHEE_UPDATE_SCREENSHOT=1 to refresh docs/screenshot-reference.png",
)
def test_readme_reference_screenshot():
    """The demo model and its examples, ranked against the red circle as a reference image."""
    files = demo_example_files()
    red_circle = (DEMO_EXAMPLES / "red_circle.png").read_bytes()
    reference = {"name": "red_circle.png", "mimeType": "image/png", "buffer": red_circle}
    with streamlit_server("demo") as url, browser_page(1400, 1100) as page:
        rank_images(page, url, "", files, reference=reference)
        page.mouse.move(0, 0)
        tall_screenshot(page, ROOT / "docs" / "screenshot-reference.png")


@pytest.mark.skipif(
    not os.environ.get("LYCHEE_UPDATE_SCREENSHOT"),
    reason="set LYCHEE_UPDATE_SCREENSHOT=1 to refresh docs/screenshot-view.png",
)
def test_readme_full_size_view_screenshot():
    """The demo model on its examples, the best result open in the full-size view and picked."""
    files = demo_example_files()
    with streamlit_server("demo") as url, browser_page(1400, 1000) as page:
        rank_images(page, url, "a red circle", files)
        view = open_full_view(page)
        page.keyboard.press("p")
        sync_api.expect(view).to_have_attribute("data-mark", "pick")
        page.mouse.move(0, 0)
        page.screenshot(path=str(ROOT / "docs" / "screenshot-view.png"))


def test_typing_the_query_then_one_click_starts_the_run(tiny_reranker_dir: Path):
    """Issue 16 bug 2: the first click after typing used to only commit the text (the button was disabled)."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        upload_two_then_type_the_query(page, url)  # focus stays in the box: nothing committed the text yet
        page.get_by_role("button", name="开始重排序").click()  # exactly one click
        sync_api.expect(page.locator(".lr-card")).to_have_count(2)


def upload_two_then_type_the_query(page, url: str) -> None:
    """Open the app, upload two images, then type a query into the focused box without committing it."""
    files = [{"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c)} for c in ("red", "blue")]
    page.goto(url)
    query_box = page.locator("textarea").first
    query_box.wait_for(state="visible")
    uploader(page, "上传图片或 zip").set_input_files(files)
    page.get_by_text("已选择 2 个文件").wait_for()
    query_box.click()
    page.keyboard.type("a red circle")


def test_switching_the_language_keeps_every_choice(tiny_reranker_dir: Path):
    """Issue 16 bug 1: the browser sends back the label it shows; after a switch it matched nothing and reset."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        page.goto(url)
        page.locator("textarea").first.wait_for(state="visible")
        choose(page, "打分模式", "生成分数（普通指令模型）")
        choose(page, "指令预设（可选）", "电商主图")
        fast = page.get_by_role("radio", name=re.compile(r"^快速"))
        page.get_by_text("快速（256 个图块").click()
        sync_api.expect(fast).to_be_checked()
        page.get_by_text("English", exact=True).click()
        sync_api.expect(combobox(page, "Scoring mode")).to_have_value("Generate a score (instruct models)")
        sync_api.expect(combobox(page, "Instruction preset (optional)")).to_have_value("E-commerce main image")
        sync_api.expect(page.get_by_role("radio", name=re.compile(r"^Fast"))).to_be_checked()
        page.get_by_text("中文", exact=True).click()
        sync_api.expect(combobox(page, "打分模式")).to_have_value("生成分数（普通指令模型）")


def combobox(page, label: str):
    return page.get_by_role("combobox", name=label)


def choose(page, label: str, option: str, attempts: int = 4) -> None:
    """Pick ``option`` in a selectbox; a click that lands while the page reruns may not open it, so retry."""
    for _ in range(attempts):
        combobox(page, label).click()
        try:
            page.get_by_role("option", name=option).click(timeout=5_000)
            break
        except sync_api.TimeoutError:
            page.keyboard.press("Escape")
            sync_api.expect(page.get_by_role("listbox")).to_have_count(0)
    sync_api.expect(combobox(page, label)).to_have_value(option)


def test_ctrl_enter_in_the_query_box_starts_the_run(tiny_reranker_dir: Path):
    """Issue 16 bug 2, second half: Ctrl+Enter in the query box commits the text and starts the run."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        upload_two_then_type_the_query(page, url)
        page.keyboard.press("Control+Enter")  # no click anywhere
        sync_api.expect(page.locator(".lr-card")).to_have_count(2)


def card_buttons(page, kind: str, on: bool = False):
    """The buttons of one kind on the cards (view, pick, reject, cmp), in page order; ``on``: only those
    switched on (a picked card's pick, a compared card's ⇄)."""
    return page.locator(f'button.lr-act[data-act="{kind}"]{".lr-on" if on else ""}')


def open_full_view(page, rank: int = 1):
    """Press View on the card of ``rank``; the open view (its data-index names the input shown)."""
    card_buttons(page, "view").nth(rank - 1).click()
    view = page.locator(".lr-view")
    sync_api.expect(view).to_be_visible()
    sync_api.expect(view.locator(".counter")).to_have_text(re.compile(rf"^{rank} / "))
    return view


def card_marks(page, ranks: int) -> list[str]:
    return [page.locator(f'.lr-card[data-rank="{rank}"]').get_attribute("data-mark") for rank in range(1, ranks + 1)]


def test_full_size_view_steps_with_arrows_and_two_picks_make_the_zip(tiny_reranker_dir: Path):
    """Issue 16 items 3 and 4: the full-size view, arrow keys, P to pick, Esc, the picks filter and its zip."""
    files = [{"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c, (90, 70))}
             for c in ("red", "blue", "green", "purple")]
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        rank_images(page, url, "a red circle", files)
        names = [page.locator(".lr-card .lr-name").nth(i).inner_text() for i in range(4)]
        view = open_full_view(page)
        sync_api.expect(view.locator(".rank")).to_contain_text("第 1 名 | 分数：")
        sync_api.expect(view.locator(".name")).to_have_text(names[0])
        page.keyboard.press("ArrowRight")
        sync_api.expect(view.locator(".name")).to_have_text(names[1])
        page.keyboard.press("ArrowLeft")
        sync_api.expect(view.locator(".name")).to_have_text(names[0])
        page.keyboard.press("p")
        page.keyboard.press("ArrowRight")
        sync_api.expect(view.locator(".name")).to_have_text(names[1])
        page.keyboard.press("p")
        sync_api.expect(view).to_have_attribute("data-mark", "pick")
        page.keyboard.press("Escape")
        sync_api.expect(view).to_have_count(0)
        sync_api.expect(page.locator(".lr-card.lr-picked")).to_have_count(2)
        choose(page, "筛选", "只看选中")
        sync_api.expect(page.locator(".lr-card")).to_have_count(2)
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("zip")).click()
        with zipfile.ZipFile(download.value.path()) as archive:
            # the zip names its files by rank: 01_name, 02_name
            assert sorted(name.split("_", 1)[1] for name in archive.namelist()) == sorted(names[:2])
        with page.expect_download() as download:  # the CSV is made when pressed: the picks, marked so
            page.get_by_role("button", name="下载 CSV").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
        assert sorted(row["name"] for row in rows) == sorted(names[:2]) and {row["mark"] for row in rows} == {"pick"}

        # Item 6: a reload brings the results, the filter and the marks back (the session id is in the URL).
        assert "?s=" in page.url
        page.reload()
        sync_api.expect(page.locator(".lr-card")).to_have_count(2)
        sync_api.expect(combobox(page, "筛选")).to_have_value("只看选中")
        sync_api.expect(card_buttons(page, "pick", on=True)).to_have_count(2)


def distinct_pngs(count: int, size: tuple[int, int] = (96, 72)) -> list[dict]:
    colours = [(r, g, 90) for r in range(0, 256, 17) for g in range(0, 256, 17)][:count]
    return [{"name": f"img_{i:03d}.png", "mimeType": "image/png", "buffer": png_bytes(c, size)}
            for i, c in enumerate(colours)]


def test_fast_keyboard_culling_marks_every_image_in_order(tiny_reranker_dir: Path):
    """Issue 21 bug 1: P/X then → every 100 ms over 20 images; each key acts on the image on screen, none lost."""
    files = distinct_pngs(22)
    pattern = "PXXPXXPXXXPXXPXXPXXX"  # a culler's run of picks and rejects
    media_errors: list[str] = []
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page(1440, 900) as page:
        page.on("response", lambda r: media_errors.append(r.url) if "/media/" in r.url and r.status >= 400 else None)
        rank_images(page, url, "a red circle", files)
        view = open_full_view(page)
        for key in pattern:
            page.keyboard.press(key.lower())
            page.wait_for_timeout(100)  # the user's pace: the input under test, not a wait for the page
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(100)
        sync_api.expect(view.locator(".counter")).to_have_text("21 / 22")
        sync_api.expect(view.locator(".rank")).to_contain_text("第 21 名")
        page.keyboard.press("Escape")
        sync_api.expect(view).to_have_count(0)
        expected = ["pick" if key == "P" else "reject" for key in pattern] + ["", ""]
        sync_api.expect(page.locator(".lr-card.lr-picked")).to_have_count(pattern.count("P"))
        assert card_marks(page, 22) == expected
        assert media_errors == []


@pytest.mark.parametrize("size", [(640, 960), (6000, 4000)])
def test_the_full_size_view_fits_the_window(tiny_reranker_dir: Path, size: tuple[int, int]):
    """Issue 21 bug 4: at 1440×900 a tall image pushed Pick and the key hint off-screen."""
    buffer = jpeg_bytes("orange", size)
    files = [{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": buffer},
             {"name": "small.png", "mimeType": "image/png", "buffer": png_bytes("blue")}]
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page(1440, 900) as page:
        rank_images(page, url, "an orange picture", files)
        rank = 1 + [page.locator(".lr-card .lr-name").nth(i).inner_text() for i in range(2)].index("big.jpg")
        view = open_full_view(page, rank)
        image = view.locator("img.image")
        sync_api.expect(image).to_have_attribute("src", re.compile("/media/"))
        for part in (image, view.locator("button.pick"), view.locator("button.reject"), view.locator(".hint"),
                     view.locator("button.next"), view.locator(".rank")):
            box = part.bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0, part
            assert box["x"] + box["width"] <= 1440 and box["y"] + box["height"] <= 900, (part, box)
        shown = image.evaluate("el => [el.naturalWidth, el.naturalHeight]")
        assert shown[0] / shown[1] == pytest.approx(size[0] / size[1], rel=0.02)  # the preview keeps its shape


def test_cards_keep_readable_buttons_and_marks_show_at_a_glance(tiny_reranker_dir: Path):
    """Issue 21 bugs 5 and 6: truncated buttons at 4+ columns; picks and rejects looked alike."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page(1400, 1000) as page:
        rank_images(page, url, "a red circle", distinct_pngs(6))
        output = page.locator(".lr-cell").nth(2).locator("details.lr-output")
        output.locator("summary").click()
        card_buttons(page, "pick").nth(0).click()
        sync_api.expect(page.locator(".lr-card.lr-picked")).to_have_count(1)
        sync_api.expect(output).to_have_attribute("open", "")  # redrawing the picked card left the others alone
        card_buttons(page, "reject").nth(1).click()
        sync_api.expect(page.locator(".lr-card.lr-rejected")).to_have_count(1)
        slider = page.get_by_role("slider", name="每行列数")
        for columns in (3, 4, 5, 6):
            if columns > 3:
                slider.focus()
                page.keyboard.press("ArrowRight")
                sync_api.expect(slider).to_have_attribute("aria-valuetext", str(columns))
            # the grid has been drawn again: its first row holds ``columns`` cards
            page.wait_for_function("n => { const tops = [...document.querySelectorAll('.lr-card')].map("
                                   "c => Math.round(c.getBoundingClientRect().top)); "
                                   "return tops.filter(t => t === tops[0]).length === n; }", arg=columns)
            buttons = page.locator("button.lr-act").filter(visible=True)
            sync_api.expect(buttons).to_have_count(24)
            clipped = buttons.evaluate_all(
                "els => els.filter(b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))"
                ".map(b => b.innerText)")
            assert clipped == [], (columns, clipped)
        green = card_buttons(page, "pick", on=True)
        red = card_buttons(page, "reject", on=True)
        background = "el => getComputedStyle(el).backgroundColor"
        assert green.evaluate(background) == "rgb(46, 125, 50)" and red.evaluate(background) == "rgb(198, 40, 40)"
        assert float(page.locator(".lr-card.lr-rejected").evaluate("el => getComputedStyle(el).opacity")) < 0.6
        assert float(page.locator(".lr-card.lr-picked").evaluate("el => getComputedStyle(el).opacity")) == 1


def upload_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob(f"{spool.PREFIX}*"))


def test_uploads_survive_a_reload_and_rank_again_with_a_new_query(tiny_reranker_dir: Path):
    """Issue 21 bug 8: after a reload the uploader was empty and Run asked for images. Issue 27: the uploads wait on
    disk, not in the server's memory, and their folder goes when the server stops."""
    before = upload_folders()
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        rank_images(page, url, "a red circle", distinct_pngs(3))
        [folder] = upload_folders() - before
        assert len(list(folder.iterdir())) == 3
        page.reload()
        sync_api.expect(page.locator(".lr-card")).to_have_count(3)
        reuse = page.get_by_role("checkbox", name=re.compile("使用上次上传的 3 张图片"))
        sync_api.expect(reuse).to_be_checked()
        query_box = page.locator("textarea").first
        query_box.fill("a blue square")
        query_box.press("Tab")
        sync_api.expect(query_box).to_have_value("a blue square")
        page.get_by_role("button", name="开始重排序").click()
        sync_api.expect(page.locator(".lr-query")).to_contain_text("a blue square")
        sync_api.expect(page.locator(".lr-card")).to_have_count(3)
        assert page.get_by_text("请上传图片或填写本地文件夹。").count() == 0
        # Issue 27: the click and the run's end rerun only parts of the page; the sidebar still lists the run
        # before (no reload), and reopening it draws its results.
        earlier = page.locator('[data-testid="stSidebar"]').get_by_role("button", name=re.compile("a red circle"))
        sync_api.expect(earlier).to_have_count(1)
        earlier.click()
        sync_api.expect(page.locator(".lr-query")).to_contain_text("a red circle")
        sync_api.expect(page.locator(".lr-card")).to_have_count(3)
        assert upload_folders() - before == {folder}  # ranked again from the same files
        # Another tab lists both runs; its own run's end leaves that list as it was (not sent again), still shown.
        other = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
        other.set_default_timeout(WAIT_MS)
        rank_images(other, url, "a green circle", distinct_pngs(2))
        listed = other.locator('[data-testid="stSidebar"]').get_by_role("button", name=re.compile("a (red|blue) "))
        sync_api.expect(listed).to_have_count(2)
    assert not folder.exists()  # the server deleted it as it stopped (SIGTERM)


def test_the_demo_banner_loads_the_examples():
    """Issue 16 item 1 in a real browser: the demo is labelled and its button loads examples it ranks well."""
    with streamlit_server("demo") as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("当前是内置演示模型。").wait_for()
        # Issue 27: the live view's script loads with the page (live_feed.mount_idle), drawing nothing until Run
        sync_api.expect(page.locator('[data-testid="stBidiComponentRegular"]')).to_have_count(1)
        assert page.locator(".lr-livebox").count() == 0
        page.get_by_role("button", name="载入内置示例").click()
        sync_api.expect(page.locator("textarea").first).to_have_value("a red circle")
        clicked = page.evaluate("performance.now()")
        page.get_by_role("button", name="开始重排序").click()
        sync_api.expect(page.get_by_text("完成：10 张图片已排序")).to_be_visible()
        assert page.locator(".lr-card .lr-name").first.inner_text() == "red_circle.png"
        # Issue 27: the results page's widget scripts (progress bar, sliders, toggle, downloads) came with the form,
        # not while the user waited for the results of this tab's first run
        fetched = page.evaluate("(t) => performance.getEntriesByType('resource').filter((e) => e.startTime > t "
                                "&& e.name.includes('/static/js/')).map((e) => e.name)", clicked)
        assert fetched == []
        sync_api.expect(page.get_by_role("slider")).to_have_count(2)  # the preloaded scripts work: threshold, columns


# Notes the page's clock each time the best-so-far grid changes (one MutationObserver callback per redraw), and
# whether the live view then drew the run's end: a full bar and no status lines (live_feed._status_lines).
RECORD_GRID_MOVES = """(() => {
  window.lrGridMoves = [];
  window.lrGridMovesAtEnd = 0;
  new MutationObserver((records) => {
    const inGrid = (node) => (node.nodeType === 1 ? node : node.parentElement)?.closest(".lr-live-grid");
    if (!records.some((record) => inGrid(record.target))) return;
    window.lrGridMoves.push(performance.now());
    const full = parseFloat(document.querySelector(".lr-bar-fill")?.style.width) === 100;
    const lines = [...document.querySelectorAll(".lr-line")].filter((line) => !line.hidden);
    if (full && lines.length === 0) window.lrGridMovesAtEnd += 1;
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
})()"""


def test_cards_fill_in_while_the_run_goes_on(slow_reranker_dir: Path):
    """Issue 16 item 2: the best so far appear while 100 images are scored (a model slow enough to watch).
    Issue 27: they move at most once a second (live_feed.GRID_MS), while the progress line moves more often, and
    not at all when the run ends: the results replace them."""
    files = distinct_pngs(100, (128, 128))
    with streamlit_server(str(slow_reranker_dir)) as url, browser_page() as page:
        page.add_init_script(RECORD_GRID_MOVES)
        start_run(page, url, "a red circle", files)
        page.locator(".lr-live").first.wait_for()  # while the run goes on
        assert page.get_by_text(re.compile(r"目前最好的 \d+ 张")).count() == 1
        sync_api.expect(page.get_by_text("完成：100 张图片已排序")).to_be_visible()
        sync_api.expect(page.locator(".lr-live")).to_have_count(0)
        sync_api.expect(page.locator(".lr-card")).to_have_count(60)  # the first page of the grid
        moves, at_end = page.evaluate("[window.lrGridMoves, window.lrGridMovesAtEnd]")
    gaps = [later - earlier for earlier, later in zip(moves, moves[1:])]
    assert len(gaps) >= 3, moves
    assert at_end == 0  # the finished snapshot left the grid as it was
    assert min(gaps) >= 900, gaps


def test_stop_in_the_browser_keeps_what_was_scored(slow_reranker_dir: Path):
    """Issue 27: the live view's Stop goes straight to the server; the page then shows the scored images as results.
    The live cards' and the grid's thumbnails come from the server's own route and load."""
    files = distinct_pngs(150, (128, 128))  # ~15 s of scoring: Stop lands well before the end
    thumbnails_loaded = """(selector) => { const images = [...document.querySelectorAll(selector)];
        return images.length > 0 && images.every((i) => i.complete && i.naturalWidth > 0); }"""
    with streamlit_server(str(slow_reranker_dir)) as url, browser_page() as page:
        start_run(page, url, "a red circle", files)
        page.wait_for_function(thumbnails_loaded, arg=".lr-live img", timeout=WAIT_MS)
        page.get_by_role("button", name="停止").click()
        stopped = page.get_by_text(re.compile(r"已停止：\d+ 张已打分"))
        sync_api.expect(stopped).to_be_visible()
        scored = int(re.search(r"已停止：(\d+)", stopped.inner_text()).group(1))
        assert 0 < scored < 150
        sync_api.expect(page.locator(".lr-card")).to_have_count(min(scored, 60))  # the grid's first page
        page.wait_for_function(thumbnails_loaded, arg=".lr-card img", timeout=WAIT_MS)
