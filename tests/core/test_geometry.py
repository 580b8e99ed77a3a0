import math

import numpy as np
import pytest

from mveq_core import geometry as g


def test_project_unproject_roundtrip(rng):
    K = g.intrinsics_from_values(500, 480, 320.5, 240.25)
    xyz = rng.uniform([-0.2, -0.2, 0.5], [0.2, 0.2, 2.0], size=(100, 3))
    xy = g.project_points(xyz, K)
    back = g.unproject_points(xy, xyz[:, 2], K)
    np.testing.assert_allclose(back, xyz, atol=1e-12)


def test_look_at_puts_target_on_optical_axis_and_up_is_image_up():
    T = g.look_at(np.array([1.0, 0.0, 0.0]))  # camera on +x looking at the origin, z is up
    origin_cam = g.transform_points(T, np.zeros((1, 3)))[0]
    np.testing.assert_allclose(origin_cam, [0, 0, 1.0], atol=1e-12)
    above = g.transform_points(T, np.array([[0.0, 0.0, 0.1]]))[0]
    assert above[1] < 0  # world up is image up (OpenCV y points down)
    assert abs(np.linalg.det(T[:3, :3]) - 1) < 1e-12


def test_sphere_viewpoints_counts_and_uniformity():
    v42 = g.sphere_viewpoints(42)
    assert v42.shape == (42, 3)
    np.testing.assert_allclose(np.linalg.norm(v42, axis=1), 1.0, atol=1e-9)
    v96 = g.sphere_viewpoints(96)
    assert v96.shape == (96, 3) and len(np.unique(v96.round(6), axis=0)) == 96
    # near-uniform (ideal spacing ~21 deg): every nearest neighbour between 15 and 28 degrees
    d = np.degrees(np.arccos(np.clip(v96 @ v96.T, -1, 1))) + np.eye(96) * 1e3
    nearest = d.min(1)
    assert nearest.max() < 28 and nearest.min() > 15


def test_rotation_error_and_axis_angle():
    R = g.rotation_matrix_axis_angle(np.array([0, 0, 1.0]), math.radians(30))
    assert g.rotation_error_deg(R, np.eye(3)) == pytest.approx(30.0, abs=1e-9)
    assert g.rotation_error_deg(R, R) == pytest.approx(0.0, abs=1e-6)


def test_check_intrinsics_names_the_problem():
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        g.check_intrinsics(np.eye(4))
    with pytest.raises(ValueError, match="NaN"):
        g.check_intrinsics(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="positive"):
        g.check_intrinsics(g.intrinsics_from_values(0, 1, 1, 1))


def test_projected_points_box_with_points_behind_the_camera():
    from mveq_core.geometry import projected_points_box

    K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    points = np.array([[0.0, 0.0, 1.0], [0.2, 0.1, 1.0], [0.0, 0.0, -1.0]])  # the last is behind
    assert projected_points_box(points, np.eye(4), K, (100, 100), min_side=1.0) is None
    box = projected_points_box(points, np.eye(4), K, (100, 100), min_side=1.0, all_in_front=False)
    assert box == [50.0, 50.0, 70.0, 60.0]
    assert projected_points_box(points[:2], np.eye(4), K, (100, 100), min_side=15.0) is None  # 10 px tall
