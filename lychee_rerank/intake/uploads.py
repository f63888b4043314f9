"""Files uploaded through the app, as (filename, bytes), turned into ImageInputs.

* A ``.zip`` upload expands into its image members (see :mod:`.zips`), named
  ``photos.zip/sub/a.png`` with no disk ``path``.
* Every other upload is kept whatever its type: the decoder says what is wrong
  with a file that is not an image. One over the per-file size limit becomes a
  problem input.
* Browsers send names like ``C:\\fakepath\\b.jpg``; the display name keeps
  '/' separators and drops drives, ``..`` and leading slashes.
* Given a :class:`~.spool.Spool` (the app does), the bytes are written to disk
  and the inputs read them back when needed: nothing holds them in memory.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable

from ..errors import NoImagesError
from ..settings import DEFAULT_MAX_IMAGES, MAX_FILE_BYTES, ZIP_EXTENSION
from .inputs import ImageInput, check_image_count, human_size, problem_input
from .spool import Spool
from .zips import ZipLimits, zip_inputs

logger = logging.getLogger(__name__)


def inputs_from_uploads(
    files: list[tuple[str, bytes]],
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    zip_limits: ZipLimits | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    spool: Spool | None = None,
) -> list[ImageInput]:
    """Inputs for (filename, bytes) uploads: ``.zip`` uploads expand into their image members.

    Other files are kept whatever their type (the decoder says what is wrong with them).
    With a ``spool`` the bytes are written there and the inputs read them back when needed.
    Raises NoImagesError for no files, TooManyImagesError above ``max_images``.
    """
    limits = zip_limits or ZipLimits(max_member_bytes=max_file_bytes)
    notes: list[str] = []
    inputs: list[ImageInput] = []
    for raw_name, data in files:
        name = _upload_name(raw_name)
        if name.lower().endswith(ZIP_EXTENSION):
            opener = spool.zip_opener(name, data) if spool is not None else _bytes_zip(bytes(data))
            inputs.extend(zip_inputs(name, opener, limits, notes))
        elif len(data) > max_file_bytes:
            inputs.append(problem_input(name, f"file too large: over the {human_size(max_file_bytes)} limit per file"))
        elif spool is not None:
            inputs.append(ImageInput(name=name, opener=spool.opener(name, data, max_file_bytes)))
        else:
            inputs.append(ImageInput(name=name, data=bytes(data)))
    for note in notes:
        logger.info("%s", note)
    if not inputs:
        raise NoImagesError("no images were uploaded" if not files else "the uploaded zip files hold no images")
    check_image_count(len(inputs), max_images, "the uploads")
    return inputs


def _upload_name(raw: str) -> str:
    """A display name for an upload: '/' separators, no drive, no '..' or leading '/'."""
    parts = [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    if parts and re.match(r"^[A-Za-z]:$", parts[0]):
        parts = parts[1:]
    return "/".join(parts) or "upload"


def _bytes_zip(data: bytes) -> Callable[[], zipfile.ZipFile]:
    return lambda: zipfile.ZipFile(io.BytesIO(data))
