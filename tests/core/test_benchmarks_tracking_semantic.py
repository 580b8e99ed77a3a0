"""TAP-Vid-DAVIS, PF-PASCAL, COLMAP/MVImgNet and the report on miniature official-format fixtures."""

import json
import math
import pickle
import struct

import numpy as np
import pytest

from mveq_core.benchmarks.colmap import read_model, shared_observations
from mveq_core.benchmarks.davis import load_tapvid_pickle, run_davis
from mveq_core.benchmarks.equivariance import EquivarianceConfig, evaluate_mvimgnet
from mveq_core.benchmarks.pfpascal import read_pairs, run_pfpascal
from mveq_core.benchmarks.report import collect, draw_report
from mveq_core.geometry import (
    depth_to_object_points,
    intrinsics_from_values,
    make_transform,
    project_points,
    rotation_matrix_axis_angle,
    transform_points,
)
from mveq_core.io import MveqError, write_image_atomic
from mveq_core.render import render_view
from mveq_core.tracking import Tracker, TrackerConfig
from tests.helpers import CoordinateFeatures, coordinate_coloured

K = intrinsics_from_values(220.0, 220.0, 95.5, 71.5)


@pytest.fixture(scope="module")
def coloured(procedural_mesh):
    return coordinate_coloured(procedural_mesh)[0]


def _pose(angle_deg, shift=0.0, tilt=20.0):
    R = rotation_matrix_axis_angle(np.array([0, 1.0, 0]), math.radians(angle_deg)) @ rotation_matrix_axis_angle(np.array([1.0, 0, 0]), math.radians(tilt))
    return make_transform(R, np.array([shift, 0.0, 0.6]))


# ---------------------------------------------------------------------------------------- TAP-Vid


@pytest.fixture(scope="module")
def tapvid_pkl(tmp_path_factory, coloured):
    poses = [_pose(6 * t, 0.003 * t - 0.015) for t in range(10)]
    views = [render_view(coloured, K, T, (144, 192), None, False, flat=True) for T in poses]
    from scipy.ndimage import binary_erosion

    inner = binary_erosion(views[0].mask, iterations=3)
    xy0, xyz = depth_to_object_points(views[0].depth, K, poses[0], inner)
    pick = np.random.default_rng(0).choice(len(xy0), 40, replace=False)
    xyz = xyz[pick]
    points, occluded = [], []
    for T, v in zip(poses, views):
        cam = transform_points(T, xyz)
        px = project_points(cam, K)
        ix = np.clip(np.round(px).astype(int), 0, [191, 143])
        seen = v.depth[ix[:, 1], ix[:, 0]]
        occluded.append(~((seen > 0) & (np.abs(seen - cam[:, 2]) < 0.004)))
        points.append((px + 0.5) / np.array([192.0, 144.0]))  # TAP-Vid: [0, 1] from the image edges
    data = {"toy": {"video": np.stack([v.rgb for v in views]), "points": np.stack(points, 1).astype(np.float32), "occluded": np.stack(occluded, 1)}}
    path = tmp_path_factory.mktemp("tapvid") / "tapvid_davis.pkl"
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return path


def test_davis_runner_on_the_official_pickle(tapvid_pkl):
    tracker = Tracker(CoordinateFeatures(frequency=60.0), TrackerConfig(patch_stride=None, softmax_radius_px=3.0, softmax_temperature=0.05))
    for mode in ("strided", "first"):
        result = run_davis(tracker, tapvid_pkl, mode, progress=False)
        m = result["per_video"]["toy"]
        assert m["average_pts_within_thresh"] > 0.85 and m["pts_within_4"] > 0.98, m
        assert m["occlusion_accuracy"] > 0.95 and m["average_jaccard"] > 0.75
    predictions = result["_predictions"]["toy"]
    assert predictions["tracks"].shape[1] == 10


class Foreign:
    """Any class outside numpy/builtins: the loader must refuse it without running it."""


def test_tapvid_pickle_with_foreign_classes_is_refused(tmp_path):
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as f:
        pickle.dump({"v": {"video": Foreign(), "points": 0, "occluded": 0}}, f)
    with pytest.raises(MveqError, match="refusing"):
        load_tapvid_pickle(path)


# ---------------------------------------------------------------------------------------- PF-PASCAL


