"""mveq_core.box_distance: a pose's translation drawn toward the one whose mesh fills the box."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mveq_core.box_distance import draw_to_box, fit_translation, hull_points, points_box

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
SHAPE = (480, 640)


@pytest.fixture
def scene():
    """An elongated 12 x 6 x 4 cm box turned obliquely 0.8 m from the camera, its true projected
    box, and the same pose with its translation 4 % too far and 5 mm to the side."""
    mesh = trimesh.creation.box((0.12, 0.06, 0.04))
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [30, -40, 15], degrees=True).as_matrix()
    T[:3, 3] = [0.03, -0.02, 0.8]
    off = T.copy()
    off[:3, 3] = T[:3, 3] * 1.04 + [0.005, 0.0, 0.0]
    return mesh, T, off, points_box(np.asarray(mesh.vertices), K, T, SHAPE)


def test_hull_points_give_the_mesh_s_projected_box(scene):
    mesh, T, _, box = scene
    sphere = trimesh.creation.icosphere(3, 0.05)
    assert len(hull_points(sphere)) <= len(sphere.vertices)
    assert np.allclose(points_box(hull_points(mesh), K, T, SHAPE), box)
    assert np.allclose(points_box(hull_points(sphere), K, T, SHAPE), points_box(np.asarray(sphere.vertices), K, T, SHAPE))


def test_fit_translation_recovers_the_distance_from_the_box(scene):
    mesh, T, off, box = scene
    iou, fitted = fit_translation(hull_points(mesh), K, off, box, SHAPE)
    assert iou > 0.97
    assert np.allclose(fitted[:3, :3], off[:3, :3])  # the rotation is kept
    assert abs(fitted[2, 3] - T[2, 3]) < 0.004 and np.linalg.norm(fitted[:3, 3] - T[:3, 3]) < 0.005  # from 32 mm off


def test_draw_to_box_moves_the_given_share_of_the_way_within_its_gates(scene):
    mesh, T, off, box = scene
    points = hull_points(mesh)
    _, fitted = fit_translation(points, K, off, box, SHAPE)
    half, fit = draw_to_box(points, K, off, box, SHAPE, 0.5)
    assert fit.applied and fit.iou > 0.97 and fit.distance_ratio == pytest.approx(fitted[2, 3] / off[2, 3])
    assert np.allclose(half[:3, 3], (off[:3, 3] + fitted[:3, 3]) / 2) and np.allclose(half[:3, :3], off[:3, :3])
    assert fit.shift_m == pytest.approx(np.linalg.norm(half[:3, 3] - off[:3, 3])) and np.allclose(fit.translation_m, off[:3, 3])
    assert np.linalg.norm(half[:3, 3] - T[:3, 3]) < 0.6 * np.linalg.norm(off[:3, 3] - T[:3, 3])
    # the fitted distance is about 4 % off the estimate's: a 2 % gate keeps the pose
    kept, fit = draw_to_box(points, K, off, box, SHAPE, 0.5, max_change=0.02)
    assert not fit.applied and fit.shift_m == 0.0 and np.array_equal(kept, off)
    # a box the mesh cannot fill at this rotation (a square around an elongated object) is no fit
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0)
    square = [(x0 + x1 - side) / 2, (y0 + y1 - side) / 2, (x0 + x1 + side) / 2, (y0 + y1 + side) / 2]
    kept, fit = draw_to_box(points, K, off, square, SHAPE, 0.5)
    assert fit.iou < 0.9 and not fit.applied and np.array_equal(kept, off)
    assert np.array_equal(draw_to_box(points, K, off, box, SHAPE, 0.0)[0], off)
