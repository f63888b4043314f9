"""The chat messages sent to the model: lychee's yes/no judge prompt and the generate-mode prompt.

The query is data: it goes into the ``<Query>:`` slot verbatim and is never
spliced into the instruction or the system prompt.
"""

from __future__ import annotations

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

GENERATE_SYSTEM_PROMPT = "You are an image relevance judge. You rate how well an image matches a text query."

GENERATE_USER_TEMPLATE = (
    "Rate how well the image matches the query on a scale from 0 to 10, "
    "where 0 means unrelated and 10 means a perfect match. "
    "Answer in the form 'Score: X' followed by one short reason.\nQuery: {query}"
)


def resolve_instruction(instruction: str | None) -> str:
    """A preset name, free text, or None (the default) -> the instruction text."""
    if instruction is None or not instruction.strip():
        return DEFAULT_INSTRUCTION
    return INSTRUCTION_PRESETS.get(instruction.strip(), instruction.strip())


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def yesno_messages(query: str, image: Image.Image, instruction: str | None = None) -> list[dict[str, Any]]:
    """lychee-rerank-mm's judge conversation for one (query, image) pair."""
    user = [
        _text(f"<Instruct>: {resolve_instruction(instruction)}"),
        _text("<Query>:"),
        _text(query),
        _text("\n<Document>:"),
        {"type": "image", "image": image},
    ]
    return [
        {"role": "system", "content": [_text(JUDGE_SYSTEM_PROMPT)]},
        {"role": "user", "content": user},
    ]


def generate_messages(query: str, image: Image.Image, instruction: str | None = None) -> list[dict[str, Any]]:
    """A plain Instruct model's conversation asking for a 0-10 score in words."""
    prompt = GENERATE_USER_TEMPLATE.format(query=query)
    if instruction:
        prompt = f"{resolve_instruction(instruction)}\n{prompt}"
    return [
        {"role": "system", "content": [_text(GENERATE_SYSTEM_PROMPT)]},
        {"role": "user", "content": [{"type": "image", "image": image}, _text(prompt)]},
    ]
