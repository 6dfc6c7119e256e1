"""The package layout is the architecture: stages import only the stages before them.

    data <- features <- model <- explain <- monitor <- serving <- ops      (config, atomic, scratch, names: everyone's)
    synthetic: tests, the demo and `models make-tiny` only; the spine (pipeline, cli, benchmark) on top.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "clmer"
LEVEL = {"data": 0, "features": 1, "model": 2, "explain": 3, "monitor": 4, "serving": 5, "ops": 6}
BASE = {"config", "atomic", "scratch", "names", "", "__version__"}  # importable from anywhere ("" = `clmer` itself)
SPINE = {"pipeline", "cli", "benchmark"}
MAX_LINES = 450


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _area(module: str) -> str:
    """'clmer.model.fusion' -> 'model'; 'clmer.config' -> 'config'; 'clmer' -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _clmer_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "clmer":
                found += [(node.lineno, f"clmer.{a.name}") for a in node.names]
            elif node.module.startswith("clmer."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("clmer")]
    return found


def _allowed(src: str, dst: str) -> bool:
    if dst in BASE or src == dst or src in SPINE:
        return True
    if dst == "synthetic":
        return src == "synthetic"
    if src == "synthetic":
        return dst in ("data", "features")
    if src in LEVEL and dst in LEVEL:
        return LEVEL[dst] <= LEVEL[src]
    return False


def test_stages_import_only_earlier_stages():
    bad = []
    for path in _modules():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        src = _area(module)
        for line, target in _clmer_imports(path):
            if not _allowed(src, _area(target)):
                bad.append(f"{path.relative_to(ROOT)}:{line} ({src}) imports {target}")
    assert not bad, "imports against the stage order:\n" + "\n".join(bad)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _import_graph() -> dict[str, set[str]]:
    """Module -> the clmer modules it imports anywhere in its body (lazy imports inside functions too)."""
    names = {_module_name(p) for p in _modules()}
    graph = {}
    for path in _modules():
        src = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found |= {node.module} & names
                found |= {f"{node.module}.{a.name}" for a in node.names} & names
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names} & names
        graph[src] = found - {src}
    return graph


def test_the_package_has_no_import_cycle():
    """A cycle, even through an import inside a function, means two modules are one idea split badly."""
    graph = _import_graph()
    cycles, done, stack = [], set(), []

    def visit(node: str) -> None:
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt in stack:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in done:
                visit(nxt)
        stack.pop()
        done.add(node)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_library_imports_no_prefect():
    offenders = [str(p.relative_to(ROOT)) for p in _modules()
                 if any(n.split(".")[0] == "prefect" for n in _all_imports(p))]
    assert not offenders


def _all_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_no_module_is_too_long_to_hold_in_your_head():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_every_subpackage_says_what_it_holds():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring: what it holds, what it may import"


@pytest.mark.parametrize("module", ["clmer.serving.scoring", "clmer.serving.drop_scoring", "clmer.cli"])
def test_scoring_imports_neither_prefect_nor_demo_synthesis(module):
    code = (f"import sys, {module}; "
            "print([m for m in sys.modules if m.split('.')[0] == 'prefect' or m.startswith('clmer.synthetic')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
