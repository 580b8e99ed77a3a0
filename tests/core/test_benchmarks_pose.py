"""OnePose-LowTexture and YCB-V (BOP) runners on miniature copies of the official folder layouts."""

import json
from pathlib import Path

import numpy as np
import pytest

from mveq_core.benchmarks.onepose import format_table as onepose_table
from mveq_core.benchmarks.onepose import run_onepose
from mveq_core.benchmarks.ycbv import BopDataset, evaluate_bop19, run_ycbv
from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig
from mveq_core.geometry import box_corners, depth_to_object_points, intrinsics_from_values, make_transform
from mveq_core.io import write_image_atomic, write_json_atomic
from mveq_core.metrics.bop import read_bop_csv
from mveq_core.objects import MeshObject, held_out_pose
from mveq_core.pose import PoseConfig
from mveq_core.render import ViewConfig, render_view
from tests.helpers import CoordinateFeatures, coordinate_coloured


@pytest.fixture(scope="module")
def coloured(procedural_mesh):
    return coordinate_coloured(procedural_mesh)[0]


@pytest.fixture(scope="module")
def features():
    return CoordinateFeatures()


def _poses(mesh, count, seed, scale=1.4):
    obj = MeshObject(mesh, "toy", ViewConfig())
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        T = held_out_pose(obj, rng)
        T[:3, 3] *= scale
        out.append(T)
    return out


def _write_sequence(seq, mesh, poses, K, size, anno=False, keypoints3d=None, rng=None):
    for sub in ("color", "intrin_ba", "poses_ba") + (("anno_loftr",) if anno else ()):
        (seq / sub).mkdir(parents=True, exist_ok=True)
    for i, T in enumerate(poses):
        view = render_view(mesh, K, T, size, None, False, flat=True)
        write_image_atomic(seq / "color" / f"{i}.png", view.rgb)
        np.savetxt(seq / "intrin_ba" / f"{i}.txt", K)
        np.savetxt(seq / "poses_ba" / f"{i}.txt", T)
        if anno:
            xy, xyz = depth_to_object_points(view.depth, K, T, view.mask)
            pick = rng.choice(len(xy), min(400, len(xy)), replace=False)
            start = len(keypoints3d)
            keypoints3d.extend(xyz[pick])
            # OnePose++ anno_loftr: all 2D keypoints of the frame + [2, k] (2D index, 3D index)
            json.dump({"keypoints2d": xy[pick].tolist(), "scores2d": [[1.0]] * len(pick), "assign_matrix": [list(range(len(pick))), list(range(start, start + len(pick)))], "num_matches": len(pick)},
                      open(seq / "anno_loftr" / f"{i}.json", "w"))


@pytest.fixture(scope="module")
def onepose_root(tmp_path_factory, coloured):
    root = tmp_path_factory.mktemp("onepose")
    data, sfm = root / "lowtexture_test_data", root / "sfm_output" / "outputs_softmax_loftr_loftr"
    obj = data / "0700-toy-others"
    K = intrinsics_from_values(256.0, 256.0, 127.5, 127.5)
    rng = np.random.default_rng(0)
    keypoints3d = []
    _write_sequence(obj / "toy-1", coloured, _poses(coloured, 24, seed=1, scale=1.8), K, (256, 256), anno=True, keypoints3d=keypoints3d, rng=rng)
    _write_sequence(obj / "toy-2", coloured, _poses(coloured, 30, seed=2, scale=1.8), K, (256, 256))
    np.savetxt(obj / "box3d_corners.txt", box_corners(coloured.bounds))
    (sfm / obj.name / "anno").mkdir(parents=True)
    np.savez(sfm / obj.name / "anno" / "anno_3d_average.npz", keypoints3d=np.array(keypoints3d), descriptors3d=np.zeros((1, len(keypoints3d))), scores3d=np.ones((len(keypoints3d), 1)))
    return data, sfm


def test_onepose_runner_on_the_official_layout(onepose_root, features):
    data, sfm = onepose_root
    result = run_onepose(features, data, sfm, PoseConfig(input_size=256), progress=False)
    row = result["per_object"]["0700-toy-others"]
    assert row["frames"] == 3  # every 10th of 30 test frames
    assert row["5cm-5deg"] == 1.0 and row["1cm-1deg"] >= 2 / 3
    assert result["mean"]["5cm-5deg"] == 1.0
    assert 8000 < row["database_size"] <= 24 * 400
    assert "0700-toy-others" in onepose_table(result)


