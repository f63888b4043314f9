"""Generated-image files written the way AUTOMATIC1111/Forge, ComfyUI and InvokeAI write them.

Each writer below repeats the front end's own saving code (with Pillow, as they do):

* AUTOMATIC1111 ``modules/images.py`` ``save_image_with_geninfo``: PNG ``PngInfo().add_text("parameters",
  geninfo)`` (Pillow writes tEXt, or iTXt when the text is not Latin-1); JPEG/WebP
  ``image.save(..., exif=piexif.dump({"Exif": {UserComment: UserComment.dump(geninfo, encoding="unicode")}}))``.
  :func:`piexif_user_comment` builds piexif's exact bytes (big-endian TIFF, one 0th-IFD entry pointing at an
  Exif IFD with the UserComment, ``UNICODE\\0`` + UTF-16-BE) so the tests need no piexif.
* ComfyUI ``nodes.py`` ``SaveImage.save_images``: ``add_text("prompt", json.dumps(prompt))`` and
  ``add_text("workflow", json.dumps(workflow))``, ``compress_level=4``.
* InvokeAI ``image_files_disk.py`` ``DiskImageFileStorage.save``: ``add_text("invokeai_metadata", metadata)``
  (pydantic's compact ``model_dump_json``), ``invokeai_workflow``, ``invokeai_graph``, ``compress_level=1``.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from PIL import Image, PngImagePlugin

A1111_SETTINGS = ("Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: {seed}, Size: 512x512, "
                  "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, "
                  'Lora hashes: "detail: 7f1a2b3c4d5e, style: 1a2b3c4d5e6f", Version: v1.10.1')


def infotext(prompt: str, negative: str | None = None, seed: int = 1234567890, settings: str = A1111_SETTINGS) -> str:
    """A1111's ``create_infotext``: prompt, ``Negative prompt:`` line when there is one, the settings line."""
    negative_text = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{settings.format(seed=seed)}".strip()


def picture(color: Any = "red", size: tuple[int, int] = (64, 64), shape: str | None = None) -> Image.Image:
    image = Image.new("RGB", size, "white" if shape else color)
    if shape:
        from PIL import ImageDraw
        draw = ImageDraw.Draw(image)
        box = (8, 8, size[0] - 8, size[1] - 8)
        (draw.ellipse if shape == "circle" else draw.rectangle)(box, fill=color)
    return image


def a1111_png(geninfo: str, image: Image.Image | None = None) -> bytes:
    pnginfo = PngImagePlugin.PngInfo()
    pnginfo.add_text("parameters", geninfo)
    return _save(image or picture(), "PNG", pnginfo=pnginfo)


def piexif_user_comment(geninfo: str) -> bytes:
    """``piexif.dump({"Exif": {ExifIFD.UserComment: UserComment.dump(geninfo, encoding="unicode")}})``."""
    comment = b"UNICODE\x00" + geninfo.encode("utf_16_be", errors="replace")
    zeroth = struct.pack(">H", 1) + struct.pack(">HHII", 0x8769, 4, 1, 8 + 18) + b"\x00\x00\x00\x00"
    exif_ifd = struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), 8 + 18 + 14)
    return b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + zeroth + exif_ifd + comment


def a1111_jpeg(geninfo: str, image: Image.Image | None = None) -> bytes:
    return _save(image or picture(), "JPEG", quality=80, exif=piexif_user_comment(geninfo))


def a1111_webp(geninfo: str, image: Image.Image | None = None) -> bytes:
    return _save(image or picture(), "WEBP", quality=80, lossless=False, exif=piexif_user_comment(geninfo))


def comfy_graph(positive: Any = "a red circle", negative: Any = "blurry", seed: int = 42) -> dict[str, Any]:
    """ComfyUI's default text-to-image graph in API format (the ``prompt`` a SaveImage node embeds)."""
    return {
        "3": {"inputs": {"seed": seed, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                         "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                         "latent_image": ["5", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
        "4": {"inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}, "class_type": "CheckpointLoaderSimple",
              "_meta": {"title": "Load Checkpoint"}},
        "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1}, "class_type": "EmptyLatentImage",
              "_meta": {"title": "Empty Latent Image"}},
        "6": {"inputs": {"text": positive, "clip": ["4", 1]}, "class_type": "CLIPTextEncode",
              "_meta": {"title": "CLIP Text Encode (Prompt)"}},
        "7": {"inputs": {"text": negative, "clip": ["4", 1]}, "class_type": "CLIPTextEncode",
              "_meta": {"title": "CLIP Text Encode (Prompt)"}},
        "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode",
              "_meta": {"title": "VAE Decode"}},
        "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage",
              "_meta": {"title": "Save Image"}},
    }


