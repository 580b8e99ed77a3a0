"""Tracking mode on a rendered sequence: crops around the previous pose while the object is seen,
lost then searching while it is gone, tracking again after it re-enters."""

import numpy as np
import pytest

from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
from mveq_core.geometry import intrinsics_from_values, make_transform, rotation_matrix_axis_angle
from mveq_core.metrics.pose import query_pose_error
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.pose_tracking import LOST, SEARCHING, TRACKING, PoseTracker, TrackingConfig
from mveq_core.render import render_view
from tests.helpers import CoordinateFeatures, coordinate_coloured

K = intrinsics_from_values(320.0, 320.0, 159.5, 119.5)


@pytest.fixture(scope="module")
def sequence(procedural_mesh):
    mesh = coordinate_coloured(procedural_mesh)[0]
    lo, hi = mesh.bounds
    frames = []
    for t in range(12):
        R = rotation_matrix_axis_angle(np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2]), 0.5 + 0.06 * t)
        x = -0.06 + 0.01 * t if t < 5 else (3.0 if t < 8 else 0.05 - 0.01 * (t - 8))  # frames 5-7: out of view
        T = make_transform(R, -R @ ((lo + hi) / 2) + [x, 0.01, 0.75])
        frames.append((render_view(mesh, K, T, (240, 320), None, False, flat=True).rgb, T))
    db = build_database_from_mesh(CoordinateFeatures(), mesh, "toy", CadDatabaseConfig(views=96, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS), progress=False)
    return db, frames


def test_tracking_recovers_after_the_object_leaves_and_reenters(sequence, procedural_mesh):
    db, frames = sequence
    estimator = PoseEstimator(CoordinateFeatures(), [db], PoseConfig(input_size=256))
    estimator.set_mesh("toy", coordinate_coloured(procedural_mesh)[0], True)  # a mesh: box_distance could draw
    tracker = PoseTracker(estimator, TrackingConfig(max_failures=2))
    states, errors, passes = [], [], []
    for rgb, T in frames:
        tracked = tracker.update(rgb, K)["toy"]
        assert tracked.result.box_fit is None  # the crop around the last pose is no detection: nothing drawn toward it
        states.append(tracked.state)
        passes.append("first_pass" in tracked.result.timings_ms)  # two passes = a whole-image search
        if tracked.state == TRACKING:
            errors.append(query_pose_error(tracked.result.T_cam_obj, T))
    assert states[:5] == [TRACKING] * 5
    assert passes[0] and not any(passes[1:5])  # found by a search, then one crop pass per frame
    assert states[5] == LOST and states[6] == SEARCHING and states[7] == SEARCHING  # gone: kept once, then searched for
    assert states[8:] == [TRACKING] * 4 and passes[8] and not any(passes[9:])  # found again, tracked again
    assert max(e[0] for e in errors) < 2.0 and max(e[1] for e in errors) < 0.5  # degrees, cm


def test_tracking_mode_benchmark_on_a_stream(procedural_mesh):
    from mveq_core.benchmarks.tracking_mode import format_table, render_stream, run_tracking_mode

    mesh = coordinate_coloured(procedural_mesh)[0]
    db = build_database_from_mesh(CoordinateFeatures(), mesh, "toy", CadDatabaseConfig(views=96, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS), progress=False)
    stream = render_stream(mesh, frames=8, gap=(3, 5), flat=True)
    assert [f.visible for f in stream] == [True, True, True, False, False, True, True, True]
    result = run_tracking_mode(PoseEstimator(CoordinateFeatures(), [db], PoseConfig(input_size=256)), "toy", stream, TrackingConfig(max_failures=1))
    tracking, detection = result["modes"]["tracking"], result["modes"]["detection"]
    assert tracking["success_rate"] == 1.0 and detection["success_rate"] == 1.0
    assert tracking["false_poses_while_out_of_view"] == 0 == detection["false_poses_while_out_of_view"]
    assert [r["state"] for r in tracking["rows"]] == [TRACKING] * 3 + [SEARCHING] * 2 + [TRACKING] * 3
    assert "tracking" in format_table(result)


def test_previous_pose_rescues_a_frame_where_ransac_failed():
    """The previous pose verifies the new one: 60 % of this frame's matches agree with a pose 1° and
    5 mm away from the previous one; RANSAC 'failed'; the prior is refined onto them."""
    from mveq_core.geometry import make_transform, project_points, rotation_matrix_axis_angle, transform_points
    from mveq_core.pose import PoseResult
    from mveq_core.pose_tracking import refine_from_prior

    rng = np.random.default_rng(0)
    K = np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]])
    T_true = make_transform(rotation_matrix_axis_angle(np.array([0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3]), 0.8), [0.02, -0.01, 0.6])
    T_prior = make_transform(rotation_matrix_axis_angle(np.array([1.0, 0, 0]), np.radians(1.0)) @ T_true[:3, :3], T_true[:3, 3] + [0.005, 0, 0])
    xyz = rng.uniform(-0.05, 0.05, (200, 3))
    xy = project_points(transform_points(T_true, xyz), K) + rng.normal(0, 0.5, (200, 2))
    xy[120:] = rng.uniform(0, 640, (80, 2))  # 40 % wrong matches
    failed = PoseResult.failure("toy", "RANSAC found no pose", {"total": 1.0}, xy, xyz)
    rescued = refine_from_prior(failed, T_prior, K, 8.0)
    assert rescued is not None and rescued.success and rescued.reason == "refined from the previous pose"
    assert rescued.num_inliers >= 115 and np.abs(rescued.T_cam_obj[:3, 3] - T_true[:3, 3]).max() < 0.003
    # a prior that explains nothing leaves the frame's own result alone
    far = make_transform(np.eye(3), [0.3, 0.3, 2.0])
    assert refine_from_prior(failed, far, K, 8.0) is None
