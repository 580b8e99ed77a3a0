"""2D detection files: BOP default detections (``scene_id, image_id, category_id, bbox, score,
time``, optionally ``segmentation``) or frame-named rows (``frame, object, bbox, score``, optionally
``segmentation``); ``bbox`` is [x, y, w, h] pixels. ``segmentation`` is a COCO run-length mask
``{"size": [h, w], "counts": ...}``: counts as a list (uncompressed: CNOS's and SAM's output, the
BOP default detections of the unseen-object tasks) or a string (compressed: decoded by pycocotools
when installed)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable, Hashable

import numpy as np

from ..io import MveqError, read_json


def read_detections(path: str | Path, key: Callable[[dict], Hashable]) -> dict[Hashable, list[dict]]:
    """Detections grouped by ``key(row)``, best score first. Each entry: ``bbox`` [x, y, w, h],
    ``box`` [x0, y0, x1, y1], ``score``, ``time`` (seconds, 0 when absent), and ``segmentation``
    when the row has one (:func:`detection_mask` decodes it)."""
    path = Path(path)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise MveqError(f"{path}: expected a JSON list of detections")
    grouped: dict[Hashable, list[dict]] = defaultdict(list)
    for k, d in enumerate(rows):
        try:
            x, y, w, h = (float(v) for v in d["bbox"])
            entry = {"bbox": [x, y, w, h], "box": [x, y, x + w, y + h], "score": float(d.get("score", 1.0)), "time": float(d.get("time", 0.0))}
            if d.get("segmentation") is not None:
                entry["segmentation"] = d["segmentation"]  # decoded when used (detection_mask): files can hold many
            grouped[key(d)].append(entry)
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


def mask_run_lengths(mask: np.ndarray) -> dict:
    """A (H, W) bool mask as a ``segmentation`` :func:`detection_mask` reads: COCO's uncompressed
    run lengths (column-major, background run first, 0 when the first pixel is foreground)."""
    flat = np.asarray(mask, bool).T.ravel()
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    return {"size": list(np.shape(mask)), "counts": ([0] if flat[0] else []) + runs}


def detection_mask(entry: dict, shape: tuple[int, int], where: str = "detection") -> np.ndarray | None:
    """(H, W) bool mask of a detection entry's ``segmentation`` (None without one), checked against
    the image's ``shape`` (H, W); ``where`` names the detection in errors."""
    rle = entry.get("segmentation")
    if rle is None:
        return None
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise MveqError(f"{where}: segmentation must be a COCO run-length mask {{'size': [h, w], 'counts': ...}} (polygons are not read)")
    try:
        h, w = (int(v) for v in rle["size"])
    except (TypeError, ValueError):
        raise MveqError(f"{where}: segmentation size must be [h, w], got {rle['size']!r}") from None
    if (h, w) != tuple(shape):
        raise MveqError(f"{where}: segmentation size {[h, w]} differs from the image's {list(shape)}")
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        try:
            from pycocotools import mask as coco_mask
        except ImportError:
            raise MveqError(f"{where}: compressed (string) RLE needs pycocotools (pip install pycocotools); uncompressed counts lists are read without it") from None
        return coco_mask.decode({"size": [h, w], "counts": counts if isinstance(counts, bytes) else counts.encode()}).astype(bool)
    runs = np.asarray(counts, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any() or runs.sum() != h * w:
        raise MveqError(f"{where}: segmentation counts must be non-negative runs summing to {h} x {w} = {h * w} pixels, got {int(runs.sum()) if runs.ndim == 1 else runs.shape}")
    values = np.arange(len(runs)) % 2 == 1  # runs alternate background, foreground, ... (the first may be 0)
    return np.repeat(values, runs).reshape(w, h).T  # column-major, as COCO
