"""Camera geometry in OpenCV conventions: projection, transforms, viewpoints and pose errors.

Conventions (see docs/architecture.md):
- pixel ``xy`` = (column, row), pixel centres at integer coordinates;
- poses are ``T_cam_obj`` (4, 4): x_cam = R @ x_obj + t, metres, OpenCV camera axes (x right, y down,
  z forward). OpenGL axes appear only at the renderer boundary through :data:`OPENGL_FROM_OPENCV`.
"""

from __future__ import annotations

import math

import numpy as np

# Flips y and z: maps OpenCV camera axes to OpenGL camera axes (and back; it is its own inverse).
OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
# COLMAP puts the centre of the top-left pixel at (0.5, 0.5), OpenCV and mveq at (0, 0):
# COLMAP pixel = OpenCV pixel + COLMAP_PIXEL_OFFSET (principal points and keypoints alike).
COLMAP_PIXEL_OFFSET = 0.5


def check_intrinsics(K: np.ndarray, name: str = "K") -> np.ndarray:
    """Return ``K`` as a (3, 3) float64 array, or raise ValueError naming what is wrong."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"{name}: expected intrinsics of shape (3, 3), got {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError(f"{name}: intrinsics contain NaN or infinity")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"{name}: focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")
    if not np.allclose(K[2], [0.0, 0.0, 1.0]):
        raise ValueError(f"{name}: last row must be [0, 0, 1], got {K[2].tolist()}")
    return K


def intrinsics_from_values(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """K (3, 3) from focal lengths and principal point, in pixels."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def transform_points(T: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) rigid transform to points (N, 3)."""
    return xyz @ T[:3, :3].T + T[:3, 3]


def invert_transform(T: np.ndarray) -> np.ndarray:
    """Inverse of a (4, 4) rigid transform."""
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


