"""In Chromium: generated images uploaded, ranked by each image's own prompt, the generation info on the cards,
then grouped by prompt (each prompt's best first, the others behind it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sd_writers as sd
from PIL import Image
from test_app_browser import WAIT_MS, browser_page, streamlit_server, sync_api, uploader

from lychee_rerank.settings import DEMO_EXAMPLES_DIR, DEMO_MODEL_DIR

pytestmark = pytest.mark.browser


def example(name: str) -> Image.Image:
    with Image.open(DEMO_EXAMPLES_DIR / name) as image:
        return image.convert("RGB")


def png_upload(name: str, data: bytes) -> dict:
    return {"name": name, "mimeType": "image/png", "buffer": data}


@pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="demo model not built")
def test_own_prompt_run_and_generation_info_in_chromium(tmp_path: Path):
    files = [
        png_upload("red.png", sd.a1111_png(sd.infotext("a red circle", "blurry", seed=1111),
                                           example("red_circle.png"))),
        png_upload("star.png", sd.comfy_png(sd.comfy_graph(positive="a green star", seed=2222),
                                            image=example("green_star.png"))),
        png_upload("mismatch.png", sd.invokeai_png(sd.invokeai_metadata("a red circle", seed=3333),
                                                   example("blue_square_on_yellow.png"))),
    ]
    with streamlit_server("demo") as url, browser_page() as page:
        page.goto(url)
        page.locator("textarea").first.wait_for(state="visible")  # the model has loaded
        uploader(page, "上传图片或 zip").set_input_files(files)
        page.get_by_text("已选择 3 个文件").wait_for()
        page.get_by_text("每张图自己的提示词").click()  # offered because the images carry prompts
        run = page.get_by_role("button", name="开始重排序")
        sync_api.expect(run).to_be_enabled()  # no typed query needed: each image brings its own
        run.click()
        cards = page.locator(".lr-card")
        sync_api.expect(cards).to_have_count(3, timeout=WAIT_MS)
        page.get_by_text("已处理 3/3 张").first.wait_for()
        names = [cards.nth(i).locator(".lr-name").inner_text() for i in range(3)]
        assert names[-1] == "mismatch.png"  # a blue square does not follow "a red circle"
        info = page.get_by_text("生成信息")
        sync_api.expect(info).to_have_count(3)
        info.first.click()
        sync_api.expect(page.get_by_text("Negative prompt: blurry").first).to_be_visible()
        copy = page.locator("details.lr-gen[open] button.lr-copy")
        copy.click()
        sync_api.expect(copy).to_have_attribute("data-copied", "1")
        copied = page.evaluate("() => navigator.clipboard.readText()")
        assert copied == page.locator("details.lr-gen[open] .lr-gen-text").text_content()
        assert "Negative prompt: blurry" in copied
        for seed in ("1111", "2222", "3333"):
            assert page.get_by_text(seed, exact=False).count() >= 1

        page.get_by_role("radiogroup", name="分组").get_by_text("提示词", exact=True).click()  # Group by: prompt
        sync_api.expect(page.locator(".lr-large")).to_have_count(2)  # one row per prompt, its best large
        sync_api.expect(page.get_by_text("本组其余 1 张")).to_have_count(1)  # "a red circle": the mismatch behind
        best = [page.locator(".lr-large").nth(i).locator(".lr-name").inner_text() for i in range(2)]
        assert sorted(best) == ["red.png", "star.png"]
