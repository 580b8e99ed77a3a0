"""Depth images from RGB-D cameras: a pose's distance corrected by the measured depth.

An RGB pose is accurate across the image but weak along the viewing ray (a few per cent of the
distance is a few centimetres). With a depth image registered to the colour image, the pose's
inlier correspondences give measured depths of object points whose model depths the pose predicts;
:func:`correct_distance` scales the pose's translation (the object slides along the ray through
its origin, so its image position is kept) to make them agree in the robust least-squares sense.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DepthCorrection:
    """``scale`` applied to the translation; ``shift_m`` the distance change of the object origin;
    ``points`` inliers with a valid depth used; ``residual_m`` median |measured - model| depth of
    those points after the correction (a check of the pose's surface against the depth image)."""

    scale: float
    shift_m: float
    points: int
    residual_m: float


def check_depth(depth: np.ndarray, shape: tuple[int, int], name: str = "depth") -> np.ndarray:
    """(H, W) float32 metres with invalid pixels as NaN; raises ValueError naming what is wrong.
    ``shape`` is the colour image's (H, W): the depth must be registered to it."""
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) depth image, got shape {depth.shape}")
    if depth.shape != tuple(shape):
        raise ValueError(f"{name}: shape {depth.shape} differs from the image's {tuple(shape)} (register the depth to the colour image)")
    if not (np.issubdtype(depth.dtype, np.floating) or np.issubdtype(depth.dtype, np.integer)):
        raise ValueError(f"{name}: expected numeric depths, got {depth.dtype}")
    out = depth.astype(np.float32)
    out[~np.isfinite(out) | (out <= 0)] = np.nan
    return out


def depth_in_metres(raw: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Metres from a depth image as stored: integer images (16-bit PNG, ROS 16UC1) are millimetres
    unless ``scale`` (metres per unit) says otherwise; float images are metres (ROS 32FC1)."""
    raw = np.asarray(raw)
    if scale is None:
        scale = 1e-3 if np.issubdtype(raw.dtype, np.integer) else 1.0
    if not scale > 0:
        raise ValueError(f"depth scale must be positive metres per unit, got {scale!r}")
    return raw.astype(np.float32) * np.float32(scale)


def read_depth(path, shape: tuple[int, int], scale: float | None = None) -> np.ndarray:
    """A depth file (16-bit PNG/TIFF, float TIFF or ``.npy``) as (H, W) metres, NaN invalid; errors
    name the file."""
    from pathlib import Path

    from .io import MveqError, read_image_raw

    path = Path(path)
    try:
        if path.suffix.lower() == ".npy":
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such depth file")
            raw = np.load(path, allow_pickle=False)
        else:
            raw = read_image_raw(path)
        return check_depth(depth_in_metres(raw, scale), shape, name=str(path))
    except ValueError as exc:
        raise MveqError(str(exc)) from exc


def correct_distance(T_cam_obj: np.ndarray, xyz: np.ndarray, xy: np.ndarray, depth: np.ndarray, min_points: int = 10, max_scale_change: float = 0.5) -> DepthCorrection | None:
    """The translation scale that makes the model depths of ``xyz`` (N, 3 object points, metres)
    agree with the measured ``depth`` (H, W metres, NaN invalid) at their pixels ``xy`` (N, 2).

    With R X_i + s t, point i's depth is z_i(s) = (R X_i)_z + s t_z, so each point votes
    s_i = (d_i - (R X_i)_z) / t_z; the median of the votes after dropping those more than 3 robust
    standard deviations from it (occluders, mixed pixels at silhouettes). None when fewer than
    ``min_points`` have a valid depth, the pose is behind the camera, or the scale would change by
    more than ``max_scale_change`` (the depth contradicts the pose: better no correction)."""
    T = np.asarray(T_cam_obj, np.float64)
    xyz, xy = np.asarray(xyz, np.float64).reshape(-1, 3), np.asarray(xy, np.float64).reshape(-1, 2)
    t_z = T[2, 3]
    if t_z <= 0 or len(xyz) < min_points:
        return None
    h, w = depth.shape
    u, v = np.round(xy[:, 0]).astype(int), np.round(xy[:, 1]).astype(int)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    d = np.full(len(xy), np.nan)
    d[inside] = depth[v[inside], u[inside]]
    valid = np.isfinite(d)
    if valid.sum() < min_points:
        return None
    rotated_z = xyz[valid] @ T[2, :3]
    votes = (d[valid] - rotated_z) / t_z
    median = np.median(votes)
    spread = 1.4826 * np.median(np.abs(votes - median))
    keep = np.abs(votes - median) <= max(3.0 * spread, 2e-3 / t_z)  # at least +-2 mm
    if keep.sum() < min_points:
        return None
    scale = float(np.median(votes[keep]))
    if abs(scale - 1.0) > max_scale_change:
        return None
    residual = float(np.median(np.abs(d[valid][keep] - (rotated_z[keep] + scale * t_z))))
    return DepthCorrection(scale=scale, shift_m=float((scale - 1.0) * np.linalg.norm(T[:3, 3])), points=int(keep.sum()), residual_m=residual)


def apply_correction(T_cam_obj: np.ndarray, correction: DepthCorrection) -> np.ndarray:
    """``T_cam_obj`` with its translation scaled by the correction."""
    T = np.array(T_cam_obj, np.float64, copy=True)
    T[:3, 3] *= correction.scale
    return T
