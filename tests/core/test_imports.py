"""Every `from mveq_core... import name` / `from mveq_ros... import name` in the code, the scripts and
the tests resolves, lazy ones inside functions included (they run only on some paths, so a moved
name would otherwise fail only there)."""

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports():
    for folder in ("mveq_core", "mveq_ros", "scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT)
            package = ".".join(rel.with_suffix("").parts[:-1]) if rel.parts[0] in ("mveq_core", "mveq_ros") else None
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom):
                    continue
                if node.level:
                    if package is None:
                        continue
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                if module.split(".")[0] in ("mveq_core", "mveq_ros"):
                    yield rel, node.lineno, module, [a.name for a in node.names]


def test_every_project_import_resolves():
    missing = []
    for rel, line, module, names in _imports():
        m = importlib.import_module(module)
        for name in names:
            if name != "*" and not hasattr(m, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ImportError:
                    missing.append(f"{rel}:{line}: {module}.{name}")
    assert not missing, missing
    assert sum(1 for _ in _imports()) > 300  # the walk sees the code base
