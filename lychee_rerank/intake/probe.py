"""An image's size from its header, without decoding it: what a run needs to put similar sizes together.

Reading a header costs a few KB of I/O; decoding a 12 MP photo costs far more. The
size is only a plan (EXIF rotation swaps the sides but not the area, which is what
counts); an input whose size cannot be read cheaply (a zip member, a broken file)
gives None and is planned as the largest kind, then prepared as usual.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from PIL import Image

from ..settings import MAX_DECODE_PIXELS
from .inputs import ImageInput, open_regular
from .sniff import open_formats, pillow_warnings


def header_size(source: ImageInput) -> tuple[int, int] | None:
    """(width, height) the image declares, or None when it cannot be read without decoding."""
    if source.image is not None:
        return source.image.size
    if source.problem is not None:
        return None
    if source.data is not None:
        return _declared_size(io.BytesIO(source.data))
    if source.path is not None:  # a zip member's path (archive.zip!member) is no file: unknown
        try:
            with open_regular(source.path) as stream:  # never a pipe: a header read must not block the run
                return _declared_size(stream)
        except OSError:
            return None
    return None  # a zip member: reading it means decompressing it


def _declared_size(stream: BinaryIO) -> tuple[int, int] | None:
    try:
        with pillow_warnings(MAX_DECODE_PIXELS), Image.open(stream, formats=open_formats()) as image:
            return image.size
    except Exception:  # noqa: BLE001 - any file Pillow cannot open (or read) is planned as unknown, decoded later
        return None
