"""Teach from an unposed real video, end to end, on the LINEMOD cat sequence (issue 13).

The sequence (a Kinect circling the cat on a cluttered table; `scripts/realdata/linemod_to_bop.py`
writes it as a BOP scene) is used as an unposed video: `mveq_core.teach.teach` picks keyframes,
reconstructs them with pycolmap (SIFT), takes the object's points from a 2D box in one keyframe (the
GT mask's box, as a user would draw it), scales by the object's longest side (from the mesh: the
one number a user gives) and builds the database. Then:
- SfM camera accuracy: every pair of registered keyframes' relative motion against the ground-truth
  poses (the scene is static, so object-to-camera poses are camera poses): rotation error,
  translation direction error, length ratio (the metric scale);
- pose on held-out frames (never keyframes), GT box crops: posed share, and relative motions between
  the held-out frames' estimated poses against the ground truth (frame-independent: the SfM object
  frame differs from the mesh's).

    .venv/bin/python scripts/realdata/linemod_sfm.py /work/scratch/lm_cat_bop docs/results/sfm/linemod_cat.json
    .venv/bin/python scripts/realdata/linemod_sfm.py /work/scratch/lm_cat_bop docs/results/sfm/linemod_cat_window50.json --centre-window 0.5
    .venv/bin/python scripts/realdata/linemod_sfm.py /work/scratch/lm_cat_bop OUT.json --centre-window 0.5 --dense --crop-boxes
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mveq_core import sfm, teach
from mveq_core.benchmarks.bop import load_bop
from mveq_core.benchmarks.realdata import fill_visible_boxes
from mveq_core.provenance import set_invocation, write_result_json


def aligned_errors(est: dict, T_gt: list[np.ndarray], rec, keyframes: list[int], vertices: np.ndarray, diameter: float) -> dict:
    """Held-out poses in the mesh's frame: the SfM object frame is mapped to the mesh's by the mean
    of the registered keyframes' transforms (SfM pose^-1 x GT pose; evaluation only), then rotation
    and translation errors, 5 cm 5° and ADD < 0.1 d against the ground truth."""
    from mveq_core.geometry import invert_transform, make_transform
    from mveq_core.metrics.pose import add_error, query_pose_error

    T_world_obj = teach.object_frame(rec)
    S = [invert_transform(rec.T_cam_world[k] @ T_world_obj) @ T_gt[keyframes[k]] for k in rec.T_cam_world]
    U, _, Vt = np.linalg.svd(np.mean([s[:3, :3] for s in S], 0))
    R = U @ np.diag([1, 1, np.linalg.det(U @ Vt)]) @ Vt
    align = make_transform(R, np.median([s[:3, 3] for s in S], 0))
    rot, trans, add = [], [], []
    for i, T in est.values():
        rot_deg, trans_cm = query_pose_error(T @ align, T_gt[i])
        rot.append(rot_deg)
        trans.append(trans_cm / 100.0)
        add.append(add_error(T @ align, T_gt[i], vertices))
    rot, trans, add = map(np.asarray, (rot, trans, add))
    if not len(rot):
        return {"posed": 0}
    return {"posed": len(rot), "median_rotation_error_deg": float(np.median(rot)), "median_translation_error_mm": float(np.median(trans) * 1000),
            "share_5cm5deg": float(np.mean((rot < 5) & (trans < 0.05))), "share_add_01d": float(np.mean(add < 0.1 * diameter))}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the BOP scene (or dataset) of linemod_to_bop.py")
    ap.add_argument("out")
    ap.add_argument("--keyframes", type=int, default=40)
    ap.add_argument("--queries", type=int, default=30, help="held-out frames posed against the database")
    ap.add_argument("--centre-window", type=float, default=0.0, help="SfM keypoints only in this central fraction of each frame")
    ap.add_argument("--dense", action="store_true", help="add dense object points (mveq_core.densify) to the SfM database")
    ap.add_argument("--crop-boxes", action="store_true", help="also compare ways of framing each keyframe's crop (crop_variants.py)")
    args = ap.parse_args(argv)
    set_invocation(["scripts/realdata/linemod_sfm.py", *argv])
    real = load_bop(args.root)
    frames = real.frames
    images = [f.rgb for f in frames]
    K = frames[0].K
    T_gt = [f.annotations[0].T_cam_obj for f in frames]
    name = frames[0].annotations[0].object
    mesh = real.objects[name].mesh()
    size = sfm.longest_side(np.asarray(mesh.vertices))
    chosen = sfm.select_keyframes(images, args.keyframes)
    fill_visible_boxes(frames[chosen[0]], real.objects)
    box = (chosen[0], frames[chosen[0]].annotations[0].box)
    from mveq_core.densify import DensifyConfig
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.pose import PoseEstimator

    features = DenseFeatures.create(OFFLINE_DEFAULT)
    t0 = time.perf_counter()
    db, report, rec = teach.teach(features, images, K, name, object_size=size, box=box, keyframes=args.keyframes, centre_window=args.centre_window,
                                      dense=DensifyConfig() if args.dense else None)
    seconds = time.perf_counter() - t0
    keyframes = report.keyframes
    T_sfm = {k: rec.T_cam_world[k] for k in rec.T_cam_world}
    result = {
        "benchmark": "linemod-sfm", "frames": len(frames), "object": name, "object_size_m": size, "teach_seconds": seconds, "centre_window": args.centre_window, "dense": args.dense,
        "report": report.to_json(),
        "sfm_cameras": sfm.relative_motion_summary(T_sfm, [T_gt[i] for i in keyframes], spread="p90"),
    }
    print("teach", result["report"], "\nSfM cameras vs GT", result["sfm_cameras"])
    held = [i for i in range(len(frames)) if i not in set(keyframes)]
    queries = [held[j] for j in np.linspace(0, len(held) - 1, min(args.queries, len(held))).round().astype(int)]
    for i in queries:  # their GT boxes, once for every database posed against
        fill_visible_boxes(frames[i], real.objects)

    def held_out(database) -> dict:
        """The queries posed with their GT boxes against ``database``, against the ground truth."""
        estimator = PoseEstimator(features, [database])
        est, rows = {}, []
        for i in queries:
            r = estimator.estimate(frames[i].rgb, K, box=frames[i].annotations[0].box)[name]
            rows.append({"frame": frames[i].key, "success": r.success, "inliers": r.num_inliers, "matches": r.num_matches})
            if r.success:
                est[len(est)] = (i, r.T_cam_obj)
        T_est = {k: T for k, (_, T) in est.items()}
        out = {"queries": len(queries), "posed": len(est), "rows": rows,
               "relative_to_ground_truth": sfm.relative_motion_summary(T_est, [T_gt[i] for i, _ in est.values()], spread="p90")}
        out["aligned_to_ground_truth"] = aligned_errors(est, T_gt, rec, keyframes, real.objects[name].points, real.objects[name].diameter)
        return out

    result["held_out"] = held_out(db)
    print("held-out", {k: v for k, v in result["held_out"].items() if k != "rows"})
    if args.crop_boxes:
        import crop_variants

        def gt_side(k: int) -> float:  # the longer side of keyframe k's GT visible box
            fill_visible_boxes(frames[keyframes[k]], real.objects)
            x0, y0, x1, y1 = frames[keyframes[k]].annotations[0].box
            return max(x1 - x0, y1 - y0)

        result["crop_boxes"] = crop_variants.compare(features, rec, [images[i] for i in keyframes], K, name, held_out, (len(db), result["held_out"]), gt_side)
    write_result_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
