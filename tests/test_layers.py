"""The one-way flow of ARCHITECTURE.md, enforced: a module imports only its own layer or
lower ones, and only the command line prints."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "wirecheck"
# The layers, lowest first, by the first name under `wirecheck` (ARCHITECTURE.md).
LAYERS = {
    0: {"", "addresses", "errors", "safe_text", "strenum", "model", "advice"},
    1: {"system", "net", "platform"},
    2: {"checks"},
    3: {"runner", "diagnose"},
    4: {"session", "report", "bundle", "watch"},
    5: {"lab", "cli", "console", "entry", "__main__"},
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
PRINTERS = {"cli", "console", "entry", "lab.cli"}  # the only modules that print


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(p for p in parts if p != "__init__")
        found.append((name, path))
    return found


def _layer(module: str) -> int:
    return LAYER_OF[module.split(".")[0]]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n.split(".", 1)[1] if "." in n else "" for n in names if n.split(".")[0] == "wirecheck"]


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_flow_downward_only(module: str, path: Path) -> None:
    mine = _layer(module)
    upward = [name for name in _imports(path) if _layer(name) > mine]
    assert not upward, f"{module} (layer {mine}) imports {upward} from a higher layer"


def test_every_module_has_a_layer() -> None:
    assert all(module.split(".")[0] in LAYER_OF for module, _ in _modules())


def test_only_the_command_line_prints() -> None:
    printing = re.compile(r"\bprint\(|sys\.std(out|err)\.write|typer\.echo|\.print\(")
    found = [
        module
        for module, path in _modules()
        if module not in PRINTERS and printing.search(path.read_text(encoding="utf-8"))
    ]
    assert not found, f"only {sorted(PRINTERS)} may print; also printing: {found}"


def test_architecture_tree_lists_every_module() -> None:
    """ARCHITECTURE.md's tree and the package have the same files."""
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    tree = text[text.index("```\nwirecheck/\n") + 4 : text.index("```", text.index("wirecheck/\n"))]
    listed: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in tree.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name:
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        stack = [(d, n) for d, n in stack if d < depth]
        path = "/".join([n.rstrip("/") for _, n in stack] + [name.rstrip("/")])
        if name.endswith("/"):
            stack.append((depth, name))
        else:
            listed.add(path)
    actual = {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")}
    assert listed == actual, (
        f"not in ARCHITECTURE.md: {sorted(actual - listed)}; gone: {sorted(listed - actual)}"
    )
