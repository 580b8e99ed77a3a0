"""SfM camera accuracy on real calibrated multi-view sets (issue 13): the Middlebury sparse rings
(templeSparseRing, dinoSparseRing) and DTU scans in the IDR / NeuS layout (``image/``, ``mask/``,
``cameras_sphere.npz``: e.g. DTU scan 65 in the public repository jingz666/NeuF,
``data/DTU/dtu_scan65``).

Reconstructs all views and the even views (Middlebury: 16 and 8, 45° apart) with
`mveq_core.sfm.reconstruct` (SIFT, pycolmap, the given intrinsics fixed: DTU's per-view calibrations
differ slightly, the first view's is used), scales by the object's longest side (the temple: 0.160 m,
its tight box in README.txt; DTU: the principal-axes box of the visual hull carved from the object
masks with the calibrated cameras) and compares every pair of registered cameras' relative motion
with the ground truth: rotation error, translation direction error, translation length ratio (scale).

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
    .venv/bin/python scripts/realdata/middlebury_sfm.py DTU_SCAN65_DIR docs/results/sfm/dtu_scan65.json --no-dense-sfm
(--no-dense-sfm skips the SfM rows with dense descriptors: whole 1600 x 1200 DTU frames through the
ViT are too slow for a 2-core CPU.)
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
        if not (folder / row[0]).is_file():  # a subset of a ring (e.g. 19 of templeRing's 47 views)
            continue
        v = np.asarray(row[1:], float)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = v[9:18].reshape(3, 3), v[18:21]
        names.append(row[0])
        Ks.append(v[:9].reshape(3, 3))
        Ts.append(T)
    return names, Ks, Ts


def read_idr(folder: Path):
    """DTU in the IDR / NeuS layout: names, K (3, 3) per view, T_cam_world (metres; DTU's world is in
    millimetres), the masks' union box in 3D and the longest side of the visual hull (metres)."""
    import cv2

    cams = np.load(folder / "cameras_sphere.npz")
    names = sorted(p.name for p in (folder / "image").glob("*.png"))
    masks = [read_image_rgb(m)[..., 0] > 127 for m in sorted((folder / "mask").glob("*.png"))]
    if len(masks) != len(names):
        raise SystemExit(f"{folder}: {len(names)} images but {len(masks)} masks")
    Ks, Ts, Ps = [], [], []
    for i in range(len(names)):
        P = cams[f"world_mat_{i}"][:3]
        K, R, c = cv2.decomposeProjectionMatrix(P)[:3]
        D = np.diag(np.sign(np.diag(K)))  # positive focal lengths
        K, R = K @ D, D @ R
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, -R @ (c[:3, 0] / c[3, 0]) / 1000.0
        Ks.append(K / K[2, 2])
        Ts.append(T)
        Ps.append(P)
    scale = cams["scale_mat_0"]  # the object's bounding sphere: centre, radius (mm)
    hull = visual_hull(masks, Ps, scale[:3, 3], scale[0, 0]) / 1000.0
    return names, Ks, Ts, np.stack([hull.min(0), hull.max(0)]), sfm.longest_side(hull)


def visual_hull(masks, Ps, centre, radius, n: int = 128) -> np.ndarray:
    """Centres (M, 3) of the voxels of the sphere's cube that project inside every mask."""
    g = np.linspace(-1.0, 1.0, n)
    X = centre + radius * np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    inside = np.ones(len(X), bool)
    for mask, P in zip(masks, Ps):
        x = X[inside] @ P[:, :3].T + P[:, 3]
        u, v = np.round(x[:, 0] / x[:, 2]).astype(int), np.round(x[:, 1] / x[:, 2]).astype(int)
        ok = (x[:, 2] > 0) & (u >= 0) & (v >= 0) & (u < mask.shape[1]) & (v < mask.shape[0])
        ok[ok] = mask[v[ok], u[ok]]
        inside[np.nonzero(inside)[0][~ok]] = False
    if not inside.any():
        raise SystemExit("the visual hull is empty: masks and cameras disagree")
    return X[inside]