@pytest.fixture(scope="module")
def pfpascal_root(tmp_path_factory, coloured):
    from scipy.io import savemat

    base = tmp_path_factory.mktemp("pf")
    root = base / "PF-dataset-PASCAL"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations" / "car").mkdir(parents=True)
    rows = ["source_image,target_image,class,XA,YA,XB,YB"]
    rng = np.random.default_rng(3)
    for k in range(3):
        Ta, Tb = _pose(0 + 10 * k), _pose(25 + 10 * k, 0.01)
        va, vb = (render_view(coloured, K, T, (144, 192), None, False, flat=True) for T in (Ta, Tb))
        for name, v in (("a", va), ("b", vb)):
            write_image_atomic(root / "JPEGImages" / f"2011_00{k}{name}.png", v.rgb)
        from scipy.ndimage import binary_erosion

        xy_a, xyz = depth_to_object_points(va.depth, K, Ta, binary_erosion(va.mask, iterations=4))
        cam_b = transform_points(Tb, xyz)
        xy_b = project_points(cam_b, K)
        ib = np.clip(np.round(xy_b).astype(int), 0, [191, 143])
        visible = (vb.depth[ib[:, 1], ib[:, 0]] > 0) & (np.abs(vb.depth[ib[:, 1], ib[:, 0]] - cam_b[:, 2]) < 0.003)
        pick = rng.choice(np.nonzero(visible)[0], 8, replace=False)
        ys, xs = np.nonzero(vb.mask)
        savemat(str(root / "Annotations" / "car" / f"2011_00{k}b.mat"), {"kps": xy_b[pick], "bbox": np.array([[xs.min(), ys.min(), xs.max(), ys.max()]], float)})
        fmt = lambda v: ";".join(f"{x:.4f}" for x in v)  # noqa: E731
        rows.append(f"PF-dataset-PASCAL/JPEGImages/2011_00{k}a.png,PF-dataset-PASCAL/JPEGImages/2011_00{k}b.png,7,{fmt(xy_a[pick, 0])},{fmt(xy_a[pick, 1])},{fmt(xy_b[pick, 0])},{fmt(xy_b[pick, 1])}")
    (root / "test_pairs_pf_different_views.csv").write_text("\n".join(rows) + "\n")
    return root


def test_pfpascal_runner_on_the_official_layout(pfpascal_root):
    pairs = read_pairs(pfpascal_root / "test_pairs_pf_different_views.csv")
    assert len(pairs) == 3 and pairs[0]["class"] == 7 and pairs[0]["kps_a"].shape == (8, 2)
    result = run_pfpascal(CoordinateFeatures(frequency=60.0), pfpascal_root, pfpascal_root / "test_pairs_pf_different_views.csv", progress=False)
    assert result["per_class"]["car"]["keypoints"] == 24 and result["pairs"] == 3
    assert result["mean_weighted_by_pairs"]["PCK@0.05"] > 0.95
    image_ref = run_pfpascal(CoordinateFeatures(frequency=60.0), pfpascal_root, pfpascal_root / "test_pairs_pf_different_views.csv", pck_reference="image", progress=False)
    assert image_ref["pck_reference"] == "image" and image_ref["mean_weighted_by_pairs"]["PCK@0.10"] > 0.95


# ---------------------------------------------------------------------------------------- COLMAP / MVImgNet


def _write_colmap(folder, cams, imgs, pts, binary):
    folder.mkdir(parents=True, exist_ok=True)
    if binary:
        with open(folder / "cameras.bin", "wb") as f:
            f.write(struct.pack("<Q", len(cams)))
            for cid, (w, h, params) in cams.items():
                f.write(struct.pack("<iiQQ", cid, 1, w, h) + struct.pack("<4d", *params))
        with open(folder / "images.bin", "wb") as f:
            f.write(struct.pack("<Q", len(imgs)))
            for iid, (name, q, t, xys, ids) in imgs.items():
                f.write(struct.pack("<idddddddi", iid, *q, *t, 1) + name.encode() + b"\x00" + struct.pack("<Q", len(xys)))
                for (x, y), p in zip(xys, ids):
                    f.write(struct.pack("<ddq", x, y, p))
        with open(folder / "points3D.bin", "wb") as f:
            f.write(struct.pack("<Q", len(pts)))
            for pid, xyz in pts.items():
                f.write(struct.pack("<QdddBBBd", pid, *xyz, 0, 0, 0, 0.0) + struct.pack("<Q", 0))
    else:
        (folder / "cameras.txt").write_text("".join(f"{cid} PINHOLE {w} {h} {' '.join(map(str, p))}\n" for cid, (w, h, p) in cams.items()))
        lines = []
        for iid, (name, q, t, xys, ids) in imgs.items():
            lines.append(f"{iid} {' '.join(map(str, q))} {' '.join(map(str, t))} 1 {name}")
            lines.append(" ".join(f"{x} {y} {p}" for (x, y), p in zip(xys, ids)))
        (folder / "images.txt").write_text("# header\n" + "\n".join(lines) + "\n")
        (folder / "points3D.txt").write_text("".join(f"{pid} {' '.join(map(str, xyz))} 0 0 0 0\n" for pid, xyz in pts.items()))


