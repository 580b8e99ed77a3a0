"""TAP-Vid-DAVIS point tracking benchmark.

Official format (``tapvid_davis.pkl``): a pickled dict mapping each video name to
``{"video": (T, H, W, 3) uint8, "points": (N, T, 2) float in [0, 1] as (x, y), "occluded": (N, T) bool}``.
Queries are sampled "first" (each track's first visible frame) or "strided" (every 5 frames);
metrics are computed in 256 x 256 raster coordinates as TAP-Vid defines them.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..io import MveqError
from ..metrics.tapvid import sample_queries_first, sample_queries_strided, tapvid_metrics
from ..tracking import Tracker

_ALLOWED = {
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "bytearray"), ("collections", "OrderedDict"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("codecs", "encode"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts/lists of numpy arrays and refuses every other class (no code runs)."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED or (module.startswith("numpy") and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: TAP-Vid pickles hold only arrays")


def load_tapvid_pickle(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: TAP-Vid pickle not found")
    try:
        with open(path, "rb") as f:
            data = _ArraysOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise MveqError(f"{path}: not a TAP-Vid pickle ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise MveqError(f"{path}: expected a dict of videos")
    for name, video in data.items():
        missing = {"video", "points", "occluded"} - set(video)
        if missing:
            raise MveqError(f"{path}: video {name!r} lacks {sorted(missing)}")
    return data


def evaluate_video(tracker: Tracker, video: dict, query_mode: str = "strided", max_queries: int | None = None, seed: int = 0) -> tuple[dict, dict]:
    """TAP-Vid metrics of one video, and the predictions (for pictures)."""
    frames = np.asarray(video["video"])
    points = np.asarray(video["points"], dtype=np.float64)
    occluded = np.asarray(video["occluded"], dtype=bool)
    T, H, W = frames.shape[:3]
    if query_mode == "first":
        queries, gt_points, gt_occluded = sample_queries_first(occluded, points)
    elif query_mode == "strided":
        queries, gt_points, gt_occluded = sample_queries_strided(occluded, points)
    else:
        raise ValueError(f"query mode must be first or strided, got {query_mode!r}")
    if max_queries is not None and len(queries) > max_queries:
        keep = np.sort(np.random.default_rng(seed).choice(len(queries), max_queries, replace=False))
        queries, gt_points, gt_occluded = queries[keep], gt_points[keep], gt_occluded[keep]
    # normalised [0, 1] (image edges) -> frame pixels with centres at integers
    query_px = np.stack([queries[:, 0], queries[:, 2] * W - 0.5, queries[:, 1] * H - 0.5], axis=1)
    tracks_px, pred_occluded, _ = tracker.track(frames, query_px)
    scale = np.array([256.0 / W, 256.0 / H])
    pred_256 = (tracks_px + 0.5) * scale
    gt_256 = gt_points * 256.0
    query_256 = np.stack([queries[:, 0], queries[:, 1] * 256.0, queries[:, 2] * 256.0], axis=1)
    metrics = tapvid_metrics(query_256, gt_occluded, gt_256, pred_occluded, pred_256, query_mode)
    return metrics, {"tracks": tracks_px, "occluded": pred_occluded, "queries": query_px}


def run_davis(tracker: Tracker, pkl: str | Path, query_mode: str = "strided", max_videos: int | None = None, max_queries: int | None = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    data = load_tapvid_pickle(pkl)
    per_video, predictions = {}, {}
    for name in tqdm(list(data)[:max_videos], desc="tap-vid davis", disable=not progress):
        per_video[name], predictions[name] = evaluate_video(tracker, data[name], query_mode, max_queries)
    keys = ["average_jaccard", "average_pts_within_thresh", "occlusion_accuracy"]
    mean = {k: float(np.mean([v[k] for v in per_video.values()])) for k in keys}
    return {"benchmark": "tapvid-davis", "query_mode": query_mode, "per_video": per_video, "mean": mean, "features": tracker.features.describe(), "_predictions": predictions}


def format_table(result: dict) -> str:
    width = max([5] + [len(n) for n in result["per_video"]])
    lines = [f"{'video':<{width}}  {'AJ':>6}  {'d_avg':>6}  {'OA':>6}"]
    for name, m in list(result["per_video"].items()) + [("mean", result["mean"])]:
        lines.append(f"{name:<{width}}  {m['average_jaccard'] * 100:6.1f}  {m['average_pts_within_thresh'] * 100:6.1f}  {m['occlusion_accuracy'] * 100:6.1f}")
    return "\n".join(lines)


def track_strip(frames: np.ndarray, tracks: np.ndarray, occluded: np.ndarray, count: int = 4) -> np.ndarray:
    """A picture: ``count`` frames side by side with each track's position (hollow when occluded)."""
    import cv2

    from ..viz import image_grid

    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 255, size=(len(tracks), 3))
    tiles = []
    for t in picks:
        frame = np.ascontiguousarray(frames[t].copy())
        for n, ((x, y), occ) in enumerate(zip(tracks[:, t], occluded[:, t])):
            cv2.circle(frame, (int(round(x)), int(round(y))), 3, tuple(int(c) for c in colours[n]), 1 if occ else -1, cv2.LINE_AA)
        tiles.append(frame)
    return image_grid(tiles, columns=count)