@pytest.fixture(scope="module")
def bop_root(tmp_path_factory, coloured):
    root = tmp_path_factory.mktemp("bop") / "ycbv"
    models = root / "models"
    models.mkdir(parents=True)
    mm = coloured.copy()
    mm.apply_scale(1000.0)
    mm.export(models / "obj_000001.ply")
    lo, hi = mm.bounds
    from scipy.spatial.distance import pdist

    info = {"1": {"diameter": float(pdist(mm.vertices[::7]).max()), "min_x": lo[0], "min_y": lo[1], "min_z": lo[2], "size_x": hi[0] - lo[0], "size_y": hi[1] - lo[1], "size_z": hi[2] - lo[2]}}
    write_json_atomic(models / "models_info.json", info)
    scene = root / "test" / "000048"
    for sub in ("rgb", "depth"):
        (scene / sub).mkdir(parents=True)
    K = intrinsics_from_values(320.0, 320.0, 159.5, 119.5)
    cameras, gts, infos, targets = {}, {}, {}, []
    for im_id, T in enumerate(_poses(coloured, 3, seed=7), start=1):
        view = render_view(coloured, K, T, (240, 320), None, False, flat=True)
        write_image_atomic(scene / "rgb" / f"{im_id:06d}.png", view.rgb)
        write_image_atomic(scene / "depth" / f"{im_id:06d}.png", np.round(view.depth * 1000 / 0.1).astype(np.uint16))
        ys, xs = np.nonzero(view.mask)
        bbox = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        cameras[str(im_id)] = {"cam_K": K.reshape(-1).tolist(), "depth_scale": 0.1}
        gts[str(im_id)] = [{"cam_R_m2c": T[:3, :3].reshape(-1).tolist(), "cam_t_m2c": (T[:3, 3] * 1000).tolist(), "obj_id": 1}]
        infos[str(im_id)] = [{"bbox_obj": bbox, "bbox_visib": bbox, "px_count_all": int(view.mask.sum()), "px_count_valid": int(view.mask.sum()), "px_count_visib": int(view.mask.sum()), "visib_fract": 1.0}]
        targets.append({"im_id": im_id, "inst_count": 1, "obj_id": 1, "scene_id": 48})
    write_json_atomic(scene / "scene_camera.json", cameras)
    write_json_atomic(scene / "scene_gt.json", gts)
    write_json_atomic(scene / "scene_gt_info.json", infos)
    write_json_atomic(root / "test_targets_bop19.json", targets)
    detections = [{"scene_id": 48, "image_id": int(k), "category_id": 1, "bbox": v[0]["bbox_obj"], "score": 0.9, "time": 0.1} for k, v in infos.items()]
    write_json_atomic(root.parent / "detections.json", detections)
    return root


def test_ycbv_runner_writes_bop_csv_and_scores(bop_root, features, tmp_path):
    db_config = CadDatabaseConfig(views=96, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS)
    result = run_ycbv(features, bop_root, tmp_path / "out", PoseConfig(input_size=256), db_config, progress=False)
    assert result["targets"] == 3 and result["estimates"] == 3
    assert result["AR_MSSD"] == 1.0 and result["AR_MSPD"] == 1.0 and result["AR_VSD"] > 0.95
    rows = read_bop_csv(result["csv"])
    assert sorted(r.im_id for r in rows) == [1, 2, 3] and all(r.time_s > 0 for r in rows)
    assert (tmp_path / "out" / "databases" / "obj_000001.mvdb").is_file()
    # same with detections in the BOP default-detections format (and the cached database)
    with_dets = run_ycbv(features, bop_root, tmp_path / "out", PoseConfig(input_size=256), db_config, detections=bop_root.parent / "detections.json", progress=False)
    assert with_dets["AR"] == pytest.approx(result["AR"], abs=0.02)


def test_bop19_scores_respond_to_wrong_poses(bop_root):
    dataset = BopDataset(bop_root)
    truth = {(t.scene_id, t.im_id, t.obj_id): [(1.0, dataset.ground_truth(t.scene_id, t.im_id)[0]["T_cam_obj"])] for t in dataset.targets}
    perfect = evaluate_bop19(dataset, dataset.targets, truth, progress=False)
    assert perfect == {"AR_VSD": 1.0, "AR_MSSD": 1.0, "AR_MSPD": 1.0, "AR": 1.0}
    shift = make_transform(np.eye(3), np.array([0.0, 0.0, 0.3 * dataset.diameter(1)]))  # 0.3 diameters along the view axis
    moved = {k: [(s, shift @ T) for s, T in v] for k, v in truth.items()}
    scores = evaluate_bop19(dataset, dataset.targets, moved, progress=False)
    assert scores["AR_MSSD"] == pytest.approx(0.4, abs=0.11)  # correct for thresholds above 0.3
    assert scores["AR_MSPD"] < 1.0 and scores["AR"] < 1.0
    assert evaluate_bop19(dataset, dataset.targets, {}, progress=False)["AR"] == 0.0


