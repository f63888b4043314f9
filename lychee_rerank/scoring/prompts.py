"""The chat messages sent to the model: lychee's yes/no judge prompt and the generate-mode prompt.

Every query and document shape uses the published recipe's layout (DESIGN.md §3):
``<Instruct>: {instruction}``, then ``<Query>:`` followed by the query's image and
text, then ``\\n<Document>:`` followed by the document's image and text; a part
that is absent is left out. The query is data: it goes into the ``<Query>:``
slot verbatim and is never spliced into the instruction or the system prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

JUDGE_SYSTEM_PROMPT = (
    "Judge whether the Document meets the requirements based on the Query and the "
    'Instruct provided. Note that the answer can only be "yes" or "no".'
)

DEFAULT_INSTRUCTION = "Given a search query, retrieve relevant images that match the query."

# Presets for the three user groups; "default" is what the API uses when none is given.
INSTRUCTION_PRESETS: dict[str, str] = {
    "default": DEFAULT_INSTRUCTION,
    "product": (
        "Given an e-commerce product description, retrieve product photos that show exactly "
        "this product and are suitable as the main product image."
    ),
    "design": (
        "Given a design brief, retrieve reference images whose style, colour, composition "
        "and subject match the brief."
    ),
    "generated": (
        "Given a text-to-image prompt, retrieve generated images that follow the prompt "
        "faithfully in subject, style and details."
    ),
}

# The default instruction of each task (query shape -> document shape), when none is given.
TASK_INSTRUCTIONS: dict[tuple[str, str], str] = {
    ("text", "image"): DEFAULT_INSTRUCTION,
    ("image", "image"): "Given an image, retrieve images that are similar to it.",
    ("image+text", "image"): (
        "Given an image and a text, retrieve images that are similar to the image and match the text."
    ),
    ("text", "text"): "Given a search query, retrieve relevant texts that match the query.",
    ("image", "text"): "Given an image, retrieve the text that best describes it.",
    ("image+text", "text"): "Given an image and a text, retrieve the text that best matches both.",
}

GENERATE_SYSTEM_PROMPT = "You are an image relevance judge. You rate how well an image matches a text query."

GENERATE_USER_TEMPLATE = (
    "Rate how well the image matches the query on a scale from 0 to 10, "
    "where 0 means unrelated and 10 means a perfect match. "
    "Answer in the form 'Score: X' followed by one short reason.\nQuery: {query}"
)
GENERATE_SCALE = (
    "on a scale from 0 to 10, where 0 means unrelated and 10 means a perfect match. "
    "Answer in the form 'Score: X' followed by one short reason."
)


@dataclass(frozen=True)
class Content:
    """One side of a pair, a query or a document: an image, a text, or both."""

    text: str | None = None
    image: Image.Image | None = None
    key: str | None = None  # identifies the image's content (its digest) for the vision-feature cache

    @property
    def kind(self) -> str:
        """'text', 'image' or 'image+text' (what the instruction defaults are keyed by)."""
        if self.image is not None and self.text:
            return "image+text"
        return "image" if self.image is not None else "text"

    def parts(self) -> list[dict[str, Any]]:
        """Chat content parts, image first, absent parts left out."""
        found = [{"type": "image", "image": self.image}] if self.image is not None else []
        return found + ([_text(self.text)] if self.text else [])


def resolve_instruction(instruction: str | None, default: str = DEFAULT_INSTRUCTION) -> str:
    """A preset name, free text, or None -> the instruction text; None and ``"default"`` give ``default``
    (the task's default instruction)."""
    if instruction is None or instruction.strip() in ("", "default"):
        return default
    return INSTRUCTION_PRESETS.get(instruction.strip(), instruction.strip())


def task_instruction(query_kind: str, document_kind: str) -> str:
    """The default instruction for a query shape and a document shape ('image+text' documents count as images)."""
    document = "text" if document_kind == "text" else "image"
    return TASK_INSTRUCTIONS[(query_kind, document)]


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def yesno_messages(query: Content, document: Content, instruction: str | None = None) -> list[dict[str, Any]]:
    """lychee-rerank-mm's judge conversation for one (query, document) pair."""
    user = [
        _text(f"<Instruct>: {resolve_instruction(instruction)}"),
        _text("<Query>:"),
        *query.parts(),
        _text("\n<Document>:"),
        *document.parts(),
    ]
    return [
        {"role": "system", "content": [_text(JUDGE_SYSTEM_PROMPT)]},
        {"role": "user", "content": user},
    ]


def generate_messages(query: Content, document: Content, instruction: str | None = None) -> list[dict[str, Any]]:
    """A plain Instruct model's conversation asking for a 0-10 score in words (reference image first)."""
    images = [{"type": "image", "image": c.image} for c in (query, document) if c.image is not None]
    prompt = _generate_prompt(query, document)
    if instruction:
        prompt = f"{resolve_instruction(instruction)}\n{prompt}"
    return [
        {"role": "system", "content": [_text(GENERATE_SYSTEM_PROMPT)]},
        {"role": "user", "content": [*images, _text(prompt)]},
    ]


def _generate_prompt(query: Content, document: Content) -> str:
    if query.image is None and document.image is not None and not document.text:
        return GENERATE_USER_TEMPLATE.format(query=query.text or "")
    first = "The first image is the reference." if query.image is not None else ""
    candidate = "the second image" if query.image is not None and document.image is not None else (
        "the image" if document.image is not None else "the candidate text")
    target = "the reference image" if query.image is not None else "the query"
    lines = [first, f"Rate how well {candidate} matches {target} {GENERATE_SCALE}"]
    if query.text:
        lines.append(f"Query: {query.text}")
    if document.text:
        lines.append(f"Candidate text: {document.text}")
    return "\n".join(line for line in lines if line)