@pytest.fixture(scope="module")
def mvimgnet_root(tmp_path_factory, coloured):
    from scipy.spatial.transform import Rotation

    root = tmp_path_factory.mktemp("mvimgnet")
    poses = [_pose(a) for a in (0, 20, 40)]
    views = [render_view(coloured, K, T, (144, 192), None, False, flat=True) for T in poses]
    from scipy.ndimage import binary_erosion

    _, xyz = depth_to_object_points(views[1].depth, K, poses[1], binary_erosion(views[1].mask, iterations=3))
    xyz = xyz[np.random.default_rng(1).choice(len(xyz), 300, replace=False)]
    pts = {i + 1: p for i, p in enumerate(xyz)}
    imgs = {}
    for k, (T, v) in enumerate(zip(poses, views)):
        cam = transform_points(T, xyz)
        px = project_points(cam, K)
        ix = np.clip(np.round(px).astype(int), 0, [191, 143])
        vis = (v.depth[ix[:, 1], ix[:, 0]] > 0) & (np.abs(v.depth[ix[:, 1], ix[:, 0]] - cam[:, 2]) < 0.003)
        q = Rotation.from_matrix(T[:3, :3]).as_quat()  # x, y, z, w
        imgs[k + 1] = (f"{k:03d}.png", [q[3], q[0], q[1], q[2]], T[:3, 3].tolist(), px[vis] + 0.5, np.nonzero(vis)[0] + 1)
    cams = {1: (192, 144, [220.0, 220.0, 96.0, 72.0])}
    for obj, binary in (("chair/obj_bin", True), ("chair/obj_txt", False)):
        (root / obj / "images").mkdir(parents=True)
        for k, v in enumerate(views):
            write_image_atomic(root / obj / "images" / f"{k:03d}.png", v.rgb)
        _write_colmap(root / obj / "sparse" / "0", cams, imgs, pts, binary)
    return root


def test_colmap_binary_and_text_readers_agree(mvimgnet_root):
    cb, ib, pb = read_model(mvimgnet_root / "chair/obj_bin/sparse/0")
    ct, it, pt = read_model(mvimgnet_root / "chair/obj_txt/sparse/0")
    assert cb[1].model == ct[1].model == "PINHOLE" and np.allclose(cb[1].K(), ct[1].K())
    assert cb[1].K()[0, 2] == 95.5  # COLMAP's pixel centres at +0.5 become integers
    assert np.array_equal(cb[1].dist_coeffs(), np.zeros(4))
    from mveq_core.benchmarks.colmap import ColmapCamera

    opencv = ColmapCamera("OPENCV", 640, 480, np.array([500.0, 501.0, 320.0, 240.0, -0.1, 0.02, 0.001, -0.002]))
    assert np.allclose(opencv.dist_coeffs(), [-0.1, 0.02, 0.001, -0.002]) and np.allclose(ColmapCamera("SIMPLE_RADIAL", 64, 48, np.array([50.0, 32, 24, 0.05])).dist_coeffs(), [0.05, 0, 0, 0])
    with pytest.raises(ValueError, match="FOV"):
        ColmapCamera("FOV", 64, 48, np.array([50.0, 50, 32, 24, 0.1])).dist_coeffs()
    assert set(ib) == set(it) == {1, 2, 3} and ib[2].name == "001.png"
    np.testing.assert_allclose(ib[2].xys, it[2].xys)
    assert len(pb) == len(pt) == 300
    xy_a, xy_b = shared_observations(ib[1], ib[2])
    assert len(xy_a) > 100


