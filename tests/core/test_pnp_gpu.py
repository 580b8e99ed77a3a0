"""The torch (``gpu``) robust-PnP back-end on the CPU: P3P, the quartic solver, RANSAC accuracy
against poselib on the same sets, determinism."""

import numpy as np
import pytest
import torch

from mveq_core.benchmarks.pnp_accuracy import K, make_set
from mveq_core.geometry import random_rotation, rotation_error_deg
from mveq_core.pnp import PnPConfig, solve_pnp
from mveq_core.pnp_gpu import _real_roots, p3p, ransac_pnp_torch


def test_quartic_roots_real_and_complex():
    rng = np.random.default_rng(0)
    roots = rng.uniform(-3, 3, (500, 4))
    real, mask = _real_roots(torch.tensor(np.stack([np.poly(r) for r in roots]) * 3.7))
    assert bool(mask.all())
    np.testing.assert_allclose(np.sort(real.numpy(), 1), np.sort(roots, 1), atol=1e-8)
    pair = np.real(np.poly([0.5, -1.25, 1 + 1j, 1 - 1j]))
    real, mask = _real_roots(torch.tensor(pair[None]))
    np.testing.assert_allclose(np.sort(real[0][mask[0]].numpy()), [-1.25, 0.5], atol=1e-9)
    # biquadratics (no odd terms: the resolvent's root is 0 and the split takes its limit), a double root
    cases = [([1, 0, -5, 0, 4], [-2, -1, 1, 2]), ([1, 0, 2, 0, -3], [-1, 1]), ([1, 0, 1, 0, 1], []), (np.poly([0.5, 0.5, -1, 3]), [-1, 0.5, 0.5, 3])]
    real, mask = _real_roots(torch.tensor(np.array([c for c, _ in cases], float)))
    for k, (_, expected) in enumerate(cases):
        np.testing.assert_allclose(np.sort(real[k][mask[k]].numpy()), expected, atol=1e-6)


def test_p3p_recovers_the_pose_among_its_candidates():
    rng = np.random.default_rng(1)
    for _ in range(20):
        R, t = random_rotation(rng), np.array([0.02, -0.01, 0.7])
        world = rng.uniform(-0.1, 0.1, (3, 3))
        cam = world @ R.T + t
        bearings = cam / np.linalg.norm(cam, axis=1, keepdims=True)
        Rs, ts, valid = p3p(torch.tensor(world[None]), torch.tensor(bearings[None]))
        errors = [rotation_error_deg(Rs[k].numpy(), R) + 100 * np.linalg.norm(ts[k].numpy() - t) for k in range(4) if valid[k]]
        assert min(errors) < 1e-4  # arccos near 1 limits the rotation error to ~1e-5 deg


@pytest.mark.parametrize("outliers", [0.5, 0.8])
def test_ransac_as_accurate_as_poselib(outliers):
    rng = np.random.default_rng(int(outliers * 10))
    for _ in range(3):
        s = make_set(300, outliers, 1.0, rng)
        config = PnPConfig(iterations=2000, min_inliers=4, min_inlier_ratio=0.0)
        ours = solve_pnp(s.xyz, s.xy, K, PnPConfig(**{**config.__dict__, "backend": "gpu"}), device="cpu")
        theirs = solve_pnp(s.xyz, s.xy, K, config)
        assert ours.success and theirs.success
        rot = rotation_error_deg(ours.T_cam_obj[:3, :3], s.T[:3, :3])
        cm = 100 * np.linalg.norm(ours.T_cam_obj[:3, 3] - s.T[:3, 3])
        rot_p = rotation_error_deg(theirs.T_cam_obj[:3, :3], s.T[:3, :3])
        assert rot < 1.0 and cm < 1.0
        assert rot < max(2 * rot_p, 0.3)
        inliers = int(round((1 - outliers) * 300))
        assert abs(ours.num_inliers - inliers) <= 0.05 * 300  # the true inliers, few chance outliers


def test_compiled_search_gives_the_eager_pose():
    """torch.compile of the whole search (``compile=True``; meant for CUDA, compiled here by the CPU's
    compiler): one graph without breaks, the same pose and inliers as the eager search."""
    rng = np.random.default_rng(11)
    s = make_set(300, 0.6, 1.0, rng)
    eager = ransac_pnp_torch(s.xyz, s.xy, K, 1000, 8.0, seed=5, preemptive=128, keep=32)
    compiled = ransac_pnp_torch(s.xyz, s.xy, K, 1000, 8.0, seed=5, preemptive=128, keep=32, compile=True)
    np.testing.assert_allclose(compiled.T_cam_obj, eager.T_cam_obj, atol=1e-9)
    np.testing.assert_array_equal(compiled.inliers, eager.inliers)
    assert rotation_error_deg(compiled.T_cam_obj[:3, :3], s.T[:3, :3]) < 1.0


def test_ransac_is_deterministic_and_reports_no_pose_on_noise():
    rng = np.random.default_rng(7)
    s = make_set(200, 0.5, 1.0, rng)
    a = ransac_pnp_torch(s.xyz, s.xy, K, 1000, 8.0, seed=3)
    b = ransac_pnp_torch(s.xyz, s.xy, K, 1000, 8.0, seed=3)
    np.testing.assert_array_equal(a.T_cam_obj, b.T_cam_obj)
    np.testing.assert_array_equal(a.inliers, b.inliers)
    noise = make_set(200, 1.0, 1.0, rng)  # all outliers: consensus stays at chance level
    result = solve_pnp(noise.xyz, noise.xy, K, PnPConfig(backend="gpu", iterations=1000), device="cpu")
    assert not result.success and "inlier" in result.reason
    assert not solve_pnp(s.xyz[:3], s.xy[:3], K, PnPConfig(backend="gpu")).success
