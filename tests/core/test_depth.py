"""Distance correction from a registered depth image (RGB-D): synthetic and real YCB-Video depth."""


import numpy as np
import pytest

from mveq_core.depth import apply_correction, check_depth, correct_distance, depth_in_metres, read_depth
from mveq_core.geometry import transform_points
from mveq_core.io import MveqError
from tests.helpers import REALDATA


def _pose(t=(0.05, -0.02, 0.6)):
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [20, -35, 10], degrees=True).as_matrix()
    T[:3, 3] = t
    return T


def _plane_scene(T, K, shape=(240, 320), n=400, seed=0):
    """Object points on the face z = 0 of the object frame, their pixels and a depth image of that
    face (each pixel's depth from intersecting its ray with the plane)."""
    rng = np.random.default_rng(seed)
    xyz = np.c_[rng.uniform(-0.05, 0.05, (n, 2)), np.zeros(n)]
    cam = transform_points(T, xyz)
    xy = cam[:, :2] / cam[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    v, u = np.mgrid[0 : shape[0], 0 : shape[1]]
    rays = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones(shape)], -1)
    normal = T[:3, 2]
    depth = (normal @ T[:3, 3]) / (rays @ normal)  # z of the ray's hit on the plane
    return xyz, xy, depth.astype(np.float32)


def test_distance_correction_recovers_the_depth_of_a_pose_off_along_its_ray():
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    T = _pose()
    xyz, xy, depth = _plane_scene(T, K)
    for scale in (0.95, 1.04):
        wrong = T.copy()
        wrong[:3, 3] *= scale  # same image position, wrong distance (what RGB-only PnP gets wrong)
        c = correct_distance(wrong, xyz, xy, depth)
        fixed = apply_correction(wrong, c)
        assert np.linalg.norm(fixed[:3, 3] - T[:3, 3]) < 1e-3, (scale, c)
        assert abs(c.shift_m - (1 / scale - 1) * np.linalg.norm(wrong[:3, 3])) < 1e-3 and c.residual_m < 1e-3
        np.testing.assert_allclose(fixed[:3, :3], T[:3, :3])


def test_distance_correction_ignores_occluders_and_refuses_contradicting_depth():
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    T = _pose()
    xyz, xy, depth = _plane_scene(T, K)
    wrong = T.copy()
    wrong[:3, 3] *= 1.05
    occluded = depth.copy()
    occluded[:, :150] = 0.3  # a hand in front of a third of the object
    c = correct_distance(wrong, xyz, xy, occluded)
    assert np.linalg.norm(apply_correction(wrong, c)[:3, 3] - T[:3, 3]) < 2e-3
    holes = np.full_like(depth, np.nan)
    assert correct_distance(wrong, xyz, xy, holes) is None  # no valid depth: no correction
    assert correct_distance(wrong, xyz, xy, depth * 3.0) is None  # the depth says 3x farther: refused


def test_depth_inputs_are_checked_and_converted(tmp_path):
    assert depth_in_metres(np.array([[1500]], np.uint16))[0, 0] == pytest.approx(1.5)
    assert depth_in_metres(np.array([[1.5]], np.float32))[0, 0] == pytest.approx(1.5)
    d = check_depth(np.array([[0, 1.0], [np.inf, 2.0]], np.float32), (2, 2))
    assert np.isnan(d[0, 0]) and np.isnan(d[1, 0]) and d[1, 1] == 2.0
    with pytest.raises(ValueError, match=r"differs from the image's \(4, 4\)"):
        check_depth(np.ones((2, 2)), (4, 4))
    with pytest.raises(ValueError, match="scale must be positive"):
        depth_in_metres(np.ones((2, 2)), -1.0)
    np.save(tmp_path / "d.npy", np.ones((3, 5), np.float32))
    assert read_depth(tmp_path / "d.npy", (3, 5)).shape == (3, 5)
    with pytest.raises(MveqError, match="d.npy"):
        read_depth(tmp_path / "d.npy", (4, 5))
    with pytest.raises(FileNotFoundError, match="missing.png"):
        read_depth(tmp_path / "missing.png", (4, 5))


@pytest.mark.skipif(not (REALDATA / "ycbv_0000").is_dir(), reason="../shared/realdata is not beside this checkout")
def test_real_kinect_depth_corrects_a_pose_off_by_3_cm():
    """Real YCB-Video depth (Kinect-style sensor): the mug's and the brick's ground-truth poses,
    pushed 5 % farther (about 3 cm), come back within 3 mm from the visible model points' depths."""
    from mveq_core.benchmarks.realdata import load_realdata

    real = load_realdata(REALDATA, ["ycbv_0000"])[0]
    frame = real.frames[0]
    depth = check_depth(frame.depth, frame.rgb.shape[:2])
    for ann in frame.annotations:
        if ann.object not in ("025_mug", "061_foam_brick"):
            continue
        X, T = real.objects[ann.object].points, ann.T_cam_obj
        cam = transform_points(T, X)
        xy = cam[:, :2] / cam[:, 2:] * [frame.K[0, 0], frame.K[1, 1]] + [frame.K[0, 2], frame.K[1, 2]]
        u = np.clip(np.round(xy).astype(int), 0, [639, 479])
        seen = ann.mask[u[:, 1], u[:, 0]]
        seen &= cam[:, 2] < np.nanmedian(cam[seen, 2])  # the half facing the camera
        wrong = T.copy()
        wrong[:3, 3] *= 1.05
        c = correct_distance(wrong, X[seen], xy[seen], depth)
        before = np.linalg.norm(wrong[:3, 3] - T[:3, 3])
        after = np.linalg.norm(apply_correction(wrong, c)[:3, 3] - T[:3, 3])
        assert before > 0.025 and after < 0.003, (ann.object, before, after, c)
