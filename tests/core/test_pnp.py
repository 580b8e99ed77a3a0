import numpy as np
import pytest

from mveq_core.benchmarks.pnp_accuracy import make_set
from mveq_core.geometry import intrinsics_from_values, make_transform, project_points, random_rotation, transform_points
from mveq_core.metrics.pose import query_pose_error
from mveq_core.pnp import PnPConfig, solve_pnp

K = intrinsics_from_values(600, 600, 320, 240)


def _problem(n=1000, inlier_fraction=0.3, noise_px=0.5, seed=0):
    rng = np.random.default_rng(seed)
    T = make_transform(random_rotation(rng), np.array([0.02, -0.01, 0.6]))
    xyz = rng.uniform(-0.1, 0.1, size=(n, 3))
    xy = project_points(transform_points(T, xyz), K) + rng.normal(0, noise_px, size=(n, 2))
    outliers = rng.random(n) > inlier_fraction
    xy[outliers] = rng.uniform([0, 0], [640, 480], size=(outliers.sum(), 2))
    return xyz, xy, T, ~outliers


@pytest.mark.parametrize("backend, max_deg", [("poselib", 0.2), ("opencv", 3.0)])
def test_backends_recover_pose_among_outliers(backend, max_deg):
    xyz, xy, T, truth = _problem(inlier_fraction=0.3)
    result = solve_pnp(xyz, xy, K, PnPConfig(backend=backend))
    assert result.success
    rot, trans_cm = query_pose_error(result.T_cam_obj, T)
    assert rot < max_deg and trans_cm < 1.0, (rot, trans_cm)
    assert abs(result.inlier_ratio - truth.mean()) < 0.05
    assert (result.inliers & truth).sum() > 0.95 * truth.sum()
    assert result.reprojection_error < 2.0


def test_too_few_correspondences_or_inliers_is_no_pose():
    xyz, xy, _, _ = _problem(n=3)
    result = solve_pnp(xyz, xy, K)
    assert not result.success and "at least 4" in result.reason
    xyz, xy, _, _ = _problem(n=500, inlier_fraction=0.0)
    result = solve_pnp(xyz, xy, K)
    assert not result.success and result.T_cam_obj is None and ("inliers" in result.reason or "ratio" in result.reason)


def test_distortion_is_removed_before_pnp():
    import cv2

    xyz, _, T, _ = _problem(n=300, inlier_fraction=1.0, noise_px=0.0)
    dist = np.array([-0.25, 0.08, 0.001, -0.0005, 0.0])
    rvec, _ = cv2.Rodrigues(T[:3, :3])
    distorted, _ = cv2.projectPoints(xyz, rvec, T[:3, 3], K, dist)
    distorted = distorted.reshape(-1, 2)
    with_model = solve_pnp(xyz, distorted, K, dist_coeffs=dist)
    without = solve_pnp(xyz, distorted, K, PnPConfig(threshold_px=1.0))
    assert query_pose_error(with_model.T_cam_obj, T)[0] < 0.05
    assert with_model.num_inliers == 300 and (not without.success or without.num_inliers < 300)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="xyz has 5 points but xy has 4"):
        solve_pnp(np.zeros((5, 3)), np.zeros((4, 2)), K)
    with pytest.raises(ValueError, match="unknown PnP back-end"):
        PnPConfig(backend="magic")


def test_auto_backend_is_gpu_on_cuda_and_poselib_on_the_cpu():
    from mveq_core.pnp import resolve_backend

    assert PnPConfig().backend == "auto"
    assert resolve_backend("auto", "cuda") == "gpu" and resolve_backend("auto", "cuda:1") == "gpu"
    assert resolve_backend("auto", "cpu") == "poselib" and resolve_backend("auto", None) == "poselib"
    assert resolve_backend("opencv", "cuda") == "opencv"
    rng = np.random.default_rng(5)
    s = make_set(300, 0.5, 1.0, rng)
    auto = solve_pnp(s.xyz, s.xy, K, PnPConfig(), device="cpu")
    poselib = solve_pnp(s.xyz, s.xy, K, PnPConfig(backend="poselib"), device="cpu")
    np.testing.assert_array_equal(auto.T_cam_obj, poselib.T_cam_obj)
