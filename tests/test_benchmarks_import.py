"""Every benchmark still fits the code it measures: it imports, and every ``module.name`` it uses on a module it
imported exists. bench_scale and bench_reconcile called ``oms_bridge.configure.add_platform`` for a whole stop
after that module was split, and nothing noticed until a run was wanted. (Importing runs no benchmark: each one
starts from ``if __name__ == "__main__"``.)"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(path.parent))
    name = f"_bench_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)) or not path.stem.startswith("bench_"), f"{path.name} has no main()"
    modules = {name: value for name, value in vars(module).items() if isinstance(value, ModuleType)}
    tree = ast.parse(path.read_text())
    missing = sorted({f"{node.value.id}.{node.attr} (line {node.lineno})" for node in ast.walk(tree)
                      if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                      and node.value.id in modules and not hasattr(modules[node.value.id], node.attr)})
    assert not missing, f"{path.name} uses names its modules do not have: {missing}"