def load(folder: Path):
    """(names, K per view, T_cam_world per view, the object's 3D box (2, 3), its longest side m)."""
    if (folder / "cameras_sphere.npz").is_file():
        return read_idr(folder)
    names, Ks, Ts = read_cameras(folder)
    box = object_box(folder)
    return names, Ks, Ts, box, float(np.ptp(box, axis=0).max())


def object_box(folder: Path) -> np.ndarray:
    text = (folder / "README.txt").read_text()
    import re

    corners = [list(map(float, m)) for m in re.findall(r"\(([-\d.]+) ([-\d.]+) ([-\d.]+)\)", text)]
    return np.asarray(corners[:2])


def held_out_pose(images, K, T_gt, names, box3d: np.ndarray, size: float, dense: bool = False) -> dict:
    """Held-out views posed against a database of the even registered views; with ``dense``, the
    database's points are densified (mveq_core.densify) from the reference views alone."""
    from mveq_core.densify import DensifyConfig, densify
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.geometry import projected_box
    from mveq_core.pose import PoseEstimator

    rec = sfm.reconstruct(images, K)
    rec = sfm.metric(rec, size, sfm.object_points(rec))
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


def sfm_run(images, K, T_gt, size: float, features=None) -> dict:
    """One reconstruction (SIFT, or ``features``' descriptors at SIFT's keypoints) scaled by the object
    size, and its cameras against the ground truth; a failure is a result too (e.g. the textureless
    dino at 45°)."""
    t0 = time.perf_counter()
    try:
        rec = sfm.reconstruct(images, K, features=features)
    except sfm.SfMError as exc:
        return {"views": len(images), "registered": 0, "error": str(exc), "seconds": time.perf_counter() - t0}
    row = {"views": len(images), "registered": len(rec.T_cam_world), "points": len(rec.points), "reprojection_error_px": rec.reprojection_error, "seconds": time.perf_counter() - t0}
    if len(rec.T_cam_world) >= 2:
        ids = sfm.object_points(rec)
        row.update(({} if features is not None else {"object_points": len(ids)}), **sfm.relative_motion_summary(sfm.metric(rec, size, ids).T_cam_world, T_gt))
    return row


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    set_invocation(["scripts/realdata/middlebury_sfm.py", *argv])
    names, Ks, Ts, box3d, size = load(folder)
    images = [read_image_rgb(folder / ("image" if (folder / "image").is_dir() else "") / n) for n in names]
    result = {"benchmark": "middlebury-sfm", "object_size_m": size, "runs": {}}
    n_all, n_even = len(names), len(range(0, len(names), 2))
    views = ((f"all_{n_all}_views", list(range(len(names)))), (f"even_{n_even}_views", list(range(0, len(names), 2))))
    # SIFT, then the same two reconstructions with our dense descriptors at SIFT's keypoints (offline default)
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures

    dense = DenseFeatures.create(OFFLINE_DEFAULT)
    runs = [(label, idx, None) for label, idx in views] + ([] if "--no-dense-sfm" in argv else [(f"{label}_dense", idx, dense) for label, idx in views])
    for label, idx, features in runs:
        result["runs"][label] = sfm_run([images[i] for i in idx], Ks[0], [Ts[i] for i in idx], size, features)
        print(label, result["runs"][label])
    result["held_out_pose"] = held_out_pose(images, Ks[0], Ts, names, box3d, size)
    print("held-out pose", {k: v for k, v in result["held_out_pose"].items() if k != "views"})
    result["held_out_pose_dense_points"] = held_out_pose(images, Ks[0], Ts, names, box3d, size, dense=True)
    print("held-out pose, dense points", {k: v for k, v in result["held_out_pose_dense_points"].items() if k != "views"})
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
