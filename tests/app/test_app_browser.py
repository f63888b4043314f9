"""The real app (``streamlit run app.py``) driven in Debian's Chromium with Playwright.

Run with ``pytest -m browser``. ``LYCHEE_UPDATE_SCREENSHOT=1`` also rewrites
docs/screenshot.png (the demo model and examples when present, else the tiny model).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import ROOT, XSS_NAME, jpeg_bytes, png_bytes

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
DEMO_MODEL = ROOT / "lychee_rerank" / "demo" / "model"
DEMO_EXAMPLES = ROOT / "lychee_rerank" / "demo" / "examples"

if not Path(CHROMIUM).exists():
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(model: str, timeout: float = 90):
    """``streamlit run app.py`` on a free port; always terminated."""
    port = free_port()
    env = {**os.environ, "LYCHEE_MODEL": model, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
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
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def uploader(page, label: str):
    """The file input of the uploader whose label contains ``label``."""
    return page.locator('[data-testid="stFileUploader"]').filter(has_text=label).locator('input[type="file"]')


def rank_images(page, url: str, query: str, files: list[dict], reference: dict | None = None) -> None:
    """Open the app, type the query (and add a reference image), upload the files, press Run, wait for the grid."""
    page.goto(url)
    query_box = page.locator("textarea").first
    query_box.wait_for(state="visible", timeout=90_000)  # the first run loads the model
    if query:
        query_box.fill(query)
        query_box.press("Tab")  # commits the text (Ctrl+Enter would also start the run before any upload)
    if reference is not None:
        uploader(page, "参考图").set_input_files(reference)
        page.get_by_text(reference["name"]).first.wait_for(timeout=30_000)
    uploader(page, "上传图片或 zip").set_input_files(files)
    page.get_by_text(f"已选择 {len(files)} 个文件").wait_for(timeout=30_000)
    run = page.get_by_role("button", name="开始重排序")
    sync_api.expect(run).to_be_enabled(timeout=30_000)
    run.click()
    page.locator(".lr-card").nth(len(files) - 1).wait_for(timeout=120_000)
    page.get_by_text(f"已处理 {len(files)}/{len(files)} 张").first.wait_for(timeout=30_000)


def tall_screenshot(page, path: Path) -> None:
    """Streamlit scrolls inside its own container, so grow the viewport to the page's height first."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 4000)})
    page.wait_for_timeout(400)
    page.screenshot(path=str(path))


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
            assert cards.nth(rank - 1).locator(".lr-rank").inner_text().startswith(f"Rank {rank} | Score:")

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
        page.wait_for_timeout(300)
        assert dialogs == []

        tall_screenshot(page, ARTIFACTS / "app-result.png")


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
            assert cards.nth(rank - 1).locator(".lr-rank").inner_text().startswith(f"Rank {rank} | Score:")
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
    """The demo model on its examples, the best result open in the full-size view."""
    files = demo_example_files()
    with streamlit_server("demo") as url, browser_page(1400, 1000) as page:
        rank_images(page, url, "a red circle", files)
        page.get_by_role("button", name=re.compile("大图")).first.click()
        page.get_by_role("dialog").get_by_text("Rank 1 | Score:").wait_for(timeout=30_000)
        page.keyboard.press("p")
        page.wait_for_timeout(800)
        page.mouse.move(0, 0)
        page.screenshot(path=str(ROOT / "docs" / "screenshot-view.png"))


def test_typing_the_query_then_one_click_starts_the_run(tiny_reranker_dir: Path):
    """Issue 16 bug 2: the first click after typing used to only commit the text (the button was disabled)."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        upload_two_then_type_the_query(page, url)  # focus stays in the box: nothing committed the text yet
        page.get_by_role("button", name="开始重排序").click()  # exactly one click
        page.locator(".lr-card").nth(1).wait_for(timeout=120_000)
        assert page.locator(".lr-card").count() == 2


def upload_two_then_type_the_query(page, url: str) -> None:
    """Open the app, upload two images, then type a query into the focused box without committing it."""
    files = [{"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c)} for c in ("red", "blue")]
    page.goto(url)
    query_box = page.locator("textarea").first
    query_box.wait_for(state="visible", timeout=90_000)
    uploader(page, "上传图片或 zip").set_input_files(files)
    page.get_by_text("已选择 2 个文件").wait_for(timeout=30_000)
    query_box.click()
    page.keyboard.type("a red circle")


def test_switching_the_language_keeps_every_choice(tiny_reranker_dir: Path):
    """Issue 16 bug 1: the browser sends back the label it shows; after a switch it matched nothing and reset."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        page.goto(url)
        page.locator("textarea").first.wait_for(state="visible", timeout=90_000)
        choose(page, "打分模式", "生成分数（普通指令模型）")
        choose(page, "指令预设（可选）", "电商主图")
        page.get_by_text("快速（256×28²").click()
        page.wait_for_timeout(500)
        page.get_by_text("English", exact=True).click()
        sync_api.expect(combobox(page, "Scoring mode")).to_have_value("Generate a score (instruct models)")
        sync_api.expect(combobox(page, "Instruction preset (optional)")).to_have_value("E-commerce main image")
        assert page.get_by_role("radio", name=re.compile(r"^Fast")).is_checked()
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
            page.wait_for_timeout(500)
    sync_api.expect(combobox(page, label)).to_have_value(option)


