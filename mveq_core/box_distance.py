"""A pose's translation drawn toward the one whose mesh fills the query's box (issue 9, session 24).

With a box and no mask the distance comes from PnP on matches against renders, a few per cent off
(2-3 cm at a metre: more than a tenth of a 10-20 cm object's diameter). Given the pose's rotation,
the box alone also fixes the translation: the distance along the pose's ray whose projected mesh
box best overlaps the query box, then a shift across the image that centres the two boxes.
Neither estimate is exact (a detector's box is off by a few pixels; an occluder shrinks a visible
box), so the pose moves ``weight`` of the way to the fitted translation, and only when the fit is
good (box IoU >= ``min_iou``) and the fitted distance is within ``max_change`` of the estimate.
Measured on real frames in docs/benchmarks.md (session 24).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import projected_points_box
from .localize import box_iou

SCALES = np.linspace(0.8, 1.25, 91)  # the distances tried, as shares of the estimate's


@dataclass
class BoxFit:
    """What :func:`draw_to_box` did: the fitted box's ``iou`` with the query box, the fitted
    distance over the estimate's (``distance_ratio``), whether the pose moved (``applied``), by
    how much (``shift_m``, metres) and from where (``translation_m``: the estimate's translation,
    so that a result says what it was without the draw)."""

    iou: float
    distance_ratio: float
    applied: bool
    shift_m: float
    translation_m: list[float]


def hull_points(mesh) -> np.ndarray:
    """(N, 3) points whose projected box is the mesh's: its convex hull's vertices (a perspective
    view's extreme pixels lie on them), else every vertex when the hull cannot be built."""
    try:
        return np.asarray(mesh.convex_hull.vertices, np.float64)
    except Exception:  # noqa: BLE001 - qhull fails on flat or degenerate meshes; every vertex still works
        return np.asarray(mesh.vertices, np.float64)


def points_box(points: np.ndarray, K: np.ndarray, T_cam_obj: np.ndarray, shape: tuple[int, int], dist_coeffs=None) -> list[float]:
    """Box [x0, y0, x1, y1] of ``points`` (N, 3) projected at ``T_cam_obj``, clipped to ``shape``
    (H, W); an empty box when they are not all in front of the camera."""
    return projected_points_box(points, T_cam_obj, K, shape, 0.0, dist_coeffs) or [0.0, 0.0, 0.0, 0.0]


def fit_distance(points, K, T_cam_obj, box, shape, dist_coeffs=None) -> tuple[float, np.ndarray]:
    """(IoU, pose): ``T_cam_obj`` with its translation scaled (:data:`SCALES`) to where the
    projected box of ``points`` best overlaps ``box``."""
    ious = []
    for s in SCALES:
        T = T_cam_obj.copy()
        T[:3, 3] *= s
        ious.append(box_iou(points_box(points, K, T, shape, dist_coeffs), box))
    best = T_cam_obj.copy()
    best[:3, 3] *= SCALES[int(np.argmax(ious))]
    return float(max(ious)), best


def fit_translation(points, K, T_cam_obj, box, shape, rounds: int = 3, dist_coeffs=None) -> tuple[float, np.ndarray]:
    """(IoU, pose): :func:`fit_distance` alternated ``rounds`` times with a shift across the image
    that centres the projected box on ``box``; the rotation is kept."""
    T = np.asarray(T_cam_obj, np.float64)
    for _ in range(rounds):
        _, T = fit_distance(points, K, T, box, shape, dist_coeffs)
        b = points_box(points, K, T, shape, dist_coeffs)
        T = T.copy()
        T[0, 3] += (box[0] + box[2] - b[0] - b[2]) / 2 * T[2, 3] / K[0, 0]
        T[1, 3] += (box[1] + box[3] - b[1] - b[3]) / 2 * T[2, 3] / K[1, 1]
    return box_iou(points_box(points, K, T, shape, dist_coeffs), box), T


def draw_to_box(points, K, T_cam_obj, box, shape, weight: float, min_iou: float = 0.9, max_change: float = 0.1, dist_coeffs=None) -> tuple[np.ndarray, BoxFit]:
    """(pose, :class:`BoxFit`): ``T_cam_obj`` (4, 4) metres with its translation moved ``weight``
    (0-1) of the way to :func:`fit_translation`'s, when that fit's box IoU is at least ``min_iou``
    and its distance within ``max_change`` (a share) of the estimate's; else unchanged."""
    T = np.asarray(T_cam_obj, np.float64)
    iou, fitted = fit_translation(points, K, T, box, shape, dist_coeffs=dist_coeffs)
    ratio = float(fitted[2, 3] / T[2, 3]) if T[2, 3] > 0 else float("nan")
    if not (iou >= min_iou and abs(ratio - 1.0) <= max_change) or weight <= 0:
        return T, BoxFit(iou, ratio, False, 0.0, T[:3, 3].tolist())
    moved = T.copy()
    moved[:3, 3] = (1.0 - weight) * T[:3, 3] + weight * fitted[:3, 3]
    return moved, BoxFit(iou, ratio, True, float(np.linalg.norm(moved[:3, 3] - T[:3, 3])), T[:3, 3].tolist())
