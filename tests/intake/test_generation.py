"""Generation metadata: each writer's format parsed to the exact prompt, negative prompt and seed; hostile files
become notes, never failed images."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
import sd_writers as sd
from PIL import Image

from lychee_rerank.intake import ImageInput, generation_of, prepare_image, read_generation
from lychee_rerank.intake.generation import parse_parameters, scan_png

NEGATIVE = "blurry, lowres, (worst quality:1.4)"


def chunk_types(data: bytes) -> list[bytes]:
    kinds, position = [], 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        kinds.append(kind)
        position += 12 + length
    return kinds


def with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` (a PNG) with one more chunk right after IHDR."""
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return data[:33] + chunk + data[33:]


def prepared(data: bytes):
    return prepare_image(ImageInput(name="x.png", data=data), max_pixels=64 * 64 * 4)


# ---------------------------------------------------------------- each writer's format


def test_a1111_png_text_chunk():
    data = sd.a1111_png(sd.infotext("a red circle, masterpiece", NEGATIVE, seed=1234567890))
    assert b"tEXt" in chunk_types(data)
    info = read_generation(data)
    assert (info.generator, info.prompt, info.negative_prompt, info.seed) == (
        "AUTOMATIC1111", "a red circle, masterpiece", NEGATIVE, 1234567890)
    settings = info.settings_dict
    assert settings["Sampler"] == "DPM++ 2M" and settings["CFG scale"] == "7" and settings["Size"] == "512x512"
    assert settings["Model"] == "v1-5-pruned-emaonly"
    assert settings["Lora hashes"] == "detail: 7f1a2b3c4d5e, style: 1a2b3c4d5e6f"  # JSON-quoted by A1111


def test_a1111_png_itxt_chunk_for_text_beyond_latin1():
    prompt = "红色的圆形\n(a red circle:1.2), 特写"
    data = sd.a1111_png(sd.infotext(prompt, "模糊", seed=7))
    assert b"iTXt" in chunk_types(data) and b"tEXt" not in chunk_types(data)
    info = read_generation(data)
    assert (info.prompt, info.negative_prompt, info.seed) == (prompt, "模糊", 7)


def test_a1111_prompt_without_negative_or_settings():
    info = parse_parameters("just a prompt, with commas")
    assert (info.prompt, info.negative_prompt, info.seed) == ("just a prompt, with commas", None, None)
    assert info.settings == ()


@pytest.mark.parametrize("writer", [sd.a1111_jpeg, sd.a1111_webp], ids=["jpeg", "webp"])
def test_a1111_exif_user_comment(writer):
    data = writer(sd.infotext("a blue square on yellow", NEGATIVE, seed=99))
    info = read_generation(data)
    assert (info.generator, info.prompt, info.negative_prompt, info.seed) == (
        "AUTOMATIC1111", "a blue square on yellow", NEGATIVE, 99)
    assert info.settings_dict["Steps"] == "20"


def test_forge_is_named_by_its_version():
    settings = sd.A1111_SETTINGS.replace("Version: v1.10.1", "Version: f2.0.1v1.10.1-previous-313-g8a042934")
    assert read_generation(sd.a1111_png(sd.infotext("x", settings=settings))).generator == "Forge"


def test_a_camera_comment_is_not_a_prompt():
    data = sd.a1111_jpeg("Shot on a Pixel 8")  # a UserComment without a settings line
    assert read_generation(data) is None


def test_comfyui_prompt_through_a_primitive_node():
    graph = sd.comfy_graph(positive=["10", 0], negative="blurry, watermark", seed=884201)
    graph["10"] = {"inputs": {"value": "a green star"}, "class_type": "PrimitiveStringMultiline",
                   "_meta": {"title": "String (Multiline)"}}
    info = read_generation(sd.comfy_png(graph))
    assert (info.generator, info.prompt, info.negative_prompt, info.seed) == (
        "ComfyUI", "a green star", "blurry, watermark", 884201)
    settings = info.settings_dict
    assert settings["Sampler"] == "euler" and settings["Steps"] == "20" and settings["Size"] == "512x512"
    assert settings["Model"] == "v1-5-pruned-emaonly.safetensors"
    assert not info.notes


