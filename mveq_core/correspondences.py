"""Dense pixel correspondences between two views of an object from depth, with a visibility test."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import depth_to_object_points, project_points, transform_points


@dataclass
class Correspondences:
    """Pixels of view A, their matches in view B and the shared 3D object points.

    ``xy_a`` (N, 2) and ``xy_b`` (N, 2) pixels; ``xyz_obj`` (N, 3) object coordinates, metres.
    """

    xy_a: np.ndarray
    xy_b: np.ndarray
    xyz_obj: np.ndarray

    def __len__(self) -> int:
        return len(self.xy_a)


def bilinear_depth(depth: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth at sub-pixel positions; also whether all four neighbours hold depth (same surface)."""
    h, w = depth.shape
    x0 = np.floor(xy[:, 0]).astype(int)
    y0 = np.floor(xy[:, 1]).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
    x0c, y0c = np.clip(x0, 0, w - 2), np.clip(y0, 0, h - 2)
    fx, fy = xy[:, 0] - x0c, xy[:, 1] - y0c
    d00, d01 = depth[y0c, x0c], depth[y0c, x0c + 1]
    d10, d11 = depth[y0c + 1, x0c], depth[y0c + 1, x0c + 1]
    values = d00 * (1 - fx) * (1 - fy) + d01 * fx * (1 - fy) + d10 * (1 - fx) * fy + d11 * fx * fy
    full = inside & (d00 > 0) & (d01 > 0) & (d10 > 0) & (d11 > 0)
    return values, full


def dense_correspondences(
    depth_a: np.ndarray,
    K_a: np.ndarray,
    T_a: np.ndarray,
    depth_b: np.ndarray,
    K_b: np.ndarray,
    T_b: np.ndarray,
    mask_a: np.ndarray | None = None,
    rel_tolerance: float = 0.01,
    abs_tolerance: float = 1e-3,
) -> Correspondences:
    """Match every object pixel of view A to view B by unprojecting and reprojecting its depth.

    A pixel counts as visible in B when its reprojection lands inside B's image on the object and
    its depth in B agrees with B's depth map within ``max(abs_tolerance, rel_tolerance * z)``
    metres: points hidden behind other surfaces of the object are excluded.

    Args:
        depth_a, depth_b: (H, W) metric depth, 0 for background.
        K_a, K_b: (3, 3) intrinsics; T_a, T_b: (4, 4) ``T_cam_obj``.
        mask_a: optional (H, W) restriction of the pixels of A.
    """
    xy_a, xyz_obj = depth_to_object_points(depth_a, K_a, T_a, mask_a)
    xyz_b = transform_points(T_b, xyz_obj)
    in_front = xyz_b[:, 2] > 1e-6
    xy_b = np.full_like(xy_a, -1.0)
    xy_b[in_front] = project_points(xyz_b[in_front], K_b)
    z_seen, on_object = bilinear_depth(depth_b.astype(np.float64), xy_b)
    tolerance = np.maximum(abs_tolerance, rel_tolerance * xyz_b[:, 2])
    visible = in_front & on_object & (np.abs(z_seen - xyz_b[:, 2]) < tolerance)
    return Correspondences(xy_a[visible], xy_b[visible], xyz_obj[visible])
