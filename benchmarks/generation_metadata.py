"""Reading generation metadata (the prompt, seed and settings) from a folder of generated PNGs.

    python benchmarks/generation_metadata.py --images 1000

Writes N PNGs of 512x512 in a temporary folder, a third each in AUTOMATIC1111's, ComfyUI's and
InvokeAI's format (the writers' own Pillow calls, as in tests/sd_writers.py), then reads every file's
metadata as the own-prompt ranking does before scoring (``generation_of``: the file's bytes, the PNG
chunks walked, the text parsed; no pixels decoded). Prints the total time and the time per image.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import PngImagePlugin

from lychee_rerank.export import format_table
from lychee_rerank.intake import collect_inputs, generation_of
from lychee_rerank.runtime.machine import describe_machine, machine_info

from bench_support import script_main, synthetic_image

A1111 = ("{prompt}\nNegative prompt: blurry, lowres\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, "
         "CFG scale: 7, "
         "Seed: {seed}, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="PNGs to write and read (default 1000)")
    parser.add_argument("--size", type=int, default=512, help="side of each PNG in pixels (default 512)")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/generation_metadata.json)")
    return parser.parse_args(argv)


def metadata(index: int) -> tuple[str, PngImagePlugin.PngInfo]:
    prompt = f"a red circle number {index}, flat vector art, (masterpiece:1.2)"
    info = PngImagePlugin.PngInfo()
    kind = ("a1111", "comfyui", "invokeai")[index % 3]
    if kind == "a1111":
        info.add_text("parameters", A1111.format(prompt=prompt, seed=index))
    elif kind == "comfyui":
        graph = {"3": {"inputs": {"seed": index, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
                                  "denoise": 1, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                  "latent_image": ["5", 0]}, "class_type": "KSampler"},
                 "4": {"inputs": {"ckpt_name": "v1-5.safetensors"}, "class_type": "CheckpointLoaderSimple"},
                 "5": {"inputs": {"width": 512, "height": 512, "batch_size": 1}, "class_type": "EmptyLatentImage"},
                 "6": {"inputs": {"text": prompt, "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
                 "7": {"inputs": {"text": "blurry", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"},
                 "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode"},
                 "9": {"inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}, "class_type": "SaveImage"}}
        info.add_text("prompt", json.dumps(graph))
        info.add_text("workflow", json.dumps({"nodes": [{"id": n} for n in range(40)], "links": []}))
    else:
        info.add_text("invokeai_metadata", json.dumps({"positive_prompt": prompt, "negative_prompt": "blurry",
                                                       "seed": index, "steps": 30, "cfg_scale": 7.5,
                                                       "model": {"name": "sd-1.5"}}, separators=(",", ":")))
    return kind, info


def build(folder: Path, count: int, side: int) -> int:
    """Write the PNGs; the pixels are one synthetic image, the metadata differs per file. Returns the bytes written."""
    from PIL import Image

    pixels = Image.open(io.BytesIO(synthetic_image(0, (side, side), fmt="PNG")))
    total = 0
    for index in range(count):
        kind, info = metadata(index)
        buffer = io.BytesIO()
        pixels.save(buffer, "PNG", pnginfo=info)
        total += buffer.tell()
        (folder / f"{kind}_{index:05d}.png").write_bytes(buffer.getvalue())
    return total


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        written = build(Path(tmp), args.images, args.size)
        inputs = collect_inputs([Path(tmp)], max_images=10**7).inputs
        started = time.perf_counter()
        found = [generation_of(item) for item in inputs]
        seconds = time.perf_counter() - started
    prompts = sum(1 for item in found if item is not None and item.prompt)
    return {"benchmark": "generation_metadata", "images": len(inputs), "side": args.size, "bytes": written,
            "with_prompt": prompts, "seconds": seconds, "ms_per_image": 1000 * seconds / max(len(inputs), 1),
            "machine": info}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# generation metadata: {report['images']} PNGs of {report['side']}x{report['side']} "
          f"({report['bytes'] / 1024**2:.0f} MiB), a third each A1111/ComfyUI/InvokeAI; "
          f"{describe_machine(report['machine'])}; full figures: {path}")
    print(format_table(["images", "with prompt", "total s", "ms/image"],
                       [[report["images"], report["with_prompt"], report["seconds"], report["ms_per_image"]]]))


def main(argv: list[str] | None = None) -> int:
    return script_main("generation_metadata", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
