"""Every name list, default and limit of lychee-rerank, defined once.

Pure constants (no torch, no Pillow): any module may import this one. A value
that a user can change (a keyword argument, a CLI option, an app control) has
its default here; modules take the value as an argument rather than reading
this file again.
"""

from __future__ import annotations

from pathlib import Path

# --- scoring modes and how a score was obtained --------------------------------------------------
MODE_AUTO, MODE_YESNO, MODE_GENERATE = "auto", "yesno", "generate"
MODES = (MODE_AUTO, MODE_YESNO, MODE_GENERATE)

PARSE_YESNO = "yesno"  # 10 * p(yes) at the last position
PARSE_PRIMARY = "primary"  # generate mode: an explicit score form ("Score: 8.6", "8.6/10")
PARSE_FALLBACK = "fallback"  # generate mode: the first number in 0-10
PARSE_NONE = "none"  # generate mode: no number found, scored 0.0
PARSE_FAILED = "failed"  # image unreadable, OOM twice, NaN logits: lowest score
PARSE_SKIPPED = "skipped"  # the run was stopped before this image
PARSE_NO_PROMPT = "no_prompt"  # own-prompt ranking: the image carries no prompt and no query was typed
PARSER_METHODS = (PARSE_PRIMARY, PARSE_FALLBACK, PARSE_NONE)
NOT_SCORED = (PARSE_FAILED, PARSE_SKIPPED, PARSE_NO_PROMPT)

GENERATE_MAX_NEW_TOKENS = 24
MAX_QUERY_TOKENS = 512  # a longer query is almost always a pasted document; it is cut with a warning

# --- devices and precision ---------------------------------------------------------------------
DEVICES = ("auto", "cpu", "cuda")
DTYPE_NAMES = ("auto", "bfloat16", "float16", "float32")
DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
QUANTIZATIONS = ("int8", "nf4")
ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
GPU_MEMORY_RESERVE_GIB = 1.2  # kept free on each GPU by device_map="auto" for image tensors
BATCH_AUTO = "auto"  # batch_size="auto": a visual-token budget per batch from free GPU memory; 1 on the CPU
BATCH_CHOICES = (BATCH_AUTO, 1, 2, 4, 8, 16, 32)  # the app's menu
PREFETCH_BATCHES = 2  # batches prepared ahead of the model on a worker thread; 0 = sequential
# Below this many parameters outside the embedding table, a model on the CPU runs on one torch thread:
# its matrices are too small for threads to pay (benchmarks/cpu_threads.py: the 1.7M-parameter demo
# and a 7.7M-parameter model ran faster on one thread than on two; a 41M one ran faster on two).
SMALL_MODEL_PARAMS = 16_000_000

# --- image geometry (Qwen2.5-VL: 14 px patches merged 2x2) --------------------------------------
PATCH_SIZE = 14
MERGE_SIZE = 2
PATCH_FACTOR = PATCH_SIZE * MERGE_SIZE  # 28: sides the processor keeps are multiples of this
MIN_PIXELS = 4 * PATCH_FACTOR * PATCH_FACTOR  # 56 x 56, the published recipe's min_pixels
DEFAULT_MAX_PIXELS = 1280 * PATCH_FACTOR * PATCH_FACTOR  # the published recipe's max_pixels
MAX_ASPECT_RATIO = 200  # qwen_vl_utils / transformers' smart_resize refuse beyond this
# The published recipe's qwen_vl_utils.fetch_image first resizes an image to multiples of 28 within
# 4..16384 patches of 28x28; the processor then resizes it to the pixel budget.
RECIPE_MAX_PIXELS = 16384 * PATCH_FACTOR * PATCH_FACTOR
# The app's image-size presets, in merged patches (visual tokens): "standard" is the model's own
# budget (None: what its folder declares, else its family's recipe); the others trade fidelity for
# speed, and become max_pixels = patches × the family's factor² (28² or 32²).
PIXEL_PRESETS: dict[str, int | None] = {
    "standard": None,
    "balanced": 640,
    "fast": 256,
}
DEFAULT_PIXEL_PRESET = "standard"

# --- intake limits -------------------------------------------------------------------------------
DEFAULT_MAX_IMAGES = 1_000  # per run; raise with max_images= or --max-images
MAX_DECODE_PIXELS = 100_000_000  # a header declaring more is refused (decompression bomb)
MAX_FILE_BYTES = 512 * 1024**2  # one file or zip member
MAX_ZIP_BYTES = 2 * 1024**3  # total uncompressed image bytes in one zip
MAX_ZIP_MEMBERS = 10_000
IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".bmp", ".gif",
        ".tif", ".tiff", ".heic", ".heif", ".avif",
    }
)
ZIP_EXTENSION = ".zip"
# What the app's uploader accepts: every image extension plus zips, without the dots.
UPLOAD_TYPES = tuple(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS | {ZIP_EXTENSION}))
IMAGE_TYPES = tuple(sorted(ext.lstrip(".") for ext in IMAGE_EXTENSIONS))  # a single image (the reference)

# --- models --------------------------------------------------------------------------------------
DEMO_ALIAS = "demo"
DEMO_MODEL_DIR = Path(__file__).parent / "demo" / "model"
DEMO_EXAMPLES_DIR = Path(__file__).parent / "demo" / "examples"
