"""TAP-Vid metrics exactly as TAP-Vid defines them (tapnet ``compute_tapvid_metrics``).

Inputs are in raster coordinates of 256 x 256 frames. ``query_points`` (N, 3) are (t, y, x);
tracks (N, T, 2) are (x, y). ``query_mode`` "first" evaluates frames after each query frame,
"strided" every frame except the query frame.
"""

from __future__ import annotations

import numpy as np

THRESHOLDS_PX = (1, 2, 4, 8, 16)


def tapvid_metrics(query_points: np.ndarray, gt_occluded: np.ndarray, gt_tracks: np.ndarray, pred_occluded: np.ndarray, pred_tracks: np.ndarray, query_mode: str) -> dict[str, float]:
    """Occlusion accuracy, pts_within_{1,2,4,8,16}, jaccard_{...}, average_jaccard (AJ),
    average_pts_within_thresh (delta^x_avg) for one video."""
    T = gt_tracks.shape[1]
    eye = np.eye(T, dtype=np.int32)
    if query_mode == "first":
        query_frame_to_eval_frames = np.cumsum(eye, axis=1) - eye
    elif query_mode == "strided":
        query_frame_to_eval_frames = 1 - eye
    else:
        raise ValueError(f"unknown query mode {query_mode!r} (first or strided)")
    query_frame = np.round(query_points[:, 0]).astype(np.int32)
    evaluation = query_frame_to_eval_frames[query_frame] > 0  # (N, T)
    out = {"occlusion_accuracy": float(np.sum((pred_occluded == gt_occluded) & evaluation) / np.sum(evaluation))}
    visible = ~gt_occluded
    pred_visible = ~pred_occluded
    within_all, jaccard_all = [], []
    for thresh in THRESHOLDS_PX:
        within = np.sum(np.square(pred_tracks - gt_tracks), axis=-1) < thresh**2
        correct = within & visible
        frac = np.sum(correct & evaluation) / np.sum(visible & evaluation)
        true_positives = np.sum(correct & pred_visible & evaluation)
        gt_positives = np.sum(visible & evaluation)
        false_positives = np.sum((((~visible) & pred_visible) | ((~within) & pred_visible)) & evaluation)
        jac = true_positives / (gt_positives + false_positives)
        out[f"pts_within_{thresh}"] = float(frac)
        out[f"jaccard_{thresh}"] = float(jac)
        within_all.append(frac)
        jaccard_all.append(jac)
    out["average_jaccard"] = float(np.mean(jaccard_all))
    out["average_pts_within_thresh"] = float(np.mean(within_all))
    return out


def sample_queries_first(occluded: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TAP-Vid "first" queries: each track's first visible frame. Tracks never visible are dropped.

    ``points`` (N, T, 2) in any units (x, y); returns (query_points (M, 3) (t, y, x), points, occluded).
    """
    valid = np.sum(~occluded, axis=1) > 0
    points, occluded = points[valid], occluded[valid]
    index = np.argmax(~occluded, axis=1)
    rows = np.arange(len(points))
    return np.stack([index, points[rows, index, 1], points[rows, index, 0]], axis=1), points, occluded


def sample_queries_strided(occluded: np.ndarray, points: np.ndarray, stride: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TAP-Vid "strided" queries: every ``stride`` frames, each track visible there becomes a query."""
    queries, tracks, occs = [], [], []
    for i in range(0, occluded.shape[1], stride):
        mask = ~occluded[:, i]
        queries.append(np.stack([np.full(mask.sum(), i), points[mask, i, 1], points[mask, i, 0]], axis=1))
        tracks.append(points[mask])
        occs.append(occluded[mask])
    return np.concatenate(queries), np.concatenate(tracks), np.concatenate(occs)
