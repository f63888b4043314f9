"""The grouped view in Chromium (issues 24 and 25): products in subfolders ranked on the demo model, grouped
by subfolder: one row per product with its best image large, the others behind a collapsed expander that
opens, and a pick made in the grouped view. ``LYCHEE_UPDATE_SCREENSHOT=1`` also rewrites
docs/grouped-results.png (a batch of generated images grouped by prompt)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import sd_writers as sd
from test_app_browser import ARTIFACTS, browser_page, next_frames, streamlit_server, sync_api

from lychee_rerank.settings import DEMO_MODEL_DIR

from helpers import ROOT, make_product_folders

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="demo model not built")]


def open_page(page, url: str) -> None:
    page.goto(url)
    page.locator("textarea").first.wait_for(state="visible")  # the first page load loads the model


def choose(page, key: str, label: str) -> None:
    """Click the option ``label`` of the radio whose widget key is ``key``."""
    page.locator(f'[class*="st-key-{key}"]').get_by_text(label, exact=True).click()


def type_query_and_folder(page, folder: Path, query: str, folder_label: str = "本地文件夹路径") -> None:
    query_box = page.locator("textarea").first
    if query:
        query_box.fill(query)
        query_box.press("Tab")
        sync_api.expect(query_box).to_have_value(query)
    folder_box = page.get_by_role("textbox", name=re.compile(f"^{folder_label}"))
    folder_box.fill(str(folder))
    folder_box.press("Tab")
    sync_api.expect(folder_box).to_have_value(str(folder))


def press_run(page, label: str, count: int) -> None:
    run = page.get_by_role("button", name=label)
    sync_api.expect(run).to_be_enabled()
    run.click()
    sync_api.expect(page.locator(".lr-card")).to_have_count(count)


def test_grouped_by_subfolder_each_products_best_large_and_the_others_behind_it(tmp_path: Path):
    ARTIFACTS.mkdir(exist_ok=True)
    targets = make_product_folders(tmp_path / "products", "blue", "square")
    with streamlit_server("demo") as url, browser_page() as page:
        open_page(page, url)
        type_query_and_folder(page, tmp_path / "products", "a blue square")
        press_run(page, "开始重排序", 24)
        choose(page, "group_by", "子文件夹（每个一件商品）")
        groups = page.locator('[class*="st-key-lr_group_"]')
        sync_api.expect(groups).to_have_count(6)
        sync_api.expect(page.locator(".lr-large")).to_have_count(6)
        best = [groups.nth(i).locator(".lr-large .lr-name").get_attribute("title") for i in range(6)]
        assert sorted(best) == sorted(targets.values())
        first = groups.first
        sync_api.expect(first.get_by_text("领先第二名", exact=False)).to_be_visible()
        sync_api.expect(first.locator(".lr-card").filter(visible=True)).to_have_count(1)  # the others collapsed
        first.get_by_text("本组其余 3 张").click()
        sync_api.expect(first.locator(".lr-card").filter(visible=True)).to_have_count(4)
        # A pick made in the grouped view marks the card (the workspace's marks work here too).
        first.locator('button.lr-act[data-act="pick"]').filter(visible=True).first.click()
        sync_api.expect(first.locator(".lr-large .lr-card")).to_have_attribute("data-mark", "pick")
        page.mouse.move(0, 0)
        next_frames(page)
        page.screenshot(path=str(ARTIFACTS / "app-grouped.png"))


@pytest.mark.skipif(not os.environ.get("LYCHEE_UPDATE_SCREENSHOT"),
                    reason="set LYCHEE_UPDATE_SCREENSHOT=1 to refresh docs/grouped-results.png")
def test_readme_grouped_results_screenshot(tmp_path: Path):
    """Generated images ranked by their own prompts on the demo model, grouped by prompt, in English."""
    sd.make_prompt_batch(tmp_path / "batch")
    with streamlit_server("demo") as url, browser_page(1400, 1000) as page:
        open_page(page, url)
        choose(page, "lang", "English")
        type_query_and_folder(page, tmp_path / "batch", "", folder_label="Local folder path")
        choose(page, "query_source", "Each image's own prompt")
        press_run(page, "Start reranking", 6)
        choose(page, "group_by", "Prompt")
        groups = page.locator('[class*="st-key-lr_group_"]')
        sync_api.expect(groups).to_have_count(2)
        groups.first.get_by_text("2 more in this group").click()
        sync_api.expect(groups.first.locator(".lr-card").filter(visible=True)).to_have_count(3)
        page.mouse.move(0, 0)
        shoot_results(page, ROOT / "docs" / "grouped-results.png")


def shoot_results(page, path: Path) -> None:
    """The results from the Group-by control to the last group, the page grown to its full height first
    (Streamlit scrolls inside its main area)."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 40, 4000)})
    next_frames(page)
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    top = page.locator('[class*="st-key-group_by"]').bounding_box()["y"] - 12
    bottom = max(box["y"] + box["height"] for box in (
        page.locator('[class*="st-key-lr_group_"]').nth(i).bounding_box() for i in range(2)))
    page.screenshot(path=str(path), clip={"x": main["x"], "y": top, "width": main["width"],
                                          "height": bottom + 16 - top})
