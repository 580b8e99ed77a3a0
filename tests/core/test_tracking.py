"""Point tracking on a rendered video of a moving textured object with analytic ground-truth tracks."""

import math

import numpy as np
import pytest

from mveq_core.geometry import (
    depth_to_object_points,
    intrinsics_from_values,
    make_transform,
    project_points,
    rotation_matrix_axis_angle,
    transform_points,
)
from mveq_core.render import render_view
from mveq_core.tracking import Tracker, TrackerConfig, grid_points_in_mask
from tests.helpers import CoordinateFeatures, coordinate_coloured

K = intrinsics_from_values(220.0, 220.0, 95.5, 71.5)


@pytest.fixture(scope="module")
def video(procedural_mesh):
    """The object spins 120 degrees about its vertical axis over 13 frames while drifting right."""
    mesh = coordinate_coloured(procedural_mesh)[0]
    poses, views = [], []
    for t in range(13):
        R = rotation_matrix_axis_angle(np.array([0, 1.0, 0]), math.radians(10 * t)) @ rotation_matrix_axis_angle(np.array([1.0, 0, 0]), math.radians(20))
        T = make_transform(R, np.array([0.004 * t - 0.02, 0.0, 0.6]))
        poses.append(T)
        views.append(render_view(mesh, K, T, (144, 192), None, False, flat=True))
    return mesh, poses, views


def _ground_truth(poses, views, query_xy):
    """Analytic tracks and visibility of query pixels of frame 0."""
    depth0 = views[0].depth
    xy_all, xyz_all = depth_to_object_points(depth0, K, poses[0], views[0].mask)
    lookup = {(int(x), int(y)): p for (x, y), p in zip(xy_all, xyz_all)}
    xyz = np.array([lookup[(int(x), int(y))] for x, y in query_xy])
    tracks, visible = [], []
    for T, view in zip(poses, views):
        cam = transform_points(T, xyz)
        px = project_points(cam, K)
        ix = np.clip(np.round(px).astype(int), 0, [191, 143])
        seen = view.depth[ix[:, 1], ix[:, 0]]
        tracks.append(px)
        visible.append((seen > 0) & (np.abs(seen - cam[:, 2]) < 0.004))
    return np.stack(tracks, 1), np.stack(visible, 1)


def test_tracks_stay_within_2px_and_hidden_points_are_flagged(video):
    mesh, poses, views = video
    frames = np.stack([v.rgb for v in views])
    query_xy = grid_points_in_mask(views[0].mask & (views[0].depth > 0), spacing=4)
    # keep query points away from the silhouette (their colours blend with the background)
    from scipy.ndimage import binary_erosion

    inner = binary_erosion(views[0].mask, iterations=2)
    query_xy = query_xy[inner[query_xy[:, 1].astype(int), query_xy[:, 0].astype(int)]]
    gt_tracks, gt_visible = _ground_truth(poses, views, query_xy)
    assert len(query_xy) > 100 and (~gt_visible).sum() > 50  # the spin hides part of the points

    tracker = Tracker(CoordinateFeatures(frequency=60.0), TrackerConfig(patch_stride=None, softmax_radius_px=3.0, softmax_temperature=0.05))
    queries = np.c_[np.zeros(len(query_xy)), query_xy]
    tracks, occluded, _ = tracker.track(frames, queries, anchors=False)
    errors = np.linalg.norm(tracks - gt_tracks, axis=-1)[gt_visible]
    assert np.percentile(errors, 95) < 2.0, np.percentile(errors, 95)
    hidden = ~gt_visible
    assert occluded[hidden].mean() > 0.9  # points that moved behind the object are flagged
    assert occluded[gt_visible].mean() < 0.1

    # frame by frame (the ROS node's mode) agrees with the whole-video run
    tracker.start(frames[0], query_xy)
    for t in (4, 8, 12):
        xy, visible, score = tracker.step(frames[t])
        np.testing.assert_allclose(xy, tracks[:, t], atol=1e-3)
        np.testing.assert_array_equal(visible, ~occluded[:, t])
