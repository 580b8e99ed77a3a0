"""Localisation from the object database alone: a rendered object placed in a real photo at a known
box is found (IoU >= 0.5) and reported absent from the same photo without it; box and view helpers."""


import numpy as np
import pytest

from mveq_core.crop import mask_box
from mveq_core.geometry import make_transform, rotation_matrix_axis_angle
from mveq_core.localize import LocalizeConfig, _views, box_iou
from mveq_core.pose import PoseConfig, PoseEstimator
from tests.helpers import REALDATA


def test_box_iou_and_views():
    assert box_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert box_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert box_iou([0, 0, 10, 10], None) == 0.0 and box_iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0
    whole, *tiles = _views((480, 640), LocalizeConfig(input_size=320, tiles=2))
    assert (whole.x0, whole.y0, whole.x1, whole.y1, whole.size) == (0, 0, 640, 480, (320, 240))
    assert len(tiles) == 4 and {(t.x0, t.y0) for t in tiles} == {(0, 0), (160, 0), (0, 120), (160, 120)}
    assert all(t.x1 - t.x0 == 480 and t.y1 - t.y0 == 360 for t in tiles)  # 1.5 / 2 of each side: overlapping
    assert len(_views((480, 640), LocalizeConfig(tiles=0))) == 1


@pytest.mark.skipif(not (REALDATA / "ycbv_0000").is_dir(), reason="../shared/realdata is not beside this checkout")
def test_rendered_object_in_a_real_photo_is_found_and_absent_without_it():
    import torch._dynamo  # noqa: F401  (before the first GL context)

    from mveq_core.benchmarks.realdata import load_ycbv_frames
    from mveq_core.bundled import SAMPLE_DATABASE, SAMPLE_OBJECT
    from mveq_core.database import load_database
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.render import load_mesh, render_view

    photo = load_ycbv_frames(REALDATA / "ycbv_0000").frames[0]
    mesh = load_mesh(SAMPLE_OBJECT)
    lo, hi = mesh.bounds
    R = rotation_matrix_axis_angle(np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1]), 2.2)
    T = make_transform(R, -R @ ((lo + hi) / 2) + [-0.12, 0.06, 0.75])  # lower left of the desk scene
    view = render_view(mesh, photo.K, T, photo.rgb.shape[:2], None, False)
    assert 60 < view.mask.sum() ** 0.5 < 250, "the drill should cover a patch of the photo"
    composite = photo.rgb.copy()
    composite[view.mask] = view.rgb[view.mask]
    known_box = mask_box(view.mask)

    features = DenseFeatures.create(OFFLINE_DEFAULT)
    # a CAD (rendered) database: verified scores run lower than with photo databases (docs/benchmarks.md)
    config = PoseConfig(search="localize", localize=LocalizeConfig(input_size=448, tiles=0, min_score=0.3))
    estimator = PoseEstimator(features, [load_database(SAMPLE_DATABASE)], config)
    estimator.set_mesh("mveq_toy_drill", mesh)  # a mesh: box_distance could draw toward a box
    found = estimator.localize(composite, photo.K)["mveq_toy_drill"]
    assert found.present and box_iou(found.box, known_box) >= 0.5, (found.box, known_box, found.candidates)
    assert found.pose.box_fit is None  # a cluster's box is a region to search, not the object's: nothing drawn
    assert found.score >= config.localize.min_score
    absent = estimator.localize(photo.rgb, photo.K)["mveq_toy_drill"]
    assert not absent.present and absent.box is None, absent.candidates
    assert found.pose.success and np.linalg.norm(found.pose.T_cam_obj[:3, 3] - T[:3, 3]) < 0.05
    # the estimator's own search without a box goes through the localiser and returns its pose (the
    # two searches above stand in for the localiser's: each takes ~10 s on CPU)
    done = {id(composite): found, id(photo.rgb): absent}
    calls = []
    estimator.localize = lambda image, K, objects=None, dist_coeffs=None: calls.append(id(image)) or {"mveq_toy_drill": done[id(image)]}
    pose = estimator.estimate(composite, photo.K)["mveq_toy_drill"]
    assert pose.success and np.array_equal(pose.T_cam_obj, found.pose.T_cam_obj)
    missing = estimator.estimate(photo.rgb, photo.K)["mveq_toy_drill"]
    assert not missing.success and "not found" in missing.reason
    assert calls == [id(composite), id(photo.rgb)]
