"""The package's imports point one way (docs/architecture.md) and form no cycle.

Every ``import`` of a fusioninn module is read from the source (including the ones inside functions,
which load lazily but are dependencies all the same). Each module belongs to a unit (the first name under
``fusioninn``: ``models``, ``losses``, ...); a unit may import its own modules and units of lower layers,
never one of its own layer or above. Cycles are looked for among module-level imports (what runs at
import time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import fusioninn

ROOT = Path(fusioninn.__file__).resolve().parent

#: Lowest first; the same table as docs/architecture.md.
LAYERS: list[set[str]] = [
    {"<root>", "errors", "allocator"},
    {"validation", "inputs", "filters", "atomic", "device", "signals", "perturb"},
    {"models", "losses", "metrics", "data"},
    {"training"},
    {"api", "evaluation", "bench"},
    {"inference", "methods", "benchmark"},
    {"explain"},
    {"viewer"},
    {"demo"},
    {"commands"},
    {"cli"},
    {"__main__"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path], top_level_only: bool) -> set[str]:
    """fusioninn modules that ``path`` imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` blocks do not run
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules)
    return {m for m in found if m in modules and m != name}


def _layer(unit: str) -> int:
    for i, group in enumerate(LAYERS):
        if unit in group:
            return i
    raise AssertionError(f"unit {unit!r} is in no layer of docs/architecture.md; add it to LAYERS and the map")


def test_every_import_points_down():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        for target in _imports(path, modules, top_level_only=False):
            a, b = _unit(name), _unit(target)
            if a != b and _layer(b) >= _layer(a):
                upward.append(f"{name} -> {target} ({a}: layer {_layer(a)}, {b}: layer {_layer(b)})")
    assert not upward, "imports that do not point down:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(path, modules, top_level_only=True) for name, path in modules.items()}
    # a package's __init__ re-exporting its submodules is not a cycle when a submodule imports a sibling
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue  # package <-> its own submodule: how Python loads packages
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_network_and_weight_loading_stay_light():
    """A forward pass and load_pretrained load neither the losses, the metrics nor the trainer (SciPy comes
    with FrEIA either way)."""
    import subprocess
    import sys

    code = ("import sys, torch\nimport fusioninn\nm = fusioninn.load_pretrained()\nm(torch.rand(1, 2, 8, 8))\n"
            "m.fuse(torch.rand(8, 8), torch.rand(8, 8))\n"
            "bad = [k for k in sys.modules if k.startswith(('fusioninn.losses', 'fusioninn.metrics', "
            "'fusioninn.training.trainer'))]\nprint(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_layer_table_is_the_one_documented():
    doc = (ROOT.parents[1] / "docs" / "architecture.md").read_text()
    for i, group in enumerate(LAYERS):
        for unit in group:
            assert f"`{unit}`" in doc, f"{unit} (layer {i}) is missing from docs/architecture.md"


def test_the_map_names_every_module():
    """docs/architecture.md stays a true map: every source file of a subpackage is named in it (the
    commands as the `<verb>_cmd.py` pattern, one per verb of the CLI's table)."""
    doc = (ROOT.parents[1] / "docs" / "architecture.md").read_text()
    assert "`<verb>_cmd.py`" in doc
    missing = sorted(
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*")
        if p.suffix in (".py", ".c", ".html", ".js") and p.parent != ROOT and p.name != "__init__.py"
        and not (p.parent.name == "commands" and p.name.endswith("_cmd.py"))
        and f"`{p.stem}`" not in doc and f"`{p.name}`" not in doc
    )
    assert not missing, f"docs/architecture.md does not name {', '.join(missing)}"