def test_ctrl_enter_in_the_query_box_starts_the_run(tiny_reranker_dir: Path):
    """Issue 16 bug 2, second half: Ctrl+Enter in the query box commits the text and starts the run."""
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        upload_two_then_type_the_query(page, url)
        page.keyboard.press("Control+Enter")  # no click anywhere
        page.locator(".lr-card").nth(1).wait_for(timeout=120_000)
        assert page.locator(".lr-card").count() == 2


def test_full_size_view_steps_with_arrows_and_two_picks_make_the_zip(tiny_reranker_dir: Path):
    """Issue 16 items 3 and 4: the full-size view, arrow keys, P to pick, Esc, the picks filter and its zip."""
    files = [{"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c, (90, 70))}
             for c in ("red", "blue", "green", "purple")]
    with streamlit_server(str(tiny_reranker_dir)) as url, browser_page() as page:
        rank_images(page, url, "a red circle", files)
        names = [page.locator(".lr-card .lr-name").nth(i).inner_text() for i in range(4)]
        page.get_by_role("button", name=re.compile("大图")).first.click()
        dialog = page.get_by_role("dialog")
        sync_api.expect(dialog).to_contain_text("Rank 1 | Score:")
        sync_api.expect(dialog).to_contain_text(names[0])
        page.keyboard.press("ArrowRight")
        sync_api.expect(dialog).to_contain_text(names[1])
        page.keyboard.press("ArrowLeft")
        sync_api.expect(dialog).to_contain_text(names[0])
        page.keyboard.press("p")
        page.keyboard.press("ArrowRight")
        sync_api.expect(dialog).to_contain_text(names[1])
        page.keyboard.press("p")
        page.wait_for_timeout(500)
        page.keyboard.press("Escape")
        sync_api.expect(dialog).to_be_hidden()
        choose(page, "筛选", "只看选中")
        sync_api.expect(page.locator(".lr-card")).to_have_count(2)
        with page.expect_download() as download:
            page.get_by_role("button", name=re.compile("zip")).click()
        with zipfile.ZipFile(download.value.path()) as archive:
            # the zip names its files by rank: 01_name, 02_name
            assert sorted(name.split("_", 1)[1] for name in archive.namelist()) == sorted(names[:2])

        # Item 6: a reload brings the results, the filter and the marks back (the session id is in the URL).
        assert "?s=" in page.url
        page.reload()
        sync_api.expect(page.locator(".lr-card")).to_have_count(2, timeout=60_000)
        sync_api.expect(combobox(page, "筛选")).to_have_value("只看选中")
        picked = page.locator('[class*="st-key-card_"][class*="_pick"] button[kind="primary"]')
        sync_api.expect(picked).to_have_count(2)


def test_the_demo_banner_and_cards_that_fill_in_during_the_run():
    """Issue 16 items 1 and 2 in a real browser: the demo is labelled; the best so far appear while it scores."""
    colours = [(r, g, 90) for r in range(0, 250, 25) for g in range(0, 250, 25)]  # 100 distinct images
    files = [{"name": f"shape_{i:03d}.png", "mimeType": "image/png", "buffer": png_bytes(c, (96, 96))}
             for i, c in enumerate(colours)]
    with streamlit_server("demo") as url, browser_page() as page:
        page.goto(url)
        page.get_by_text("当前是内置演示模型。").wait_for(timeout=90_000)
        page.get_by_role("button", name="载入内置示例").click()
        sync_api.expect(page.locator("textarea").first).to_have_value("a red circle")
        uploader(page, "上传图片或 zip").set_input_files(files)
        page.get_by_text("已选择 100 个文件").wait_for(timeout=60_000)
        page.get_by_role("button", name="开始重排序").click()
        page.locator(".lr-live").first.wait_for(timeout=60_000)  # while the run goes on
        assert page.get_by_text(re.compile(r"目前最好的 \d+ 张")).count() == 1
        page.locator(".lr-card").first.wait_for(timeout=120_000)
        sync_api.expect(page.locator(".lr-live")).to_have_count(0)
        # the 10 bundled examples (a folder) and the 100 uploads ranked together, the red circle first
        sync_api.expect(page.get_by_text("完成：110 张图片已排序")).to_be_visible()
        assert page.locator(".lr-card .lr-name").first.inner_text() == "red_circle.png"