def make_transform(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(4, 4) from R (3, 3) and t (3,)."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t).reshape(3)
    return T


def project_points(xyz_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Project camera-frame points (N, 3) to pixels (N, 2); points must have z > 0."""
    uvw = xyz_cam @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


def unproject_points(xy: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Camera-frame points (N, 3) from pixels (N, 2) and their z-depth (N,) in metres."""
    ones = np.ones((xy.shape[0], 1))
    rays = np.concatenate([xy, ones], axis=1) @ np.linalg.inv(K).T
    return rays * depth[:, None]


def depth_to_object_points(depth: np.ndarray, K: np.ndarray, T_cam_obj: np.ndarray, mask: np.ndarray | None = None):
    """Object-frame 3D points of every valid pixel of a depth map.

    Returns ``xy`` (N, 2) pixel coordinates and ``xyz_obj`` (N, 3) metres, for pixels with depth > 0
    (and inside ``mask`` when given).
    """
    valid = depth > 0
    if mask is not None:
        valid &= mask.astype(bool)
    rows, cols = np.nonzero(valid)
    xy = np.stack([cols, rows], axis=1).astype(np.float64)
    xyz_cam = unproject_points(xy, depth[rows, cols].astype(np.float64), K)
    return xy, transform_points(invert_transform(T_cam_obj), xyz_cam)


def rotation_error_deg(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """Geodesic angle between two rotations, degrees (OnePose ``query_pose_error`` convention)."""
    cos = (np.trace(R_est @ R_gt.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def rotation_matrix_axis_angle(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rodrigues rotation about a (3,) axis."""
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle_rad) * K + (1 - math.cos(angle_rad)) * K @ K


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """Uniformly distributed rotation (3, 3) from a unit quaternion."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def box_corners(bbox) -> np.ndarray:
    """The 8 corners (8, 3) of an axis-aligned box given as [[min_x, min_y, min_z], [max_x, max_y, max_z]]."""
    lo, hi = np.asarray(bbox[0], dtype=np.float64), np.asarray(bbox[1], dtype=np.float64)
    return np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])


def look_at(eye: np.ndarray, target: np.ndarray = np.zeros(3), up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """``T_cam_obj`` (4, 4) of an OpenCV camera at ``eye`` (object frame) looking at ``target``.

    The camera's -y axis (image up) is as close to ``up`` as possible; when the viewing direction is
    parallel to ``up`` another up vector is chosen.
    """
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    up = np.asarray(up, dtype=np.float64)
    if abs(np.dot(z, up / np.linalg.norm(up))) > 0.999:
        up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(z, up)  # image right = forward x up  (OpenCV: y is down)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R_obj_cam = np.stack([x, y, z], axis=1)  # columns: camera axes in the object frame
    return invert_transform(make_transform(R_obj_cam, eye))


def icosphere_vertices(subdivisions: int) -> np.ndarray:
    """Unit vertices of a geodesic icosphere: 12, 42, 162, 642, ... points."""
    import trimesh

    return np.asarray(trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0).vertices)


def farthest_point_subset(points: np.ndarray, count: int, start: int = 0) -> np.ndarray:
    """Indices of ``count`` points chosen greedily to be far apart (deterministic)."""
    chosen = [start]
    dist = np.linalg.norm(points - points[start], axis=1)
    for _ in range(count - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
    return np.array(chosen)


def sphere_viewpoints(count: int) -> np.ndarray:
    """``count`` near-uniform unit view directions (N, 3) from an icosphere.

    42 gives exactly the vertices of the once-subdivided icosphere (the 42 views of the paper's
    equivariance study); other counts take the smallest icosphere with enough vertices and keep a
    farthest-point subset of it, so 96 (the database default) is a uniform subset of the 162-vertex
    sphere.
    """
    if count < 1:
        raise ValueError(f"view count must be positive, got {count}")
    level = 0
    while 10 * 4**level + 2 < count:
        level += 1
    verts = icosphere_vertices(level)
    if len(verts) == count:
        return verts
    top = int(np.argmax(verts[:, 2]))
    return verts[farthest_point_subset(verts, count, start=top)]


def viewpoint_poses(directions: np.ndarray, distance: float, inplane_deg: np.ndarray | float = 0.0) -> np.ndarray:
    """``T_cam_obj`` (N, 4, 4) of cameras on a sphere of radius ``distance`` looking at the origin.

    ``inplane_deg`` rotates each camera about its optical axis (scalar or (N,)).
    """
    inplane = np.broadcast_to(np.asarray(inplane_deg, dtype=np.float64), (len(directions),))
    poses = []
    for direction, angle in zip(directions, inplane):
        T = look_at(direction * distance)
        if angle:
            T = make_transform(rotation_matrix_axis_angle(np.array([0.0, 0.0, 1.0]), math.radians(angle)), np.zeros(3)) @ T
        poses.append(T)
    return np.stack(poses)


def view_angle_deg(T_a: np.ndarray, T_b: np.ndarray) -> float:
    """Angle between the relative rotation of two camera poses of the same object, degrees."""
    return rotation_error_deg(T_a[:3, :3], T_b[:3, :3])


def points_diameter(points: np.ndarray) -> float:
    """Largest distance between two of the points (N, 3): over their convex hull, so O(h^2) in
    the hull's vertex count rather than O(N^2)."""
    from scipy.spatial import ConvexHull
    from scipy.spatial.distance import pdist

    points = np.asarray(points, dtype=np.float64)
    if len(points) > 4:
        try:
            points = points[ConvexHull(points).vertices]
        except Exception:  # flat or degenerate point sets: all of them
            pass
    return float(pdist(points).max()) if len(points) > 1 else 0.0


def projected_points_box(points: np.ndarray, T_cam_obj: np.ndarray, K: np.ndarray, shape: tuple[int, int], min_side: float, dist_coeffs: np.ndarray | None = None, all_in_front: bool = True) -> list[float] | None:
    """Image box [x0, y0, x1, y1] of object points (N, 3) (metres) at ``T_cam_obj``, through the lens
    distortion when given, clipped to ``shape`` (H, W). Points behind the camera make it None
    (``all_in_front``) or are left out; None too when the clipped box is under ``min_side`` pixels."""
    cam = transform_points(T_cam_obj, np.asarray(points, np.float64))
    in_front = cam[:, 2] > 1e-3
    if (all_in_front and not in_front.all()) or not in_front.any():
        return None
    cam = cam[in_front]
    if dist_coeffs is not None and np.any(dist_coeffs):
        import cv2

        px = cv2.projectPoints(cam.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), np.asarray(K, np.float64), np.asarray(dist_coeffs, np.float64))[0].reshape(-1, 2)
    else:
        px = project_points(cam, K)
    h, w = shape
    x0, y0 = np.clip(px.min(0), 0, [w, h])
    x1, y1 = np.clip(px.max(0), 0, [w, h])
    if x1 - x0 < min_side or y1 - y0 < min_side:
        return None
    return [float(x0), float(y0), float(x1), float(y1)]


def projected_box(bbox, T_cam_obj: np.ndarray, K: np.ndarray, shape: tuple[int, int], min_side: float, dist_coeffs: np.ndarray | None = None) -> list[float] | None:
    """Image box [x0, y0, x1, y1] of a 3D box ``bbox`` (2, 3) [min, max] (object frame, metres) at
    ``T_cam_obj`` (:func:`projected_points_box` of its eight corners, all in front)."""
    return projected_points_box(box_corners(bbox), T_cam_obj, K, shape, min_side, dist_coeffs)
