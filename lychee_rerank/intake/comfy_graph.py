"""The prompt of a ComfyUI image, from the API-format graph in its ``prompt`` PNG chunk.

The graph maps node ids to ``{"class_type": ..., "inputs": {...}}``; an input is a value or a link
``[node_id, output_slot]``. The image's prompt is what its sampler was conditioned on: find the
sampler that made the saved image, follow its ``positive`` (and ``negative``) input back through
conditioning nodes (guiders, Flux guidance, combines) to the text encoders, and read their text,
which may itself be a link to a primitive or string node.

Nothing is guessed: when a text leads to a node that is not a plain string (a concatenation, a
wildcard or LLM node whose output only existed at run time), the prompt is None and a note says
which node stopped the walk. Every walk is iterative, remembers the nodes it has seen (a cycle
ends it) and visits at most :data:`MAX_VISITS` nodes; graphs of more than :data:`MAX_NODES` nodes
are not read at all.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

MAX_NODES = 5_000  # the largest real workflows have a few hundred nodes
MAX_VISITS = 2_000  # nodes one walk may visit
TEXT_INPUTS = ("text", "text_g", "text_l", "t5xxl", "clip_l", "prompt", "positive_prompt")
STRING_INPUTS = ("value", "text", "string", "String", "prompt", "Text")
CONDITIONING_INPUTS = ("conditioning", "conditioning_to", "conditioning_1", "conditioning_2", "conditioning_from",
                       "positive", "cond")
SEED_INPUTS = ("seed", "noise_seed")
SETTING_INPUTS = (("sampler_name", "Sampler"), ("scheduler", "Schedule type"), ("steps", "Steps"), ("cfg", "CFG scale"),
                  ("denoise", "Denoising strength"))
MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name")
MAX_OUTPUTS = 20  # output nodes tried when looking for the sampler that made the image
OUTPUT_HINTS = ("save", "preview")


@dataclass
class ComfyPrompt:
    """What the graph says: prompt, negative prompt, seed, settings, and notes on what could not be read."""

    prompt: str | None = None
    negative: str | None = None
    seed: int | None = None
    settings: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Unresolved(Exception):
    """A walk reached something it cannot read without guessing; the message says what."""


def read_comfy_graph(graph: Any) -> ComfyPrompt:
    """Resolve ``graph`` (the parsed ``prompt`` JSON); never raises."""
    result = ComfyPrompt()
    if not isinstance(graph, dict):
        result.notes.append("ComfyUI 'prompt' is not a graph (a JSON object of nodes); not read")
        return result
    if len(graph) > MAX_NODES:
        result.notes.append(f"ComfyUI graph of {len(graph)} nodes is over the {MAX_NODES}-node limit; not read")
        return result
    nodes = {str(key): node for key, node in graph.items() if isinstance(node, dict)}
    walker = _Walker(nodes)
    sampler_id, problem = walker.sampler()
    if sampler_id is None:
        result.notes.append(problem or "ComfyUI graph has no sampler; no prompt read")
        return result
    if problem:
        result.notes.append(problem)
    sampler = walker.inputs(sampler_id)
    conditioning = sampler
    guider = sampler.get("guider")
    if _is_link(guider) and str(guider[0]) in nodes:
        conditioning = walker.inputs(str(guider[0]))
    for name, attribute in (("positive", "prompt"), ("negative", "negative")):
        source = conditioning.get(name, conditioning.get("conditioning") if name == "positive" else None)
        if source is None:
            continue
        try:
            setattr(result, attribute, walker.conditioning_text(source) or None)
        except _Unresolved as exc:
            result.notes.append(f"ComfyUI graph: the {name} prompt could not be resolved ({exc}); not used")
    result.seed = walker.seed(sampler)
    result.settings = walker.settings(sampler, conditioning)
    return result


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)) \
        and not isinstance(value[0], bool)


class _Walker:
    """Bounded walks over one graph."""

    def __init__(self, nodes: dict[str, dict[str, Any]]):
        self.nodes = nodes

    def inputs(self, node_id: str) -> dict[str, Any]:
        inputs = self.nodes.get(node_id, {}).get("inputs")
        return inputs if isinstance(inputs, dict) else {}

    def kind(self, node_id: str) -> str:
        kind = self.nodes.get(node_id, {}).get("class_type")
        return kind if isinstance(kind, str) else "?"

    def describe(self, node_id: str) -> str:
        return f"node {node_id} ({self.kind(node_id)[:60]})"

    # ------------------------------------------------------------ the sampler

    def sampler(self) -> tuple[str | None, str | None]:
        """The sampler that made the saved image, and a note when that choice was not obvious."""
        samplers = [node_id for node_id in self.nodes if self._is_sampler(node_id)]
        if not samplers:
            return None, None
        if len(samplers) == 1:
            return samplers[0], None
        outputs = (node_id for node_id in self.nodes if self._is_output(node_id))
        for output in itertools.islice(outputs, MAX_OUTPUTS):
            nearest = self._nearest_sampler(output, set(samplers))
            if nearest is not None:
                return nearest, None
        chosen = sorted(samplers, key=_id_key)[-1]
        return chosen, (f"ComfyUI graph has {len(samplers)} samplers and no saved image to tell which made it; "
                        f"read {self.describe(chosen)}")

    def _is_sampler(self, node_id: str) -> bool:
        inputs = self.inputs(node_id)
        linked = _is_link(inputs.get("positive")) or _is_link(inputs.get("guider"))
        return linked and "sampler" in self.kind(node_id).lower()

    def _is_output(self, node_id: str) -> bool:
        kind = self.kind(node_id).lower()
        return any(hint in kind for hint in OUTPUT_HINTS) and _is_link(self.inputs(node_id).get("images"))

    def _nearest_sampler(self, start: str, samplers: set[str]) -> str | None:
        """Breadth-first up the links from an output node: the first sampler met made the image."""
        queue, seen = [start], {start}
        while queue and len(seen) <= MAX_VISITS:
            node_id = queue.pop(0)
            if node_id in samplers:
                return node_id
            for value in self.inputs(node_id).values():
                if _is_link(value) and str(value[0]) in self.nodes and str(value[0]) not in seen:
                    seen.add(str(value[0]))
                    queue.append(str(value[0]))
        return None

    # ------------------------------------------------------------ prompt text

    def conditioning_text(self, source: Any) -> str:
        """The text behind a conditioning input: the encoders it comes from, their texts joined."""
        if not _is_link(source):
            raise _Unresolved("the sampler's input is not a link to a text encoder")
        texts: list[str] = []
        stack, seen = [str(source[0])], set()
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            if len(seen) > MAX_VISITS:
                raise _Unresolved(f"the conditioning chain is longer than {MAX_VISITS} nodes")
            if node_id not in self.nodes:
                raise _Unresolved(f"it links to node {node_id[:40]}, which is not in the graph")
            inputs = self.inputs(node_id)
            encoder_inputs = [name for name in TEXT_INPUTS if name in inputs]
            if encoder_inputs:
                for name in encoder_inputs:
                    text = self.string(inputs[name], f"{self.describe(node_id)}'s {name}")
                    if text and text not in texts:
                        texts.append(text)
                continue
            upstream = [inputs[name] for name in CONDITIONING_INPUTS if _is_link(inputs.get(name))]
            if not upstream:
                raise _Unresolved(f"{self.describe(node_id)} is neither a text encoder nor passes conditioning on")
            stack.extend(str(link[0]) for link in reversed(upstream))
        return ", ".join(texts) if len(texts) > 1 and all("\n" not in t for t in texts) else "\n".join(texts)

    def string(self, value: Any, where: str) -> str:
        """A text input's string: the value, or a link followed through primitive/string nodes."""
        seen: set[str] = set()
        while _is_link(value):
            node_id = str(value[0])
            if node_id in seen:
                raise _Unresolved(f"{where} links round in a cycle")
            seen.add(node_id)
            if node_id not in self.nodes or len(seen) > MAX_VISITS:
                raise _Unresolved(f"{where} links to node {node_id[:40]}, which is not in the graph")
            inputs = self.inputs(node_id)
            names = [name for name in STRING_INPUTS if name in inputs]
            if len(names) != 1 or len(inputs) > 2:
                raise _Unresolved(f"{where} comes from {self.describe(node_id)}, which is not a plain string")
            where, value = f"{self.describe(node_id)}'s {names[0]}", inputs[names[0]]
        if not isinstance(value, str):
            raise _Unresolved(f"{where} is a {type(value).__name__}, not text")
        return value.strip()

    # ------------------------------------------------------------ seed and settings

    def seed(self, sampler: dict[str, Any]) -> int | None:
        for value in self._seed_sources(sampler):
            seen: set[str] = set()
            while _is_link(value) and str(value[0]) not in seen and len(seen) < 50:
                seen.add(str(value[0]))
                inputs = self.inputs(str(value[0]))
                value = next((inputs[name] for name in (*SEED_INPUTS, "value", "int") if name in inputs), None)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        return None

    def _seed_sources(self, sampler: dict[str, Any]) -> list[Any]:
        sources = [sampler[name] for name in SEED_INPUTS if name in sampler]
        noise = sampler.get("noise")  # SamplerCustomAdvanced: the seed sits on its RandomNoise node
        if _is_link(noise):
            sources.append(noise)
        return sources

    def settings(self, sampler: dict[str, Any], conditioning: dict[str, Any]) -> list[tuple[str, str]]:
        settings: list[tuple[str, str]] = []
        for name, label in SETTING_INPUTS:
            value = sampler.get(name, conditioning.get(name))
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                settings.append((label, str(value)[:200]))
        model = self._model(sampler.get("model", conditioning.get("model")))
        if model:
            settings.append(("Model", model))
        size = self._size(sampler.get("latent_image"))
        if size:
            settings.append(("Size", size))
        return settings

    def _model(self, link: Any) -> str | None:
        seen: set[str] = set()
        while _is_link(link) and str(link[0]) not in seen and len(seen) < 50:
            seen.add(str(link[0]))
            inputs = self.inputs(str(link[0]))
            for name in MODEL_INPUTS:
                if isinstance(inputs.get(name), str):
                    return inputs[name][:200]
            link = inputs.get("model")
        return None

    def _size(self, link: Any) -> str | None:
        if not _is_link(link):
            return None
        inputs = self.inputs(str(link[0]))
        width, height = inputs.get("width"), inputs.get("height")
        if isinstance(width, int) and isinstance(height, int):
            return f"{width}x{height}"
        return None


def _id_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), node_id) if node_id.isdigit() and len(node_id) < 12 else (1 << 62, node_id)
