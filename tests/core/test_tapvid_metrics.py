import numpy as np
import pytest

from mveq_core.metrics.tapvid import sample_queries_first, sample_queries_strided, tapvid_metrics


def _case():
    # 1 track, 4 frames; query at frame 0 (t, y, x)
    query = np.array([[0, 10.0, 10.0]])
    gt_tracks = np.array([[[10, 10], [20, 10], [30, 10], [40, 10]]], float)
    gt_occ = np.array([[False, False, True, False]])
    pred_tracks = np.array([[[10, 10], [21.5, 10], [0, 0], [40, 13]]], float)  # errors: -, 1.5, -, 3
    pred_occ = np.array([[False, False, False, False]])  # frame 2 wrongly visible
    return query, gt_occ, gt_tracks, pred_occ, pred_tracks


def test_first_mode_hand_computed():
    m = tapvid_metrics(*_case(), query_mode="first")
    # evaluated frames: 1, 2, 3 (after the query frame)
    assert m["occlusion_accuracy"] == pytest.approx(2 / 3)
    assert m["pts_within_1"] == 0.0 and m["pts_within_2"] == 0.5 and m["pts_within_4"] == 1.0
    # thresh 2: TP = 1 (frame 1), GT visible = 2, FP = frame 2 (occluded but predicted visible) + frame 3 (too far) = 2
    assert m["jaccard_2"] == pytest.approx(1 / 4)
    # thresh 4 and up: TP = 2, FP = 1
    assert m["jaccard_4"] == pytest.approx(2 / 3) and m["jaccard_16"] == pytest.approx(2 / 3)
    assert m["average_jaccard"] == pytest.approx((0 + 1 / 4 + 2 / 3 * 3) / 5)
    assert m["average_pts_within_thresh"] == pytest.approx((0 + 0.5 + 1 + 1 + 1) / 5)


def test_strided_mode_also_evaluates_frames_before_the_query():
    query, gt_occ, gt_tracks, pred_occ, pred_tracks = _case()
    query = np.array([[3, 10.0, 40.0]])  # query at the last frame: frames 0, 1, 2 evaluated
    m = tapvid_metrics(query, gt_occ, gt_tracks, pred_occ, pred_tracks, "strided")
    assert m["occlusion_accuracy"] == pytest.approx(2 / 3)
    assert m["pts_within_2"] == pytest.approx(1.0)  # frames 0 (exact) and 1 (1.5 px)
    with pytest.raises(ValueError, match="query mode"):
        tapvid_metrics(*_case(), query_mode="middle")


def test_query_sampling_follows_tapvid():
    occ = np.array([[True, False, False, False, False, False], [True, True, True, True, True, True], [False] * 6])
    pts = np.random.default_rng(0).random((3, 6, 2))
    q, p, o = sample_queries_first(occ, pts)
    assert len(q) == 2 and q[:, 0].tolist() == [1, 0]  # never-visible track dropped
    np.testing.assert_allclose(q[0, 1:], [pts[0, 1, 1], pts[0, 1, 0]])  # (t, y, x)
    q, p, o = sample_queries_strided(occ, pts, stride=5)
    # frame 0: only track 2 visible; frame 5: tracks 0 and 2
    assert q[:, 0].tolist() == [0, 5, 5] and len(p) == 3
