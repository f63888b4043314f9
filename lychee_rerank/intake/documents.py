"""Documents of every shape: an image, a text, or an image with its text (a product photo and its title).

``Document`` is what callers pass when a document is more than one image;
:func:`as_documents` turns the API's items into :class:`DocumentInput`, in order:
for ``rank`` an item is an image source (path, bytes, ``(name, bytes)``, PIL image,
``ImageInput``) or a ``Document``; for ``rank_texts`` a string is the text itself.
A text document is named by its first :data:`TEXT_NAME_CHARS` characters and has
no path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import NoImagesError
from .inputs import ImageInput, as_input, bytes_digest

TEXT_NAME_CHARS = 80


@dataclass(frozen=True)
class Document:
    """A document to rank: an image source, a text, or both; ``name`` overrides the shown name."""

    image: Any = None
    text: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class DocumentInput:
    """One document as the reranker takes it: its image (not yet decoded) and/or its text."""

    name: str
    source: ImageInput | None = None
    text: str | None = None

    @property
    def path(self) -> str | None:
        return self.source.path if self.source is not None else None

    @property
    def kind(self) -> str:
        """'image', 'text' or 'image+text'."""
        if self.source is not None:
            return "image+text" if self.text else "image"
        return "text"

    def text_digest(self) -> str | None:
        return bytes_digest(self.text.encode("utf-8")) if self.text else None


def text_name(text: str) -> str:
    """A short one-line name for a text document."""
    line = " ".join(text.split())
    return line if len(line) <= TEXT_NAME_CHARS else line[: TEXT_NAME_CHARS - 1] + "…"


def as_document(item: Any, index: int, *, texts: bool = False) -> DocumentInput:
    """One API item as a DocumentInput (``texts``: a plain string is the document's text, not a path)."""
    if isinstance(item, DocumentInput):
        return item
    if isinstance(item, Document):
        return _from_document(item, index)
    if texts:
        if not isinstance(item, str):
            raise TypeError(f"text #{index + 1} is a {type(item).__name__}; pass strings (or Document objects)")
        return DocumentInput(name=text_name(item), text=item)
    source = as_input(item, index)
    return DocumentInput(name=source.name, source=source)


def _from_document(document: Document, index: int) -> DocumentInput:
    if document.image is None and not document.text:
        raise TypeError(f"document #{index + 1} has neither an image nor a text")
    source = as_input(document.image, index) if document.image is not None else None
    name = document.name or (source.name if source is not None else text_name(document.text or ""))
    return DocumentInput(name=name, source=source, text=document.text or None)


def as_documents(items: Iterable[Any], *, texts: bool = False) -> list[DocumentInput]:
    """Convert the API's documents, keeping their order."""
    return [as_document(item, i, texts=texts) for i, item in enumerate(items)]


def read_texts(path: str | Path) -> list[str]:
    """The texts of a file: one per line (blank lines skipped), or JSONL objects with a ``text`` field.

    Raises NoImagesError (no documents) for a missing or empty file, with a message naming it.
    """
    file = Path(path)
    if not file.is_file():
        raise NoImagesError(f"texts file {file} does not exist; give a file with one text per line")
    lines = [line for line in file.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    texts = [_jsonl_text(file, number, line) if _is_json_object(line) else line.strip() for number, line in
             enumerate(lines, 1)]
    if not texts:
        raise NoImagesError(f"texts file {file} holds no texts; give one text per line")
    return texts


def _is_json_object(line: str) -> bool:
    return line.lstrip().startswith("{")


def _jsonl_text(file: Path, number: int, line: str) -> str:
    try:
        text = json.loads(line)["text"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NoImagesError(f"{file}:{number}: a JSON line needs a \"text\" field ({exc})") from exc
    return str(text)
