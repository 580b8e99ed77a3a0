"""Atomic file writes and small readers shared by every module that touches disk."""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np


class MveqError(Exception):
    """An error a user can act on; the CLI prints its message as one line."""


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place only if the block succeeds.

    A reader never sees a half-written file, and a failed write leaves the old file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (inf, NaN) as None: JSON has no Infinity or NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.floating):
        return _finite(float(obj))
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Strict JSON (non-finite numbers become null), written atomically."""
    write_bytes_atomic(path, json.dumps(_finite(obj), indent=indent, default=_json_default, allow_nan=False).encode())


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MveqError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None


def write_image_atomic(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB (H, W, 3) uint8, grey (H, W) uint8 or uint16 image as PNG/JPEG, atomically."""
    import cv2

    path = Path(path)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise MveqError(f"{path}: could not encode image of shape {image.shape} dtype {image.dtype}")
    write_bytes_atomic(path, buf.tobytes())


def _imread(path: str | os.PathLike, flags: int) -> np.ndarray:
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    image = cv2.imread(str(path), flags)
    if image is None:
        raise MveqError(f"{path}: not a readable image")
    return image


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    import cv2

    return cv2.cvtColor(_imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_image_raw(path: str | os.PathLike) -> np.ndarray:
    """Read an image file unchanged (16-bit depth, 8-bit masks)."""
    import cv2

    return _imread(path, cv2.IMREAD_UNCHANGED)
