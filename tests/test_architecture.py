"""The dependency direction of DESIGN.md holds, and module imports form no cycle.

Reads every module's ``import`` statements with ``ast`` (no execution), so a violation is found
even in code no test runs. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: what runs in production
PRODUCT = ("oms_bridge", "platforms", "channels", "scheduler")
#: the simulators of the outside systems (tests, benchmarks and the demo only)
SIMULATORS = "sandboxes"
PACKAGES = (*PRODUCT, SIMULATORS)

# module prefix -> prefixes it must never import
FORBIDDEN = {
    # the marketplace adapters sit on the shared vocabulary (oms_bridge.model, oms_bridge.remote) only
    "platforms": ("oms_bridge", "channels", "scheduler"),
    "oms_bridge.store": ("oms_bridge.erp", "oms_bridge.oms", "oms_bridge.web", "oms_bridge.cli", "channels",
                         "scheduler", "platforms", "oms_bridge.configure", "oms_bridge.remote"),
    "oms_bridge.vault": ("oms_bridge.store", "oms_bridge.erp", "oms_bridge.oms", "oms_bridge.web", "oms_bridge.cli",
                         "channels", "scheduler", "platforms"),
    "oms_bridge.settings": ("oms_bridge.store", "oms_bridge.vault", "oms_bridge.erp", "oms_bridge.oms",
                            "oms_bridge.web", "oms_bridge.cli", "channels", "scheduler", "platforms"),
    "channels": ("scheduler", "oms_bridge.cli", "oms_bridge.web", "oms_bridge.erp", "oms_bridge.oms"),
    # the destinations never import the marketplace package: they meet the platforms in the store's rows
    "oms_bridge.erp": ("channels", "scheduler", "oms_bridge.cli", "oms_bridge.web", "oms_bridge.oms", "platforms"),
    "oms_bridge.oms": ("channels", "scheduler", "oms_bridge.cli", "oms_bridge.web", "oms_bridge.erp", "platforms"),
    "scheduler": ("oms_bridge.cli", "oms_bridge.web"),
    # alerts read the store (and the channels' token warnings); reconciliation sits on channels + the ERP
    "oms_bridge.alerts": ("scheduler", "oms_bridge.cli", "oms_bridge.web", "oms_bridge.erp", "oms_bridge.oms",
                          "oms_bridge.reconcile"),
    "oms_bridge.reconcile": ("scheduler", "oms_bridge.cli", "oms_bridge.web", "oms_bridge.alerts"),
}
# Exceptions to FORBIDDEN: (importer prefix, imported prefix). The marketplace package may use the two
# neutral leaves below it (see LEAVES).
ALLOWED = {("platforms", "oms_bridge.model"), ("platforms", "oms_bridge.remote")}

# Leaves: a package here may import in-house only what its entry lists (the canonical order, the error tree,
# masking, the HTTP client and call metrics: what the store, the destinations and the platforms share).
LEAVES = {
    "oms_bridge.model": ("oms_bridge.model",),
    "oms_bridge.remote": ("oms_bridge.model", "oms_bridge.remote"),
}

# The single product module that may import a simulator: the ``demo`` command, lazily inside the command,
# so ``oms-bridge demo`` works from a plain install while nothing else the product loads reaches a simulator.
SIMULATOR_DOOR = ("oms_bridge.cli.run_cmds", "sandboxes.demo")


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "migrations/versions" in path.as_posix():
                continue
            found[_module_name(path)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            # resolve to the longest known module prefix
            parts = target.split(".")
            for i in range(len(parts), 0, -1):
                candidate = ".".join(parts[:i])
                if candidate in known:
                    if candidate != name:
                        out.add(candidate)
                    break
    return out


GRAPH = None


def _graph() -> dict[str, set[str]]:
    global GRAPH
    if GRAPH is None:
        mods = _modules()
        GRAPH = {name: _imports(name, path, set(mods)) for name, path in mods.items()}
    return GRAPH


def _starts(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_dependency_direction():
    violations = []
    for mod, deps in _graph().items():
        for owner, banned in FORBIDDEN.items():
            if not _starts(mod, owner):
                continue
            for dep in deps:
                if any(_starts(dep, b) for b in banned) and not any(
                        _starts(mod, a) and _starts(dep, d) for a, d in ALLOWED):
                    violations.append(f"{mod} imports {dep}")
    assert not violations, "dependency direction broken:\n" + "\n".join(sorted(violations))


def test_shared_leaves_import_only_what_they_list():
    violations = [f"{mod} imports {dep}" for mod, deps in _graph().items()
                  for leaf, allowed in LEAVES.items() if _starts(mod, leaf)
                  for dep in deps if not any(_starts(dep, a) for a in allowed)]
    assert not violations, "a shared leaf reaches up:\n" + "\n".join(sorted(violations))


def test_product_never_imports_a_simulator():
    violations = [f"{mod} imports {dep}" for mod, deps in _graph().items()
                  if any(_starts(mod, p) for p in PRODUCT)
                  for dep in deps if _starts(dep, SIMULATORS) and (mod, dep) != SIMULATOR_DOOR]
    assert not violations, "product code imports a simulator:\n" + "\n".join(sorted(violations))


def test_the_demo_door_is_the_lazy_import_it_claims_to_be():
    """The one allowed edge stays inside the command function: importing the CLI loads no simulator."""
    mod, dep = SIMULATOR_DOOR
    tree = ast.parse(_modules()[mod].read_text(encoding="utf-8"))
    top_level = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
    nested = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} - top_level
    assert dep not in top_level and dep in nested


def test_no_import_cycles():
    graph = _graph()
    # Package __init__ modules that only re-export are edges too; a cycle through them is still a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    import sys

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strongconnect(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_has_a_docstring(package):
    missing = []
    for name, path in _modules().items():
        if not _starts(name, package) or path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not ast.get_docstring(tree):
            missing.append(name)
    assert not missing, "modules without a docstring saying why they exist: " + ", ".join(sorted(missing))
