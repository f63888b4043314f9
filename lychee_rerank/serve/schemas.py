"""Request and response models of ``/v1/rerank``, and the query/document shapes reduced to (text, image).

Accepted shapes, for the query and for each document (Cohere, Jina and vLLM clients all send one of them):

* a string: a text (Cohere, Jina, vLLM);
* ``{"text": ...}``, ``{"image": ...}`` or both (Jina's multimodal rerankers; ours);
* vLLM's ``{"content": [{"type": "image_url", "image_url": {"url": ...}}, {"type": "text", "text": ...}]}``
  (``image_url`` may also be the URL string itself, and ``{"type": "image", "image": ...}`` is taken too).

``documents`` is a list of those; or, as vLLM also sends it, one ``{"content": [...]}`` object whose parts
are one document each.

An image is a ``data:`` URI, bare base64, an ``http(s)`` URL or a server path (the last two only where
the server allows them, see :mod:`.sources`). A document holds at most one image; several text parts
are joined with newlines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidRequestError


class ImageURL(BaseModel):
    url: str


class ContentPart(BaseModel):
    """One part of a vLLM/OpenAI-style content list."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["text", "image_url", "image"]
    text: str | None = None
    image_url: ImageURL | str | None = None
    image: str | None = None


class Item(BaseModel):
    """A query or document given as an object: ``text`` and/or ``image``, or a vLLM ``content`` list."""

    model_config = ConfigDict(extra="ignore")
    text: str | None = None
    image: str | None = None
    content: list[ContentPart] | str | None = None


class RerankRequest(BaseModel):
    """The Cohere/Jina/vLLM rerank request, plus our ``instruction``; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = Field(None, description="ignored: the server ranks with the model it loaded")
    query: str | Item = Field(..., description='a text, or {"text": ..., "image": ...}')
    documents: list[str | Item] | Item = Field(
        ..., description='texts, {text, image} objects or vLLM content lists; or vLLM\'s {"content": [...]} object '
                         "whose parts are one document each"
    )
    top_n: int | None = Field(None, ge=0, description="return only the best N results (0 or absent: all, as vLLM)")
    return_documents: bool = Field(False, description="echo each document in its result")
    instruction: str | None = Field(
        None, description="an instruction preset (default, product, design, generated) or free text"
    )


class RerankResult(BaseModel):
    index: int = Field(..., description="position of the document in the request")
    relevance_score: float = Field(..., description="p(yes), 0-1 (generate mode: score / 10)")
    score: float = Field(..., description="0-10, as the library and the CLI give it")
    parse_method: str
    warning: str | None = None
    scored_size: str | None = Field(None, description="WxH of the image the model saw")
    document: dict[str, Any] | None = None


class Usage(BaseModel):
    documents: int
    images: int


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult]
    usage: Usage
    warnings: list[str] = Field(default_factory=list, description="about the whole request (a query cut short)")
    meta: dict[str, Any] = Field(default_factory=dict)


def document_items(documents: list[str | Item] | Item) -> list[str | Item]:
    """The request's documents one by one: vLLM's ``{"content": [part, ...]}`` object is one document per part."""
    if isinstance(documents, list):
        return documents
    if isinstance(documents.content, list):
        return [Item(content=[part]) for part in documents.content]
    return [documents]


@dataclass(frozen=True)
class Parts:
    """A query or document reduced to its text and its image reference (either may be None)."""

    text: str | None
    image: str | None

    def echo(self) -> dict[str, Any]:
        """The document as ``return_documents`` gives it back."""
        return {key: value for key, value in (("text", self.text), ("image", self.image)) if value is not None}


def parts_of(item: str | Item, what: str) -> Parts:
    """``item`` as (text, image reference); raises InvalidRequestError for a shape we cannot take."""
    if isinstance(item, str):
        return Parts(text=item, image=None)
    texts = [item.text] if item.text else []
    images = [item.image] if item.image else []
    content = item.content
    if isinstance(content, str):
        texts.append(content)
    for part in content or []:
        if part.type == "text" and part.text:
            texts.append(part.text)
        elif part.type == "image_url" and part.image_url is not None:
            images.append(part.image_url if isinstance(part.image_url, str) else part.image_url.url)
        elif part.type == "image" and part.image:
            images.append(part.image)
    if len(images) > 1:
        raise InvalidRequestError(f"{what} has {len(images)} images; a query or document holds at most one")
    return Parts(text="\n".join(texts) if texts else None, image=images[0] if images else None)
