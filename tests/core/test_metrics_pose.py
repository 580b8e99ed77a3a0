import math

import numpy as np
import pytest

from mveq_core.geometry import intrinsics_from_values, make_transform, rotation_matrix_axis_angle
from mveq_core.metrics import bop
from mveq_core.metrics.pose import add_error, adds_error, cm_deg_accuracy, query_pose_error


def _pose(angle_deg=0.0, axis=(0, 0, 1), t=(0, 0, 0.5)):
    return make_transform(rotation_matrix_axis_angle(np.array(axis, float), math.radians(angle_deg)), np.array(t, float))


def test_query_pose_error_and_cm_deg():
    r, t = query_pose_error(_pose(2.0, t=(0.01, 0, 0.5)), _pose())
    assert r == pytest.approx(2.0, abs=1e-6) and t == pytest.approx(1.0, abs=1e-9)
    assert query_pose_error(None, _pose()) == (math.inf, math.inf)
    acc = cm_deg_accuracy([0.5, 2.0, 4.0, 10.0], [0.5, 0.5, 4.5, 0.1])
    assert acc == {"1cm-1deg": 0.25, "3cm-3deg": 0.5, "5cm-5deg": 0.75}


def test_add_and_adds():
    pts = np.array([[0.1, 0, 0], [-0.1, 0, 0], [0, 0.1, 0], [0, -0.1, 0]])
    gt = _pose()
    shifted = _pose(t=(0.003, 0, 0.5))
    assert add_error(shifted, gt, pts) == pytest.approx(0.003)
    flipped = _pose(180.0)  # maps the point set onto itself
    assert add_error(flipped, gt, pts) == pytest.approx(0.2)  # each point lands on its opposite
    assert adds_error(flipped, gt, pts) == pytest.approx(0.0, abs=1e-12)


def test_symmetries_mssd_mspd():
    info = {"diameter": 100.0, "symmetries_discrete": [[-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]]}
    syms = bop.symmetry_transformations(info, unit_scale=0.001)
    assert len(syms) == 2
    pts = np.array([[0.05, 0.01, 0.0], [-0.05, -0.01, 0.0], [0.0, 0.02, 0.01]])
    gt = _pose()
    flipped = _pose(180.0)
    assert bop.mssd(flipped, gt, pts, syms) == pytest.approx(0.0, abs=1e-12)
    assert bop.mssd(flipped, gt, pts, syms[:1]) > 0.09
    K = intrinsics_from_values(600, 600, 320, 240)
    assert bop.mspd(_pose(t=(0.001, 0, 0.5)), gt, K, pts, syms) == pytest.approx(1.2, rel=1e-6)  # 1 mm at 0.5 m, f 600
    continuous = bop.symmetry_transformations({"symmetries_continuous": [{"axis": [0, 0, 1], "offset": [0, 0, 0]}]}, 0.01)
    assert len(continuous) == math.ceil(math.pi / 0.01)
    ring = np.stack([np.cos(np.linspace(0, 6, 50)), np.sin(np.linspace(0, 6, 50)), np.zeros(50)], 1) * 0.05
    assert bop.mssd(_pose(33.0), gt, ring, continuous) < 0.05 * 2 * math.pi / len(continuous) * 1.01


def test_vsd_hand_cases():
    K = intrinsics_from_values(100, 100, 15.5, 15.5)
    gt = np.zeros((32, 32), np.float32)
    gt[8:24, 8:24] = 0.5
    test = gt.copy()
    assert bop.vsd(gt, gt, test, K, 0.015, [0.05, 0.1], diameter=0.1) == [0.0, 0.0]
    off = gt.copy()
    off[off > 0] += 0.007  # 7 mm further: 0.07 of the diameter
    errors = bop.vsd(off, gt, test, K, 0.015, [0.05, 0.1], diameter=0.1)
    assert errors[0] == pytest.approx(1.0) and errors[1] == pytest.approx(0.0)
    moved = np.zeros_like(gt)
    moved[8:24, 16:32] = 0.5  # half overlap: union 384 px, intersection 128 px
    assert bop.vsd(moved, gt, test, K, 0.015, [0.05], diameter=0.1)[0] == pytest.approx(256 / 384)


def test_recall_matching_follows_bop():
    # two GT instances (one occluded), two estimates; the best-scored one matches first
    case = bop.ImageObjectCase(
        gt_ids=[0, 1],
        valid=bop.valid_targets([0.9, 0.05], inst_count=1),  # only the most visible is a target
        estimates=[bop.Estimate(0.9, {0: 0.30, 1: 0.01}), bop.Estimate(0.5, {0: 0.04, 1: 0.5})],
        n_top=1,
    )
    assert case.valid == [True, False]
    assert bop.recall_at([case], 0.05) == 0.0  # top-1 estimate is wrong for the target
    assert bop.recall_at([case], 0.35) == 1.0
    assert bop.average_recall([case], bop.BOP19_THRESHOLDS) == pytest.approx(0.4)  # correct from 0.35 to 0.50


def test_bop_csv_roundtrip(tmp_path):
    T = _pose(10.0, t=(0.01, -0.02, 0.75))
    bop.write_bop_csv(tmp_path / "r.csv", [bop.BopEstimate(48, 1, 2, 0.8, T, 0.25)])
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0] == "scene_id,im_id,obj_id,score,R,t,time"
    assert lines[1].split(",")[5] == "10.0000 -20.0000 750.0000"  # millimetres
    (row,) = bop.read_bop_csv(tmp_path / "r.csv")
    np.testing.assert_allclose(row.T_cam_obj, T, atol=1e-7)
    assert (row.scene_id, row.im_id, row.obj_id, row.time_s) == (48, 1, 2, 0.25)