def test_cli_bench_commands_run_on_the_layouts(onepose_root, bop_root, tmp_path, capsys):
    """The CLI wiring of both benchmarks, with a tiny random ViT (code path, no accuracy claim)."""
    from mveq_core.cli import main

    data, sfm = onepose_root
    tiny = ["--backbone", "tiny_vit14", "--weights", "random", "--device", "cpu", "--input-size", "128"]
    assert main(["-q", "bench", "onepose", *tiny, "--data", str(data), "--sfm", str(sfm), "--out", str(tmp_path / "op")]) == 0
    saved = json.loads((tmp_path / "op" / "onepose.json").read_text())
    assert saved["per_object"]["0700-toy-others"]["frames"] == 3 and "1cm-1deg" in capsys.readouterr().out
    assert main(["-q", "bench", "ycbv", *tiny, "--bop-root", str(bop_root), "--views", "8", "--image-size", "96", "--out", str(tmp_path / "yc")]) == 0
    scores = json.loads((tmp_path / "yc" / "scores_bop19.json").read_text())
    # the CLI's record agrees with itself and with its CSV: AR is the mean of the three recalls and
    # every estimate the CSV holds is counted
    from mveq_core.metrics.bop import read_bop_csv

    assert scores["AR"] == pytest.approx((scores["AR_VSD"] + scores["AR_MSSD"] + scores["AR_MSPD"]) / 3)
    assert scores["targets"] == 3 and len(read_bop_csv(tmp_path / "yc" / "mveq_ycbv-test.csv")) == scores["estimates"]
    assert scores["provenance"]["argv"][:3] == ["mveq", "-q", "bench"]
    assert main(["-q", "db", "build-from-video", *tiny[:6], "--sequence", str(data / "0700-toy-others" / "toy-1"), "--points", "sfm",
                 "--sfm-anno3d", str(sfm / "0700-toy-others" / "anno" / "anno_3d_average.npz"), "--out", str(tmp_path / "v.mvdb")]) == 0
    assert "24 frames" in capsys.readouterr().out


def test_speed_benchmark_does_not_time_its_warm_up_frames():
    from types import SimpleNamespace as NS

    from mveq_core.benchmarks.rendered_pose import speed_benchmark

    class Fake:
        calls = 0

        def estimate(self, rgb, K, objects):
            Fake.calls += 1
            ms = 1000.0 if Fake.calls <= 2 else 10.0  # slow first calls, as a cold GPU
            return {objects[0]: NS(inlier_ratio=0.5, timings_ms={"total": ms})}

    queries = [NS(rgb=None, K=None) for _ in range(5)]
    result = speed_benchmark(Fake(), "x", queries, warmup=2)
    assert Fake.calls == 5 and result["frames"] == 3
    assert result["median_ms"]["total"] == 10.0 and result["p90_ms"]["total"] == 10.0
    with pytest.raises(ValueError, match="more than 2 queries"):
        speed_benchmark(Fake(), "x", queries[:2], warmup=2)


def test_bop_ar_from_recorded_rows(bop_root):
    """scripts/realdata/bop_ar_from_rows.py: a bench run's rows become BOP targets and estimates
    (failed rows missed, non-targets ignored); two right poses of three score AR_MSSD 2/3."""
    import importlib.util

    from mveq_core.io import MveqError

    spec = importlib.util.spec_from_file_location("bop_ar_from_rows", Path(__file__).resolve().parents[2] / "scripts" / "realdata" / "bop_ar_from_rows.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dataset = BopDataset(bop_root)
    rows = []
    for t in dataset.targets:
        T = dataset.ground_truth(t.scene_id, t.im_id)[0]["T_cam_obj"]
        rows.append({"frame": f"bop/{t.scene_id:06d}/{t.im_id:06d}", "object": "obj_000001", "target": True, "success": t.im_id != 3, "score": 0.9, "T_est": T.tolist() if t.im_id != 3 else None})
    rows.append({"frame": "bop/000048/000001", "object": "obj_000002", "target": False, "success": True, "score": 0.5, "T_est": np.eye(4).tolist()})
    targets, estimates = module.rows_to_estimates(rows)
    assert targets == dataset.targets and sorted(estimates) == [(48, 1, 1), (48, 2, 1)]
    scores = evaluate_bop19(BopDataset(bop_root, targets_file=None), targets, estimates, progress=False)
    assert scores["AR_MSSD"] == pytest.approx(2 / 3) and scores["AR_MSPD"] == pytest.approx(2 / 3)
    with pytest.raises(MveqError, match="not a BOP scene"):
        module.rows_to_estimates([{"frame": "lm/frame_a", "object": "obj_000001", "success": True, "T_est": np.eye(4).tolist()}])
