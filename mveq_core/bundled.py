"""Assets shipped inside the package, named ``bundled:NAME``: sample objects (meshes), object
databases and adapters. The CLI, the ROS nodes and the features resolve names here, one way."""

from __future__ import annotations

import os
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
PREFIX = "bundled:"
KINDS = {"objects": ".glb", "databases": ".mvdb", "adapters": ""}  # adapters are directories

SAMPLE_NAME = "mveq_toy_drill"
SAMPLE_OBJECT = ASSETS / "objects" / f"{SAMPLE_NAME}.glb"
SAMPLE_DATABASE = ASSETS / "databases" / f"{SAMPLE_NAME}.mvdb"


def names(kind: str) -> list[str]:
    """The bundled assets of a kind ("objects", "databases", "adapters")."""
    folder = ASSETS / kind
    if not folder.is_dir():
        return []
    suffix = KINDS[kind]
    return sorted(p.name[: len(p.name) - len(suffix)] if suffix else p.name for p in folder.iterdir() if (p.suffix == suffix if suffix else p.is_dir()))


def resolve(spec: str | os.PathLike, kind: str) -> Path:
    """``bundled:NAME`` -> the shipped file (or directory) of that kind; any other spec -> a path.
    An unknown bundled name raises FileNotFoundError listing the known ones."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    spec = str(spec)
    if not spec.startswith(PREFIX):
        return Path(spec)
    name = spec[len(PREFIX) :]
    path = ASSETS / kind / f"{name}{KINDS[kind]}"
    if not path.exists():
        raise FileNotFoundError(f"{spec}: no such bundled {kind[:-1]} (bundled: {', '.join(names(kind)) or 'none'})")
    return path
