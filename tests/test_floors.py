"""The package's floors: every import points down, to a lower floor or within its own group.

FLOORS is the one definition of the layering. A module belongs to the group whose prefix names it (the longest
prefix wins); it may import its own group and any group on a lower floor, never a group beside it or above it.
Imports inside functions count too (the lazy TensorFlow-free imports are still arrows)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("toolkit", "deploy", "models")

FLOORS: tuple[dict[str, tuple[str, ...]], ...] = (
    # 0: the shared vocabulary: errors, options, targets and boards as data
    {"ground": ("toolkit.errors", "toolkit.capture", "toolkit.config", "toolkit.boards", "toolkit.targets", "toolkit.fit",
                "toolkit.images")},
    # 1: data sets, architectures and training; the light runtime (edgecnn-run)
    {"learning": ("toolkit.datasets", "toolkit.training", "models"), "runtime": ("toolkit.runtime",)},
    # 2: the engine compiler (reader, op specs, quantization parameters, passes, fusion, memory plan, C)
    {"engine": ("deploy.engine",)},
    # 3: quantization, export and the TFLM reference; the build object and its loader
    {"convert": ("deploy.convert",), "artifacts": ("toolkit.artifacts",)},
    # 4: compilers, firmware, QEMU, serial link, flashing, Arduino; the Android bundle
    {"devices": ("deploy.devices",), "mobile": ("deploy.mobile",)},
    # 5: the verifiers; the report
    {"verify": ("deploy.verify",), "report": ("deploy.report",)},
    # 6: the stages, the pipeline, the CLI and the search on top
    {"top": ("toolkit.stages", "toolkit.pipeline", "toolkit.cli", "toolkit.search")},
)


def group_of(module: str) -> tuple[int, str] | None:
    """(floor, group) of a module of the package, by the longest prefix; None for a module no floor names."""
    best = None
    for floor, groups in enumerate(FLOORS):
        for group, prefixes in groups.items():
            for p in prefixes:
                if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[0]):
                    best = (len(p), floor, group)
    return None if best is None else best[1:]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, module) of every import of the package's own modules in `source`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing module's package
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            for a in node.names:  # `from deploy.engine import ops` imports the module deploy.engine.ops
                sub = f"{base}.{a.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, m) for line, m in found if m.split(".")[0] in PACKAGES]


def _is_module(name: str) -> bool:
    p = ROOT.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """What `module` imports against the floors (empty when every arrow points down)."""
    here = group_of(module)
    if here is None:
        return [f"{module} is on no floor: add it to tests/test_floors.py FLOORS"]
    out = []
    for line, target in imported_modules(source, module, is_package):
        there = group_of(target)
        if there is None:
            if target not in PACKAGES:  # `from deploy import x` is resolved to deploy.x above
                out.append(f"{module}:{line} imports {target}, which is on no floor")
            continue
        if there[1] != here[1] and there[0] >= here[0]:
            out.append(f"{module}:{line} ({here[1]}, floor {here[0]}) imports {target} ({there[1]}, floor "
                       f"{there[0]}): {'beside' if there[0] == here[0] else 'above'} it")
    return out


def package_modules():
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def test_every_import_points_down():
    problems = []
    for path in package_modules():
        name = module_name(path)
        source = path.read_text(encoding="utf-8")
        if name in ("toolkit", "deploy"):  # the bare package roots hold nothing
            assert not ast.parse(source).body or ast.get_docstring(ast.parse(source)), name
            continue
        problems += violations(name, source, is_package=path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def _owner_module(name: str) -> str:
    """The module an imported name lives in: `deploy.engine.ops.OPS` -> `deploy.engine.ops`."""
    while "." in name and not _is_module(name):
        name = name.rsplit(".", 1)[0]
    return name


def import_cycles() -> list[list[str]]:
    """The package's modules that import each other around a cycle (strongly connected components of more than
    one module, imports inside functions included), each sorted."""
    graph: dict[str, set[str]] = {}
    for path in package_modules():
        name = module_name(path)
        targets = imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        graph[name] = {_owner_module(m) for _, m in targets} - {name}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v] & graph.keys():
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycles():
    assert import_cycles() == []


@pytest.mark.parametrize("module, source, bad", [
    ("deploy.engine.codegen", "def f():\n    from toolkit.cli import main\n", "above it"),
    ("deploy.devices.firmware", "from deploy.mobile import android\n", "beside it"),
    ("deploy.engine.fusion", "from toolkit.errors import ModelError\nfrom .ops import Lowered\n", None),
    ("deploy.verify.host", "import deploy.devices.toolchain\nimport numpy\n", None),
    ("deploy.newfloor.x", "", "is on no floor"),
])
def test_the_walk_sees_upward_sideways_and_unplaced_imports(module, source, bad):
    found = violations(module, source)
    assert (bad is None and not found) or (bad is not None and len(found) == 1 and bad in found[0]), found