def test_mvimgnet_equivariance_with_geometry_exact_features(mvimgnet_root):
    result = evaluate_mvimgnet(CoordinateFeatures(frequency=60.0), mvimgnet_root, EquivarianceConfig(queries_per_pair=100), progress=False)
    assert result["objects"] == 2 and result["benchmark"] == "equivariance"
    for row in result["per_object"].values():
        assert row["pairs"] == 6 and row["APE"] < 1.0 and row["PCDP@5"] > 99.0


# ---------------------------------------------------------------------------------------- report


def test_report_pairs_equivariance_with_tasks_and_draws(tmp_path):
    results = [
        {"benchmark": "equivariance", "mean": {"APE": 20.0}, "features": "dinov2_vits14 [..] weights=x adapter=none layer=-1"},
        {"benchmark": "equivariance", "mean": {"APE": 13.0}, "features": "dinov2_vits14 [..] weights=x adapter=bundled:a layer=8"},
        {"benchmark": "onepose-lowtexture", "mean": {"5cm-5deg": 0.4}, "features": "dinov2_vits14 [..] weights=x adapter=none layer=-1"},
        {"benchmark": "onepose-lowtexture", "mean": {"5cm-5deg": 0.6}, "features": "dinov2_vits14 [..] weights=x adapter=bundled:a layer=8"},
        {"benchmark": "tapvid-davis", "mean": {"average_jaccard": 0.3}, "features": "dinov2_vitb14 [..] weights=y adapter=none layer=-1"},
        {"benchmark": "equivariance", "mean": {"APE": 18.0}, "features": "dinov2_vitb14 [..] weights=y adapter=none layer=-1"},
    ]
    table = collect(results)
    assert table["dinov2_vits14"][False] == {"APE": 20.0, "onepose-lowtexture": 0.4}
    assert table["dinov2_vits14"][True] == {"APE": 13.0, "onepose-lowtexture": 0.6}
    path = draw_report(results, tmp_path / "fig3.png")
    assert path.stat().st_size > 5000
    with pytest.raises(MveqError, match="no task results"):
        draw_report(results[:2], tmp_path / "x.png")


def test_cli_tracking_semantic_equivariance_and_throughput(tapvid_pkl, pfpascal_root, mvimgnet_root, tmp_path, capsys):
    from mveq_core.cli import main

    tiny = ["--backbone", "tiny_vit14", "--weights", "random", "--device", "cpu"]
    assert main(["-q", "bench", "davis", *tiny, "--pkl", str(tapvid_pkl), "--mode", "first", "--max-queries", "20", "--out", str(tmp_path / "d")]) == 0
    davis = json.loads((tmp_path / "d" / "davis.json").read_text())
    # the mean is over the pickle's videos, and the picture is written
    assert list(davis["per_video"]) == ["toy"]
    assert davis["mean"]["average_jaccard"] == pytest.approx(davis["per_video"]["toy"]["average_jaccard"])
    assert (tmp_path / "d" / "tracks_toy.png").is_file()
    assert main(["-q", "bench", "pfpascal", *tiny, "--root", str(pfpascal_root), "--pairs", str(pfpascal_root / "test_pairs_pf_different_views.csv"), "--out", str(tmp_path / "p")]) == 0
    assert main(["-q", "bench", "equivariance", *tiny, "--mvimgnet", str(mvimgnet_root), "--queries", "50", "--out", str(tmp_path / "e")]) == 0
    assert main(["-q", "bench", "report", str(tmp_path / "e" / "equivariance.json"), str(tmp_path / "d" / "davis.json"), "--out", str(tmp_path / "r.png")]) == 0
    capsys.readouterr()
    assert main(["-q", "bench", "throughput", *tiny, "--task", "tracking", "--frames", "6", "--points", "16", "--out", str(tmp_path / "t.json")]) == 0
    throughput = json.loads((tmp_path / "t.json").read_text())
    assert throughput["frames"] == 6 and throughput["points"] == 16
    assert throughput["frames_per_second"] == pytest.approx(6 / throughput["seconds"])
    assert main(["-q", "bench", "throughput", *tiny, "--task", "semantic", "--pairs", "2"]) == 0