def comfy_png(
    graph: Any, workflow: Any = None, image: Image.Image | None = None, raw_prompt: str | None = None
) -> bytes:
    pnginfo = PngImagePlugin.PngInfo()
    pnginfo.add_text("prompt", raw_prompt if raw_prompt is not None else json.dumps(graph))
    pnginfo.add_text("workflow", json.dumps(workflow if workflow is not None else {"nodes": [], "links": []}))
    return _save(image or picture(), "PNG", pnginfo=pnginfo, compress_level=4)


def invokeai_png(metadata: dict[str, Any], image: Image.Image | None = None) -> bytes:
    pnginfo = PngImagePlugin.PngInfo()
    pnginfo.add_text("invokeai_metadata", json.dumps(metadata, separators=(",", ":")))
    pnginfo.add_text("invokeai_workflow", json.dumps({"name": "", "nodes": [], "edges": []}, separators=(",", ":")))
    pnginfo.add_text("invokeai_graph", json.dumps({"id": "g", "nodes": {}, "edges": []}, separators=(",", ":")))
    return _save(image or picture(), "PNG", pnginfo=pnginfo, compress_level=1)


def invokeai_metadata(prompt: str = "a red circle", negative: str = "blurry", seed: int = 3141592) -> dict[str, Any]:
    """InvokeAI's CoreMetadata for a text-to-image run, as ``model_dump_json`` orders it."""
    return {"generation_mode": "txt2img", "positive_prompt": prompt, "negative_prompt": negative, "width": 512,
            "height": 512, "seed": seed, "rand_device": "cpu", "cfg_scale": 7.5, "cfg_rescale_multiplier": 0.0,
            "steps": 30, "scheduler": "dpmpp_2m_k", "seamless_x": False, "seamless_y": False,
            "model": {"key": "6b1f", "hash": "blake3:abcd", "name": "stable-diffusion-v1-5", "base": "sd-1",
                      "type": "main"}, "app_version": "5.6.0"}


def _save(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


# Two prompts, three images each, written by all three front ends: under each prompt exactly one image
# shows what it names (the demo model knows short shape-and-colour phrases), its seed 1 or 2.
PROMPT_BATCH = {
    "a red circle": [("red_circle.png", 1), ("green_star.png", 11), ("blue_square_on_yellow.png", 12)],
    "a green star": [("red_circle.png", 21), ("green_star.png", 2), ("purple_circle_on_mint.png", 22)],
}


def make_prompt_batch(folder: Any) -> dict[str, str]:
    """Write :data:`PROMPT_BATCH` into ``folder`` (``r1.png``... for the red circle's prompt, ``g1.png``... for
    the green star's; the star's prompt spaced oddly, as normalisation must not split it). Returns prompt -> the
    file name that should win its group."""
    from pathlib import Path

    from lychee_rerank.settings import DEMO_EXAMPLES_DIR

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writers = [lambda p, s, im: a1111_png(infotext(p, seed=s), im),
               lambda p, s, im: comfy_png(comfy_graph(positive=p, seed=s), image=im),
               lambda p, s, im: invokeai_png(invokeai_metadata(p, seed=s), im)]
    winners = {}
    for prompt, images in PROMPT_BATCH.items():
        for number, ((example, seed), write) in enumerate(zip(images, writers), start=1):
            with Image.open(DEMO_EXAMPLES_DIR / example) as image:
                written = "  " + prompt.replace(" ", "  ") + " " if number == 2 else prompt
                name = f"{prompt.split()[1][0]}{number}.png"
                (folder / name).write_bytes(write(written, seed, image.convert("RGB")))
            if seed < 10:
                winners[prompt] = name
    return winners
