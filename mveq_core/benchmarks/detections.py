"""2D detection files: BOP default detections (``scene_id, image_id, category_id, bbox, score,
time``) or frame-named rows (``frame, object, bbox, score``); ``bbox`` is [x, y, w, h] pixels."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Hashable

from ..io import MveqError, read_json


def read_detections(path: str | Path, key: Callable[[dict], Hashable]) -> dict[Hashable, list[dict]]:
    """Detections grouped by ``key(row)``, best score first. Each entry: ``bbox`` [x, y, w, h],
    ``box`` [x0, y0, x1, y1], ``score``, ``time`` (seconds, 0 when absent)."""
    path = Path(path)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise MveqError(f"{path}: expected a JSON list of detections")
    grouped: dict[Hashable, list[dict]] = defaultdict(list)
    for k, d in enumerate(rows):
        try:
            x, y, w, h = (float(v) for v in d["bbox"])
            grouped[key(d)].append({"bbox": [x, y, w, h], "box": [x, y, x + w, y + h], "score": float(d.get("score", 1.0)), "time": float(d.get("time", 0.0))})
        except (KeyError, TypeError, ValueError) as exc:
            raise MveqError(f"{path}: detection {k} lacks or mangles a field ({type(exc).__name__}: {exc})") from None
    for entries in grouped.values():
        entries.sort(key=lambda r: -r["score"])
    return grouped


def bop_key(d: dict) -> tuple[int, int, int]:
    """(scene_id, image_id, obj_id) of a BOP detection."""
    return int(d["scene_id"]), int(d["image_id"]), int(d["category_id"])


def frame_key(d: dict) -> tuple[str, str]:
    """(frame key, object name): ``frame``/``object`` rows as given; BOP rows as
    ('SSSSSS/IIIIII', 'obj_OOOOOO')."""
    if "frame" in d:
        return str(d["frame"]), str(d["object"])
    return f"{int(d['scene_id']):06d}/{int(d['image_id']):06d}", f"obj_{int(d['category_id']):06d}"
