"""Where a result came from: git commit (and whether the tree was dirty), date, device, versions, argv."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("torch", "timm", "peft", "poselib", "numpy", "opencv-python-headless", "pyrender-maintained", "mveq_ros")
REPO = Path(__file__).resolve().parent.parent
_INVOCATION: list[str] = []  # the command line of this run (set by the CLI), else sys.argv


def set_invocation(argv: list[str]) -> None:
    _INVOCATION[:] = list(argv)


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def source_digest() -> str:
    """sha256 (16 hex) of the package's Python sources: names the code even where git metadata
    lags (the device machine's copy of the tree reports the session's starting commit)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((REPO / "mveq_core").rglob("*.py")):
        h.update(path.relative_to(REPO).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def device_description(device=None) -> str:
    """'NVIDIA H100 80GB HBM3 (cuda:0)' or the CPU model and core count."""
    import torch

    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(device)} ({device})"
    import os

    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()}"


def provenance(device=None, argv: list[str] | None = None) -> dict:
    """The record every result writer puts under ``"provenance"``."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": None if status is None else bool(status),
        "source_digest": source_digest(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device_description(device),
        "python": platform.python_version(),
        "versions": versions,
        "argv": list(argv if argv is not None else (_INVOCATION or sys.argv)),
    }


def write_result_json(path, result: dict, device=None) -> None:
    """Write a result record (strict JSON, atomically) with its ``provenance``."""
    from .io import write_json_atomic

    write_json_atomic(path, {**result, "provenance": result.get("provenance") or provenance(device)})
