"""The uploader's files written to disk while the user goes on, not when Run is pressed (issue 27).

Between the Run click and the model's first image, writing 150 uploads to their spool and reading them back for
the score cache's key took 22-60 ms on 2 cores, in the same moment as the page's own redraw; a second run on the
same files wrote them again. Here the page offers the uploader's files on each rerun (:meth:`UploadPrep.offer`):
a set not seen before is spooled and digested on a worker thread, and Run takes the result (waiting for it when
the click came first). A set replaced in the uploader is dropped, and its folder with it once no run holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..intake import ImageInput, Spool, inputs_from_uploads
from .engine import input_digest

_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lychee-upload-prep")


@dataclass(frozen=True)
class PreparedUploads:
    """A set of uploads on disk: its inputs (zips expanded) and their content digests, in the same order."""

    spool: Spool
    inputs: list[ImageInput]
    digests: list[str]


def prepare(files: Sequence[tuple[str, bytes]]) -> PreparedUploads:
    """Spool ``files`` (name, bytes) and digest what they hold; raises what :func:`inputs_from_uploads` raises."""
    spool = Spool()
    inputs = inputs_from_uploads(list(files), spool=spool)
    return PreparedUploads(spool, inputs, [input_digest(item) for item in inputs])


class UploadPrep:
    """One page's uploads in preparation: the set its uploader last held."""

    def __init__(self) -> None:
        self._key: tuple = ()
        self._future: Future[PreparedUploads] | None = None

    def offer(self, uploads: Sequence[Any]) -> None:
        """The uploader's files now (Streamlit's ``UploadedFile`` objects); a set not seen before is prepared."""
        key = _key(uploads)
        if key != self._key:
            self._key = key
            files = [(upload.name, upload.getvalue()) for upload in uploads]
            self._future = _WORKER.submit(prepare, files) if files else None

    def take(self, uploads: Sequence[Any]) -> Future[PreparedUploads] | None:
        """The preparation of exactly ``uploads``; None if they were not offered."""
        return self._future if uploads and _key(uploads) == self._key else None


def _key(uploads: Sequence[Any]) -> tuple:
    return tuple((upload.file_id, upload.name, upload.size) for upload in uploads)
