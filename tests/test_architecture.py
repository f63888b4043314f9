"""The package's shape, checked by reading its source (AST): layers, cycles, lazy imports, sizes.

The rules (DESIGN.md §1): ``intake/`` and ``scoring/`` never import each other;
``reranker`` composes them; ``export``/``evaluation``/``demo``, then ``app/``,
then ``cli`` sit on top and only import downward; no import cycle anywhere; an
import inside a function only where it keeps ``import lychee_rerank`` (or the
CLI's argument checks) light, with a ``# lazy: reason`` comment above it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lychee_rerank"
APP = PACKAGE.parent / "view.py"

# Lower layers never import higher ones; within layer 2 the units are independent of each other.
LAYERS = {
    "settings": 0, "errors": 0, "safe_text": 0, "geometry": 0,
    "results": 1,
    "intake": 2, "scoring": 2, "runtime": 2,
    "reranker": 3, "run": 3, "execution": 3,
    "xmp": 4, "sidecars": 4, "groups": 4, "stacks": 4, "copyout": 4, "outfiles": 4,
    "export": 4, "evaluation": 4, "own_prompts": 4, "demo": 4, "batch": 4, "serve": 4, "terminal": 4,
    "app": 5,
    "cli": 6, "takeout": 6, "bench_command": 6,
}
HEAVY = {"torch", "torchvision", "transformers", "streamlit", "tqdm", "jieba", "pillow_heif", "bitsandbytes",
         "qwen_vl_utils", "accelerate", "ray", "pyarrow", "pyexiv2", "imagehash"}
MAX_MODULE_LINES = 300
LONG_MODULES = {"app/text.py": "a data table of UI strings", "demo/train.py": "the demo trainer (the issue allows it)"}
MAX_FUNCTION_LINES = 40


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """The absolute module names an import statement names (``from . import x`` -> pkg.x when x is a module)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    names = [f"{base}.{alias.name}" for alias in node.names]
    return [name if name in modules() else base for name in names]


def imports_of(name: str) -> list[tuple[str, ast.stmt, bool]]:
    """(imported module, statement, inside a function) for every import in module ``name``."""
    path = modules()[name]
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in resolve(name, child, path.name == "__init__.py"):
                    found.append((target, child, in_function))
            visit(child, inner)

    visit(tree(path), False)
    return found


def internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for name in modules():
        for target, _, _ in imports_of(name):
            if target.startswith("lychee_rerank") and target != name and target in modules():
                edges[name].add(target)
    return edges


def unit(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_walker_sees_the_package():
    assert {"lychee_rerank.reranker", "lychee_rerank.intake.decode", "lychee_rerank.scoring.yesno",
            "lychee_rerank.runtime.loading", "lychee_rerank.app.jobs", "lychee_rerank.cli"} <= set(modules())
    edges = internal_edges()
    assert "lychee_rerank.scoring.yesno" in edges["lychee_rerank.reranker"] or any(
        t.startswith("lychee_rerank.scoring") for t in edges["lychee_rerank.reranker"])
    assert set(LAYERS) | {"__init__"} >= {unit(name) for name in modules()}, "every unit has a layer"


def test_imports_only_go_downward():
    wrong = []
    for name, targets in internal_edges().items():
        if unit(name) == "__init__":
            continue  # the lazy public API re-exports from anywhere (by importlib, on first use)
        for target in targets:
            low, high = LAYERS[unit(target)], LAYERS[unit(name)]
            same_unit = unit(target) == unit(name)
            if not same_unit and (low > high or (low == high and high == 2)):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_intake_and_scoring_never_import_each_other():
    edges = internal_edges()
    for name, targets in edges.items():
        if unit(name) in ("intake", "scoring"):
            other = "scoring" if unit(name) == "intake" else "intake"
            assert not [t for t in targets if unit(t) == other], name


def test_no_import_cycles():
    edges = internal_edges()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@cache
def heavy_at_import(name: str) -> bool:
    """Whether importing module ``name`` (module-level imports, transitively) imports a heavy library."""
    for target, _, in_function in imports_of(name):
        if in_function:
            continue
        if target.split(".")[0] in HEAVY:
            return True
        if target in modules() and target != name and heavy_at_import(target):
            return True
    return False


def lazy_reason(path: Path, node: ast.stmt) -> str | None:
    """The '# lazy: ...' comment above a group of imports (or on the same line), if any."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if "# lazy:" in lines[node.lineno - 1]:
        return lines[node.lineno - 1]
    index = node.lineno - 2
    while index >= 0 and lines[index].strip().startswith(("import ", "from ")):
        index -= 1
    return lines[index].strip() if index >= 0 and lines[index].strip().startswith("# lazy:") else None


def test_imports_inside_functions_are_lazy_loads_of_heavy_modules_with_a_reason():
    wrong = []
    for name, path in modules().items():
        for target, node, in_function in imports_of(name):
            if not in_function:
                continue
            heavy = target.split(".")[0] in HEAVY or (target in modules() and heavy_at_import(target))
            if not heavy:
                wrong.append(f"{name}:{node.lineno} imports {target} inside a function but it is light")
            elif lazy_reason(path, node) is None:
                wrong.append(f"{name}:{node.lineno} lazy import of {target} without a '# lazy: reason' comment")
    assert wrong == []


def test_importing_the_package_and_the_cli_stays_light():
    code = (
        "import sys\n"
        "import lychee_rerank\n"
        "from lychee_rerank import parse_score, normalize_query, LycheeRerankError\n"
        "import lychee_rerank.cli\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'streamlit') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end, not counting the docstring."""
    total = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        total -= first.end_lineno - first.lineno + 1
    return total


@pytest.mark.parametrize(
    "path", [*sorted(PACKAGE.rglob("*.py")), APP], ids=lambda p: str(p.relative_to(PACKAGE.parent))
)
def test_no_function_over_40_lines(path: Path):
    long = [
        f"{node.name} ({code_lines(node)} lines, line {node.lineno})"
        for node in ast.walk(tree(path))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and code_lines(node) > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_no_module_over_300_lines():
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert set(long) <= set(LONG_MODULES), long
