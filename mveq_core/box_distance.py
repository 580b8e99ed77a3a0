"""A pose's translation drawn toward the one whose mesh fills the query's box (issue 9, session 24).

With a box and no mask the distance comes from PnP on matches against renders, a few per cent off
(2-3 cm at a metre: more than a tenth of a 10-20 cm object's diameter). Given the pose's rotation,
the box also fixes the translation: the one whose projected mesh box has the box's sides. Neither
estimate is exact (a detector's box is off by a few pixels; an occluder cuts a visible box short),
so the pose moves ``weight`` of the way to the fitted translation, and only when the box's sides
agree with one fit (all four, or three with the fourth cut short: :func:`robust_fit`) and the
fitted distance is within ``max_change`` of the estimate. Measured on real frames in
docs/benchmarks.md (session 24).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import projected_points_box
from .localize import box_iou


@dataclass
class BoxFit:
    """What :func:`draw_to_box` did: how the box was fitted (``how``: all sides, one side taken as
    occluded, or why not), the fitted box's ``iou`` with the query box and the fitted distance over
    the estimate's (``distance_ratio``; both None without a fit), whether the pose moved
    (``applied``), by how much (``shift_m``, metres) and from where (``translation_m``: the
    estimate's translation, so that a result says what it was without the draw)."""

    how: str
    iou: float | None
    distance_ratio: float | None
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


def side_fit(points, K, T_cam_obj, box, shape, sides, dist_coeffs=None) -> np.ndarray:
    """``T_cam_obj`` with the translation (rotation kept) whose projected box of ``points`` best
    matches ``box`` on ``sides`` (three or four indices into [x0, y0, x1, y1]), by least squares
    in pixels (Levenberg-Marquardt from the pose's own translation)."""
    from scipy.optimize import least_squares

    box, sides = np.asarray(box, np.float64), list(sides)
    T = np.asarray(T_cam_obj, np.float64).copy()

    def residuals(t):
        T[:3, 3] = t
        return (np.asarray(points_box(points, K, T, shape, dist_coeffs)) - box)[sides]

    t = least_squares(residuals, np.asarray(T_cam_obj, np.float64)[:3, 3], method="lm").x
    T[:3, 3] = t
    return T


def robust_fit(points, K, T_cam_obj, box, shape, tolerance: float = 0.03, dist_coeffs=None) -> tuple[np.ndarray | None, str]:
    """(pose or None, how): the translation whose projected box fits ``box``, allowing for one side
    cut short by an occluder (a visible box only ever shrinks). Fitted on all four sides (``how``
    ``all sides``) when every side then lies within ``tolerance`` of the box's width (x0, x1) or
    height (y0, y1); else, when exactly the two sides of one axis can each be the short one (the fit
    on the other three puts it beyond the box) at the same distance, that distance along the pose's
    ray (``side x0 or x1 occluded: distance only``). A box on the image border, or sides that fit
    neither way, give None (``how`` says which)."""
    box = np.asarray(box, np.float64)
    h, w = shape
    size = np.maximum(np.r_[box[2] - box[0], box[3] - box[1]], 1.0)
    tol = tolerance * np.r_[size, size]
    if any(abs(box[k] - border) <= 1.0 for k, border in enumerate((0.0, 0.0, w, h))):  # the image cuts it, not the object
        return None, "box on the image border"
    all_sides = side_fit(points, K, T_cam_obj, box, shape, range(4), dist_coeffs)
    miss = np.asarray(points_box(points, K, all_sides, shape, dist_coeffs)) - box
    if (np.abs(miss) <= tol).all():
        return all_sides, "all sides"
    # One side cut short: a fit on the other three (always exact: three sides, three unknowns) puts
    # the left-out side beyond the given box. Cut short on one axis, either side of it can be left
    # out so; the other axis then fixes the distance, not the shift along this one: the distance
    # alone, along the pose's ray, when the two fits' distances agree.
    outward = np.array([-1.0, -1.0, 1.0, 1.0])  # a side beyond the given box: x0, y0 smaller, x1, y1 larger
    beyond = {}
    for k in range(4):
        fit = side_fit(points, K, T_cam_obj, box, shape, [j for j in range(4) if j != k], dist_coeffs)
        if outward[k] * (points_box(points, K, fit, shape, dist_coeffs)[k] - box[k]) > tol[k]:
            beyond[k] = fit[2, 3]
    for axis, name in ((0, "x0 or x1"), (1, "y0 or y1")):
        if set(beyond) == {axis, axis + 2} and abs(beyond[axis] - beyond[axis + 2]) <= 0.01 * beyond[axis]:
            fit = np.asarray(T_cam_obj, np.float64).copy()
            fit[:3, 3] *= (beyond[axis] + beyond[axis + 2]) / 2 / fit[2, 3]
            return fit, f"side {name} occluded: distance only"
    return None, "sides disagree"


def draw_to_box(points, K, T_cam_obj, box, shape, weight: float, max_change: float = 0.1, tolerance: float = 0.03, dist_coeffs=None) -> tuple[np.ndarray, BoxFit]:
    """(pose, :class:`BoxFit`): ``T_cam_obj`` (4, 4) metres with its translation moved ``weight``
    (0-1) of the way to :func:`robust_fit`'s (``tolerance``), when there is one and its distance is
    within ``max_change`` (a share) of the estimate's; else unchanged. ``points`` (N, 3) metres
    (:func:`hull_points`), ``box`` [x0, y0, x1, y1] pixels, ``shape`` (H, W)."""
    T = np.asarray(T_cam_obj, np.float64)
    fit, how = robust_fit(points, K, T, box, shape, tolerance, dist_coeffs)
    if fit is None:
        return T, BoxFit(how, None, None, False, 0.0, T[:3, 3].tolist())
    iou = box_iou(points_box(points, K, fit, shape, dist_coeffs), list(box))
    ratio = float(fit[2, 3] / T[2, 3])
    if abs(ratio - 1.0) > max_change or weight <= 0:
        return T, BoxFit(how if weight > 0 else "off", iou, ratio, False, 0.0, T[:3, 3].tolist())
    moved = T.copy()
    moved[:3, 3] = (1.0 - weight) * T[:3, 3] + weight * fit[:3, 3]
    return moved, BoxFit(how, iou, ratio, True, float(np.linalg.norm(moved[:3, 3] - T[:3, 3])), T[:3, 3].tolist())
