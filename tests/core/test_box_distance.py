"""mveq_core.box_distance: a pose's translation drawn toward the one whose mesh fills the box."""

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from mveq_core.box_distance import draw_to_box, hull_points, points_box, robust_fit

K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
SHAPE = (480, 640)


@pytest.fixture
def scene():
    """An elongated 12 x 6 x 4 cm box turned obliquely 0.8 m from the camera (its hull points), its
    true projected box, and the same pose with its translation 4 % too far and 5 mm to the side."""
    mesh = trimesh.creation.box((0.12, 0.06, 0.04))
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [30, -40, 15], degrees=True).as_matrix()
    T[:3, 3] = [0.03, -0.02, 0.8]
    off = T.copy()
    off[:3, 3] = T[:3, 3] * 1.04 + [0.005, 0.0, 0.0]
    return hull_points(mesh), T, off, points_box(np.asarray(mesh.vertices), K, T, SHAPE)


def test_hull_points_give_the_mesh_s_projected_box(scene):
    points, T, _, box = scene
    sphere = trimesh.creation.icosphere(3, 0.05)
    assert len(hull_points(sphere)) <= len(sphere.vertices) and len(points) == 8
    assert np.allclose(points_box(hull_points(sphere), K, T, SHAPE), points_box(np.asarray(sphere.vertices), K, T, SHAPE))


def test_robust_fit_recovers_the_translation_from_the_box_and_allows_for_one_occluded_side(scene):
    points, T, off, box = scene
    fit, how = robust_fit(points, K, off, box, SHAPE)
    assert how == "all sides" and np.allclose(fit[:3, :3], off[:3, :3])  # the rotation is kept
    assert np.linalg.norm(fit[:3, 3] - T[:3, 3]) < 0.001  # from 32 mm off
    # an occluder cuts one side short by a quarter (top, then right): the other axis fixes the
    # distance, and either side of the cut axis could be the occluded one, so the distance alone
    width, height = box[2] - box[0], box[3] - box[1]
    for side, inward, name in ((1, 0.25 * height, "y0 or y1"), (2, -0.25 * width, "x0 or x1")):
        cut = list(box)
        cut[side] += inward
        fit, how = robust_fit(points, K, off, cut, SHAPE)
        assert how == f"side {name} occluded: distance only" and abs(fit[2, 3] - T[2, 3]) < 0.002
        assert np.allclose(np.cross(fit[:3, 3], off[:3, 3]), 0.0, atol=1e-9)  # along the pose's own ray
    # cut short on one side of each axis by as much, the box is the object's a third farther away
    # (no fit can tell): the draw's distance gate keeps the pose
    cut[1] += 0.25 * height
    kept, record = draw_to_box(points, K, off, cut, SHAPE, 0.5)
    assert record.distance_ratio > 1.2 and not record.applied and np.array_equal(kept, off)
    # a box the image cuts says nothing
    assert robust_fit(points, K, off, [0.0, *box[1:]], SHAPE) == (None, "box on the image border")


def test_draw_to_box_moves_the_given_share_of_the_way_within_its_gate(scene):
    points, T, off, box = scene
    fit, _ = robust_fit(points, K, off, box, SHAPE)
    half, record = draw_to_box(points, K, off, box, SHAPE, 0.5)
    assert record.applied and record.how == "all sides" and record.iou > 0.99
    assert record.distance_ratio == pytest.approx(fit[2, 3] / off[2, 3])
    assert np.allclose(half[:3, 3], (off[:3, 3] + fit[:3, 3]) / 2) and np.allclose(half[:3, :3], off[:3, :3])
    assert record.shift_m == pytest.approx(np.linalg.norm(half[:3, 3] - off[:3, 3])) and np.allclose(record.translation_m, off[:3, 3])
    assert np.linalg.norm(half[:3, 3] - T[:3, 3]) == pytest.approx(np.linalg.norm(off[:3, 3] - T[:3, 3]) / 2, rel=0.05)
    # the fitted distance is about 4 % off the estimate's: a 2 % gate keeps the pose
    kept, record = draw_to_box(points, K, off, box, SHAPE, 0.5, max_change=0.02)
    assert not record.applied and record.shift_m == 0.0 and np.array_equal(kept, off)
    # no fit: the pose as it was, the reason recorded
    kept, record = draw_to_box(points, K, off, [0.0, *box[1:]], SHAPE, 0.5)
    assert np.array_equal(kept, off) and not record.applied and record.how == "box on the image border" and record.iou is None