def test_comfyui_two_samplers_reads_the_one_that_made_the_saved_image():
    graph = sd.comfy_graph(positive="a red circle", seed=1)
    # A second pass (hires/refiner) with its own prompt, fed by the first, feeds the VAE decode and the save.
    graph["11"] = {"inputs": {"text": "a red circle, sharp edges", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"}
    graph["12"] = {"inputs": {"seed": 2, "steps": 10, "cfg": 6, "sampler_name": "dpmpp_2m", "scheduler": "karras",
                              "denoise": 0.5, "model": ["4", 0], "positive": ["11", 0], "negative": ["7", 0],
                              "latent_image": ["3", 0]}, "class_type": "KSampler"}
    graph["8"]["inputs"]["samples"] = ["12", 0]
    info = read_generation(sd.comfy_png(graph))
    assert (info.prompt, info.negative_prompt, info.seed) == ("a red circle, sharp edges", "blurry", 2)
    assert info.settings_dict["Denoising strength"] == "0.5"


def test_comfyui_sampler_custom_advanced_with_a_guider():
    graph = sd.comfy_graph(positive="a purple circle on mint")
    del graph["3"]
    graph["20"] = {"inputs": {"noise_seed": 777}, "class_type": "RandomNoise"}
    graph["21"] = {"inputs": {"model": ["4", 0], "positive": ["22", 0], "negative": ["7", 0], "cfg": 3.5},
                   "class_type": "CFGGuider"}
    graph["22"] = {"inputs": {"guidance": 3.5, "conditioning": ["6", 0]}, "class_type": "FluxGuidance"}
    graph["23"] = {"inputs": {"noise": ["20", 0], "guider": ["21", 0], "sampler": ["24", 0], "sigmas": ["25", 0],
                              "latent_image": ["5", 0]}, "class_type": "SamplerCustomAdvanced"}
    graph["8"]["inputs"]["samples"] = ["23", 0]
    info = read_generation(sd.comfy_png(graph))
    assert (info.prompt, info.negative_prompt, info.seed) == ("a purple circle on mint", "blurry", 777)


def test_comfyui_workflow_chunk_is_never_read():
    workflow = {"nodes": [{"id": 6, "widgets_values": ["a UI-only prompt"]}], "links": []}
    info = read_generation(sd.comfy_png(sd.comfy_graph(positive="a red circle"), workflow=workflow))
    assert info.prompt == "a red circle"
    assert "UI-only" not in json.dumps(info.settings_dict) + " ".join(info.notes)
    assert "workflow" not in scan_png(sd.comfy_png(sd.comfy_graph(), workflow=workflow)).texts


def test_comfyui_unresolvable_prompt_is_a_note_not_a_guess():
    graph = sd.comfy_graph(positive=["10", 0])
    graph["10"] = {"inputs": {"string_a": "a red", "string_b": " circle", "delimiter": ""},
                   "class_type": "StringConcatenate"}
    info = read_generation(sd.comfy_png(graph))
    assert info.prompt is None and info.negative_prompt == "blurry"
    assert info.notes == ("ComfyUI graph: the positive prompt could not be resolved (node 6 (CLIPTextEncode)'s text "
                          "comes from node 10 (StringConcatenate), which is not a plain string); not used",)


def test_invokeai_metadata():
    info = read_generation(sd.invokeai_png(sd.invokeai_metadata("a green triangle on black", "blurry", seed=3141592)))
    assert (info.generator, info.prompt, info.negative_prompt, info.seed) == (
        "InvokeAI", "a green triangle on black", "blurry", 3141592)
    assert info.settings_dict == {"Model": "stable-diffusion-v1-5", "Mode": "txt2img", "Scheduler": "dpmpp_2m_k",
                                  "Steps": "30", "CFG scale": "7.5", "Size": "512x512"}


def test_plain_images_have_no_generation_info():
    assert read_generation(sd._save(sd.picture(), "PNG")) is None
    assert read_generation(sd._save(sd.picture(), "JPEG")) is None
    assert read_generation(b"GIF89a not really") is None


def test_decoding_reads_the_metadata_too():
    image = prepared(sd.a1111_png(sd.infotext("a red circle", seed=5)))
    assert not image.failed and image.generation.prompt == "a red circle" and image.generation.seed == 5


def test_a_pil_image_given_by_the_caller(tmp_path):
    path = tmp_path / "comfy.png"
    path.write_bytes(sd.comfy_png(sd.comfy_graph(positive="a red circle")))
    with Image.open(path) as image:
        result = prepare_image(ImageInput(name="comfy.png", image=image), max_pixels=64 * 64 * 4)
        assert result.generation.prompt == "a red circle"
        assert generation_of(ImageInput(name="comfy.png", image=image)).prompt == "a red circle"
    assert generation_of(ImageInput(name="comfy.png", data=path.read_bytes())).prompt == "a red circle"


# ---------------------------------------------------------------- hostile metadata


def test_a_50_mb_text_chunk_is_a_note_and_the_image_still_decodes():
    data = with_chunk(sd._save(sd.picture(), "PNG"), b"tEXt", b"parameters\0" + b"a" * (50 * 1024 * 1024))
    image = prepared(data)
    assert not image.failed and image.generation.prompt is None
    assert any("'parameters' not read: 50.0 MiB, over the 4 MiB limit" in note for note in image.notes)


def test_a_compressed_chunk_that_inflates_past_pillows_limit_does_not_fail_the_image():
    bomb = zlib.compress(b"x" * (50 * 1024 * 1024), 9)  # 50 KB that Pillow refuses the whole file for
    data = with_chunk(sd._save(sd.picture(), "PNG"), b"zTXt", b"parameters\0\0" + bomb)
    with pytest.raises(ValueError):
        Image.open(__import__("io").BytesIO(data)).load()  # what Pillow alone does with this file
    image = prepared(data)
    assert not image.failed and image.image.getpixel((32, 32)) == (255, 0, 0)
    assert any("decompresses to more than the 1 MiB limit" in note for note in image.notes)


def test_invalid_utf8_in_an_itxt_chunk():
    body = b"parameters\0\0\0\0\0" + b"a red \xff\xfe circle\nSteps: 20, Seed: 3, Size: 8x8"
    image = prepared(with_chunk(sd._save(sd.picture(), "PNG"), b"iTXt", body))
    assert not image.failed and image.generation.seed == 3 and "circle" in image.generation.prompt


@pytest.mark.parametrize("raw", ["{not json", "[" * 100_000 + "]" * 100_000, '"a string"', "[1, 2]", "null"])
def test_broken_comfy_json_is_a_note(raw):
    info = read_generation(sd.comfy_png(None, raw_prompt=raw))
    assert info.prompt is None and info.notes


def test_a_cycle_in_the_graph_is_a_note():
    graph = sd.comfy_graph(positive=["10", 0])
    graph["10"] = {"inputs": {"value": ["11", 0]}, "class_type": "PrimitiveString"}
    graph["11"] = {"inputs": {"value": ["10", 0]}, "class_type": "PrimitiveString"}
    graph["3"]["inputs"]["negative"] = ["30", 0]
    graph["30"] = {"inputs": {"conditioning_1": ["31", 0], "conditioning_2": ["30", 0]}, "class_type": "Combine"}
    graph["31"] = {"inputs": {"conditioning": ["30", 0]}, "class_type": "ConditioningZeroOut"}
    info = read_generation(sd.comfy_png(graph))
    assert info.prompt is None and any("cycle" in note for note in info.notes)
    assert info.seed == 42


def test_a_10000_node_graph_is_a_note():
    graph = sd.comfy_graph()
    for number in range(100, 10_100):  # a long chain of conditioning nodes
        graph[str(number)] = {"inputs": {"conditioning": [str(number + 1), 0]}, "class_type": "ConditioningZeroOut"}
    info = read_generation(sd.comfy_png(graph))
    assert info.prompt is None and info.notes == ("ComfyUI graph of 10007 nodes is over the 5000-node limit; not read",)


def test_a_long_conditioning_chain_under_the_node_limit_is_walked_or_noted():
    graph = sd.comfy_graph(positive="unused")
    graph["3"]["inputs"]["positive"] = ["100", 0]
    for number in range(100, 4_900):
        graph[str(number)] = {"inputs": {"conditioning": [str(number + 1), 0]}, "class_type": "ConditioningZeroOut"}
    graph["4900"] = {"inputs": {"text": "deep", "clip": ["4", 1]}, "class_type": "CLIPTextEncode"}
    info = read_generation(sd.comfy_png(graph))
    assert info.prompt is None and "longer than 2000 nodes" in info.notes[0]


@pytest.mark.parametrize("text", [12345, {"a": 1}, ["x"], None, True])
def test_non_string_text_inputs_are_a_note(text):
    info = read_generation(sd.comfy_png(sd.comfy_graph(positive=text)))
    assert info.prompt is None and "not text" in info.notes[0]


def test_non_string_invokeai_fields():
    info = read_generation(sd.invokeai_png({"positive_prompt": ["a"], "seed": "nope", "model": 3}))
    assert info.prompt is None and info.seed is None
    assert info.notes == ("'positive_prompt' is not text (list); not used",)


def test_a_settings_line_built_to_be_slow_for_a_backtracking_regex():
    # A1111's own findall is quadratic on a long run of words without a colon; ours is linear.
    text = "prompt\n" + "word " * 50_000 + "\nSteps: 20, Seed: 5, Size: 8x8"
    info = parse_parameters(text)
    assert info.seed == 5 and info.prompt.startswith("prompt\nword")
    assert parse_parameters("p\n" + "a" * 200_000 + ": b, c: d, e: f").seed is None


def test_an_oversized_parameters_text_is_a_note():
    info = parse_parameters("x" * 300_000)
    assert info.prompt is None and "too long" in info.notes[0]
