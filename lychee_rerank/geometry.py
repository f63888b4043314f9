"""How a model family cuts images: patch size × merge size, and how its recipe sizes an image (pure, no imports).

Qwen2-VL and Qwen2.5-VL cut 14 px patches merged 2×2 (sides in multiples of 28);
Qwen3-VL cuts 16 px patches merged 2×2 (multiples of 32). Each family's published
recipe also sizes an image its own way before the processor sees it; ``sizing`` names which.
"""

from __future__ import annotations

from dataclasses import dataclass

# The recipe runs qwen_vl_utils.fetch_image with its own wide bounds; the processor applies the pixel budget.
SIZE_FETCH = "fetch"
# fetch_image applies the pixel budget itself; the processor is called with do_resize=False.
SIZE_FETCH_BUDGET = "fetch-budget"
# The decoded image goes to the processor as it is; the processor applies the budget.
SIZE_AS_IS = "as-is"
SIZINGS = (SIZE_FETCH, SIZE_FETCH_BUDGET, SIZE_AS_IS)


@dataclass(frozen=True)
class Geometry:
    """A family's image geometry: ``factor`` (patch × merge) is what every kept side is a multiple of."""

    patch_size: int = 14
    merge_size: int = 2
    sizing: str = SIZE_FETCH

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @property
    def min_pixels(self) -> int:
        """The smallest budget the processor accepts: four merged patches (the recipes' min_pixels)."""
        return 4 * self.factor * self.factor


QWEN2_VL = Geometry(14, 2, SIZE_FETCH)  # Qwen2-VL, Qwen2.5-VL: lychee-rerank-mm's recipe
QWEN3_VL = Geometry(16, 2, SIZE_FETCH_BUDGET)  # Qwen3-VL: Qwen3-VL-Reranker's recipe
