"""Near-duplicate stacks: the same shot re-exported, resized, re-encoded or lightly cropped, shown as one.

* Each image gets a 64-bit perceptual hash (``imagehash.phash``: the DCT of a 32×32 greyscale copy,
  EXIF orientation applied). Two images are near-duplicates when their hashes differ in at most
  :data:`STACK_THRESHOLD` (10) of the 64 bits. Measured on generated scenes: resized to half,
  JPEG quality 60, cropped by 2 %, or 10 % brighter: at most 6 bits apart; distinct images: at least 20.
* Stacks are formed best first: the best result not yet in a stack leads a new one, and every
  later result within the threshold of that leader joins it. So a stack always shows its best
  image, and no chain of small steps can pull two different pictures together.
* An image that cannot be read or hashed (or was not scored) is a stack of its own. Exact
  duplicates (``duplicate_of``) are scored once already; they hash alike and join their original's stack.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from .results import RankResult

logger = logging.getLogger(__name__)

STACK_THRESHOLD = 10  # differing bits of 64, inclusive
HASH_PIXELS_LIMIT = 100_000_000  # a larger image is not decoded to be hashed (a decompression bomb guard)


@dataclass(frozen=True)
class Stack:
    """Near-duplicates, best first; ``number`` counts stacks from 1 in the order of their best result."""

    number: int
    results: tuple[RankResult, ...]

    @property
    def best(self) -> RankResult:
        return self.results[0]

    @property
    def size(self) -> int:
        return len(self.results)


def perceptual_hash(data: bytes) -> int | None:
    """The 64-bit pHash of an encoded image as an int, or None when it cannot be decoded."""
    # lazy: imagehash pulls in scipy and PyWavelets; only stacking needs it
    import imagehash

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > HASH_PIXELS_LIMIT:
                    return None
                image.draft("L", (256, 256))  # JPEGs decode at reduced size: the hash looks at 32×32 anyway
                upright = ImageOps.exif_transpose(image).convert("L")
        return int(str(imagehash.phash(upright)), 16)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        logger.info("not hashed for stacking: %s", exc)
        return None


def hash_results(results: Iterable[RankResult], read: Callable[[RankResult], bytes | None]) -> dict[int, int]:
    """Input index -> perceptual hash for every scored result whose bytes ``read`` returns and that decodes."""
    hashes = {}
    for result in results:
        if not result.ok:
            continue
        try:
            data = read(result)
        except OSError as exc:
            logger.info("%s not read for stacking: %s", result.name, exc)
            continue
        value = perceptual_hash(data) if data else None
        if value is not None:
            hashes[result.index] = value
    return hashes


def find_stacks(results: Sequence[RankResult], hashes: Mapping[int, int],
                threshold: int = STACK_THRESHOLD) -> list[Stack]:
    """Near-duplicate stacks of ``results`` (best first, as ranked), each led by its best result."""
    ordered = sorted(results, key=lambda r: r.rank)
    placed: set[int] = set()
    stacks = []
    for leader in ordered:
        if leader.index in placed:
            continue
        members = [leader]
        placed.add(leader.index)
        lead_hash = hashes.get(leader.index)
        if lead_hash is not None:
            for other in ordered:
                other_hash = hashes.get(other.index)
                if other.index not in placed and other_hash is not None and (
                        (lead_hash ^ other_hash).bit_count() <= threshold):
                    members.append(other)
                    placed.add(other.index)
        stacks.append(Stack(len(stacks) + 1, tuple(members)))
    return stacks


def stack_fields(stacks: Iterable[Stack]) -> dict[int, dict[str, Any]]:
    """Input index -> ``{"stack", "stack_size"}``: the columns every export adds for stacked results."""
    return {result.index: {"stack": stack.number, "stack_size": stack.size}
            for stack in stacks for result in stack.results}
