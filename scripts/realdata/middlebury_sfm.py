"""SfM camera accuracy on the real Middlebury sparse-ring views (templeSparseRing, dinoSparseRing; issue 13).

Reconstructs all 16 views and the 8 even views (45° apart) with `mveq_core.sfm.reconstruct` (SIFT,
pycolmap, the given intrinsics fixed), scales by the object's longest side (the temple: 0.160 m; its tight box in
README.txt) and compares every pair of registered cameras' relative motion with the ground truth:
rotation error, translation direction error, translation length ratio (scale).

Then pose from an SfM-built database (offline default model): the database holds only the even
registered views of the 16-view reconstruction (their SfM poses and points); the odd registered
views are queries (the object's GT box projected as the crop, and without a box). Their estimated
poses are compared with the ground truth through relative motions between query views, and with
the SfM cameras of the same views (absolute, in the reconstruction's metric frame). The odd views
took part in the reconstruction (its points), not in the database's descriptors. The SfM rows are
also run with the offline default's dense descriptors at SIFT's keypoints instead of SIFT's own,
and the held-out poses again with the database's points densified from the reference views alone
(`mveq_core.densify`).

    .venv/bin/python scripts/realdata/middlebury_sfm.py ../shared/realdata/middlebury_temple docs/results/sfm/middlebury.json
    .venv/bin/python scripts/realdata/middlebury_sfm.py DINO_DIR docs/results/sfm/middlebury_dino.json   (dinoSparseRing)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mveq_core import sfm, teach
from mveq_core.io import read_image_rgb
from mveq_core.provenance import set_invocation, write_result_json


def read_cameras(folder: Path):
    par = next(folder.glob("*_par.txt"), None)  # templeSR_par.txt, dinoSR_par.txt
    if par is None:
        raise SystemExit(f"{folder}: no *_par.txt camera file (a Middlebury MVS sparse ring folder?)")
    lines = [line.split() for line in par.read_text().splitlines()[1:] if line.strip()]
    names, Ks, Ts = [], [], []
    for row in lines:
        v = np.asarray(row[1:], float)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = v[9:18].reshape(3, 3), v[18:21]
        names.append(row[0])
        Ks.append(v[:9].reshape(3, 3))
        Ts.append(T)
    return names, Ks, Ts


def object_box(folder: Path) -> np.ndarray:
    text = (folder / "README.txt").read_text()
    import re

    corners = [list(map(float, m)) for m in re.findall(r"\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)", text)]
    return np.asarray(corners[:2])


def longest_side(folder: Path) -> float:
    """The object's longest side, metres: the largest extent of README.txt's tight box."""
    return float(np.ptp(object_box(folder), axis=0).max())


def held_out_pose(images, K, T_gt, names, folder: Path, dense: bool = False) -> dict:
    """Held-out views posed against a database of the even registered views; with ``dense``, the
    database's points are densified (mveq_core.densify) from the reference views alone."""
    from mveq_core.densify import DensifyConfig, densify
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.geometry import projected_box
    from mveq_core.pose import PoseEstimator

    rec = sfm.reconstruct(images, K)
    rec = sfm.metric(rec, longest_side(folder), sfm.object_points(rec))
    registered = sorted(rec.T_cam_world)
    refs, queries = [k for k in registered if k % 2 == 0], [k for k in registered if k % 2 == 1]
    features = DenseFeatures.create(OFFLINE_DEFAULT)
    added = 0
    if dense:  # only the reference views' cameras and observations: the queries stay unseen
        refs_only = sfm.Reconstruction({k: rec.T_cam_world[k] for k in refs}, rec.points, {k: rec.observations[k] for k in refs},
                                       rec.reprojection_error, rec.num_frames, rec.scale, rec.object_point_ids)
        dense_rec, added = densify(features, images, K, refs_only, DensifyConfig(), progress=False)
        rec = sfm.Reconstruction(rec.T_cam_world, dense_rec.points, {**rec.observations, **dense_rec.observations}, rec.reprojection_error,
                                 rec.num_frames, rec.scale, dense_rec.object_point_ids)
    db = teach.database_from_reconstruction(features, images, K, rec, "object", use=refs, progress=False)
    estimator = PoseEstimator(features, [db])
    T_world_obj = teach.object_frame(rec)
    box3d = object_box(folder)
    out = {"references": [names[k] for k in refs], "queries": [names[k] for k in queries], "database_features": len(db), "dense_points": added, "views": {}}
    for mode in ("gt_box", "no_box"):
        est = {}
        for k in queries:
            box = projected_box(box3d, T_gt[k], K, images[k].shape[:2], min_side=8.0) if mode == "gt_box" else None
            r = estimator.estimate(images[k], K, box=box)["object"]
            row = {"success": r.success, "inliers": r.num_inliers, "matches": r.num_matches}
            if r.success:
                T_ref = rec.T_cam_world[k] @ T_world_obj
                dR = r.T_cam_obj[:3, :3] @ T_ref[:3, :3].T
                row.update(rotation_error_vs_sfm_deg=float(np.degrees(np.arccos(np.clip((np.trace(dR) - 1) / 2, -1, 1)))),
                           translation_error_vs_sfm_cm=float(100 * np.linalg.norm(r.T_cam_obj[:3, 3] - T_ref[:3, 3])))
                est[k] = r.T_cam_obj
            out["views"].setdefault(mode, {})[names[k]] = row
        rows = [v for v in out["views"][mode].values() if v["success"]]
        out[mode] = {
            "posed": len(rows), "queries": len(queries),
            "median_rotation_error_vs_sfm_deg": float(np.median([v["rotation_error_vs_sfm_deg"] for v in rows])) if rows else None,
            "median_translation_error_vs_sfm_cm": float(np.median([v["translation_error_vs_sfm_cm"] for v in rows])) if rows else None,
            "relative_to_ground_truth": sfm.relative_motion_summary(est, T_gt),
        }
    return out


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    set_invocation(["scripts/realdata/middlebury_sfm.py", *argv])
    names, Ks, Ts = read_cameras(folder)
    images = [read_image_rgb(folder / n) for n in names]
    size = longest_side(folder)
    result = {"benchmark": "middlebury-sfm", "object_size_m": size, "runs": {}}
    for label, idx in (("all_16_views", list(range(len(names)))), ("even_8_views", list(range(0, len(names), 2)))):
        t0 = time.perf_counter()
        try:
            rec = sfm.reconstruct([images[i] for i in idx], Ks[0])
        except sfm.SfMError as exc:  # a failure is a result too (e.g. the textureless dino at 45°)
            result["runs"][label] = {"views": len(idx), "registered": 0, "error": str(exc), "seconds": time.perf_counter() - t0}
            print(label, result["runs"][label])
            continue
        row = {"views": len(idx), "registered": len(rec.T_cam_world), "points": len(rec.points), "reprojection_error_px": rec.reprojection_error, "seconds": time.perf_counter() - t0}
        if len(rec.T_cam_world) >= 2:
            ids = sfm.object_points(rec)
            m = sfm.metric(rec, size, ids)
            row.update(object_points=len(ids), **sfm.relative_motion_summary(m.T_cam_world, [Ts[i] for i in idx]))
        result["runs"][label] = row
        print(label, row)
    # the same two reconstructions with our dense descriptors at SIFT's keypoints (offline default)
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures

    dense = DenseFeatures.create(OFFLINE_DEFAULT)
    for label, idx in (("all_16_views_dense", list(range(len(names)))), ("even_8_views_dense", list(range(0, len(names), 2)))):
        t0 = time.perf_counter()
        try:
            rec = sfm.reconstruct([images[i] for i in idx], Ks[0], features=dense)
        except sfm.SfMError as exc:
            result["runs"][label] = {"views": len(idx), "registered": 0, "error": str(exc), "seconds": time.perf_counter() - t0}
            print(label, result["runs"][label])
            continue
        row = {"views": len(idx), "registered": len(rec.T_cam_world), "points": len(rec.points), "reprojection_error_px": rec.reprojection_error, "seconds": time.perf_counter() - t0}
        if len(rec.T_cam_world) >= 2:
            m = sfm.metric(rec, size, sfm.object_points(rec))
            row.update(sfm.relative_motion_summary(m.T_cam_world, [Ts[i] for i in idx]))
        result["runs"][label] = row
        print(label, row)
    result["held_out_pose"] = held_out_pose(images, Ks[0], Ts, names, folder)
    print("held-out pose", {k: v for k, v in result["held_out_pose"].items() if k != "views"})
    result["held_out_pose_dense_points"] = held_out_pose(images, Ks[0], Ts, names, folder, dense=True)
    print("held-out pose, dense points", {k: v for k, v in result["held_out_pose_dense_points"].items() if k != "views"})
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
