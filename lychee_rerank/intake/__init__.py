"""Image intake: whatever the user gives becomes images the model can score, or placeholders saying why not.

The flow:

1. **collect** - API items (:func:`as_inputs`, :mod:`.inputs`), paths to files,
   folders and zips (:func:`collect_inputs`, :mod:`.folders`, :mod:`.zips`) or
   uploads (:func:`inputs_from_uploads`, :mod:`.uploads`) become
   :class:`ImageInput` items, in a stable natural order. Nothing is decoded
   yet: files and zip members are read lazily, with capped reads and zip-bomb
   limits. An item that cannot be taken (missing file, unsafe zip member) is
   kept as an input with ``problem`` set.
2. **prepare** - :func:`prepare_image` (:mod:`.decode`) reads and sniffs the
   bytes (:mod:`.sniff`), refuses decompression bombs, decodes, normalises
   orientation and colour to upright 8-bit sRGB (:mod:`.colour`) and fits the
   size to what the Qwen2.5-VL processor keeps unchanged (:mod:`.fit`), and reads
   the prompt and settings a generated image carries (:mod:`.generation`).

Nothing in intake raises for a bad image: it becomes a grey placeholder
(``PreparedImage.failed``) whose warnings say what was wrong. Only "no images
at all" and "more than ``max_images``" raise (NoImagesError, TooManyImagesError).
Intake imports only ``settings``, ``errors`` and ``results`` from the rest of
the package.
"""

from __future__ import annotations

from .decode import PreparedImage, prepare_image
from .documents import Document, DocumentInput, as_document, as_documents, read_texts, text_name
from .fit import fit_to_processor, visual_tokens
from .folders import CollectedInputs, collect_inputs, collect_paths
from .generation import GenerationInfo, generation_of, read_generation
from .inputs import (
    URL_PROBLEM,
    FileOpener,
    ImageInput,
    as_input,
    as_inputs,
    bytes_digest,
    check_image_count,
    image_digest,
    looks_like_url,
    natural_key,
    read_capped,
)
from .probe import header_size
from .sniff import describe_decode_error, describe_read_error, sniff_non_image
from .spool import Spool
from .uploads import inputs_from_uploads
from .zips import ZipLimits, zip_inputs

__all__ = [
    "URL_PROBLEM",
    "CollectedInputs",
    "Document",
    "DocumentInput",
    "FileOpener",
    "Spool",
    "as_document",
    "as_documents",
    "read_texts",
    "text_name",
    "GenerationInfo",
    "ImageInput",
    "PreparedImage",
    "ZipLimits",
    "as_input",
    "as_inputs",
    "bytes_digest",
    "check_image_count",
    "collect_inputs",
    "collect_paths",
    "describe_decode_error",
    "describe_read_error",
    "fit_to_processor",
    "generation_of",
    "header_size",
    "image_digest",
    "inputs_from_uploads",
    "looks_like_url",
    "natural_key",
    "prepare_image",
    "read_capped",
    "read_generation",
    "sniff_non_image",
    "visual_tokens",
    "zip_inputs",
]
