"""Pose errors: rotation/translation (OnePose convention), cm-deg accuracy, ADD and ADD-S."""

from __future__ import annotations

import numpy as np

from ..geometry import rotation_error_deg, transform_points


def query_pose_error(T_pred: np.ndarray | None, T_gt: np.ndarray) -> tuple[float, float]:
    """(rotation error in degrees, translation error in cm) of a (3|4, 4) pose in metres.

    As OnePose's ``query_pose_error``: geodesic angle of R_pred R_gt^T, Euclidean distance of the
    translations. A missing pose (None) counts as infinitely wrong.
    """
    if T_pred is None:
        return float("inf"), float("inf")
    T_pred, T_gt = np.asarray(T_pred), np.asarray(T_gt)
    return rotation_error_deg(T_pred[:3, :3], T_gt[:3, :3]), float(np.linalg.norm(T_pred[:3, 3] - T_gt[:3, 3]) * 100.0)


def cm_deg_accuracy(rotation_errors_deg, translation_errors_cm, thresholds=(1, 3, 5)) -> dict[str, float]:
    """Share of poses with rotation error < k degrees AND translation error < k cm, per k."""
    r = np.asarray(rotation_errors_deg, dtype=np.float64)
    t = np.asarray(translation_errors_cm, dtype=np.float64)
    if r.size == 0:
        return {f"{k}cm-{k}deg": float("nan") for k in thresholds}
    return {f"{k}cm-{k}deg": float(np.mean((r < k) & (t < k))) for k in thresholds}


def add_error(T_est: np.ndarray, T_gt: np.ndarray, points: np.ndarray) -> float:
    """ADD: mean distance between model points (N, 3) under both poses (units of the points)."""
    return float(np.linalg.norm(transform_points(T_est, points) - transform_points(T_gt, points), axis=1).mean())


def adds_error(T_est: np.ndarray, T_gt: np.ndarray, points: np.ndarray) -> float:
    """ADD-S: mean distance from each estimated model point to the closest ground-truth one."""
    from scipy.spatial import cKDTree

    distances, _ = cKDTree(transform_points(T_gt, points)).query(transform_points(T_est, points), k=1)
    return float(np.mean(distances))
