"""Teach from a real phone video end to end (issue 13): frames of a hand-held phone video around an
object with a reference camera for every frame, in the NeRF / instant-ngp `transforms.json` layout
(camera-to-world matrices in OpenGL axes, `fl_x fl_y cx cy` and OpenCV `k1 k2 p1 p2` distortion),
e.g. instant-ngp's fox (public repository NVlabs/instant-ngp, `data/nerf/fox`: 50 portrait
1080 x 1920 frames of a phone video of a fox figurine on a table; its cameras were reconstructed by
COLMAP from those frames, so they are a reference, not an independent ground truth).

The even frames are the user's video: `mveq_core.teach.teach` (the code behind `mveq db
build-from-video --frames DIR --camera cam.json`: the frames undistorted with the camera's `dist`,
keyframes, SIFT SfM, the object found automatically as the points around the orbit centre, dense
object points, the offline default model). The taught cameras are compared with the reference
(relative rotation and translation direction of every pair of registered keyframes); then the odd
frames, never seen in teaching, are posed without a box (two-pass search) and their relative
motions compared with the reference. There is no metric truth, so the scale is not evaluated (the
object size given is nominal).

A Middlebury ring folder (``*_par.txt`` ground-truth cameras, the object's tight box in
``README.txt``; e.g. 19 consecutive views 7.7° apart of templeRing in the public repository
ma-mehralian/EKFPnP_matlab_toolbox, ``data/templeRing``) is read the same way with issue 13's
protocol: teach from every other view with SfM cameras, pose the others. There the cameras are
calibrated and metric, so the object size is the box's longest side, the scale ratio is the
metric scale's error, and the held-out views are also posed with the object's box projected
(``gt_box``).

    .venv/bin/python scripts/realdata/phone_video_sfm.py FOX_DIR docs/results/sfm/phone_fox.json
    .venv/bin/python scripts/realdata/phone_video_sfm.py TEMPLE_RING_DIR docs/results/sfm/temple_ring_held_out.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mveq_core import sfm, teach
from mveq_core.geometry import invert_transform, projected_box
from mveq_core.io import read_image_rgb, read_json
from mveq_core.provenance import set_invocation, write_result_json

OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])


def load_transforms(folder: Path):
    """(names, images, K, dist, T_cam_world per frame) of the frames present, in name order."""
    meta = read_json(folder / "transforms.json")
    K = np.array([[meta["fl_x"], 0.0, meta["cx"]], [0.0, meta["fl_y"], meta["cy"]], [0.0, 0.0, 1.0]])
    dist = np.array([meta.get(k, 0.0) for k in ("k1", "k2", "p1", "p2")])
    frames = sorted((f for f in meta["frames"] if (folder / f["file_path"]).is_file()), key=lambda f: f["file_path"])
    names = [f["file_path"] for f in frames]
    T = [invert_transform(np.asarray(f["transform_matrix"], np.float64) @ OPENGL_TO_OPENCV) for f in frames]
    images = [read_image_rgb(folder / n) for n in names]
    return names, images, K, dist, T


def load_ring(folder: Path):
    """A Middlebury ring (calibrated, metric): (names, images, K, dist None, T_cam_world, 3D box, size)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from middlebury_sfm import load

    names, Ks, T, box3d, size = load(folder)
    return names, [read_image_rgb(folder / n) for n in names], Ks[0], None, T, box3d, size


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a transforms.json folder (e.g. instant-ngp's data/nerf/fox) or a Middlebury ring folder (*_par.txt)")
    ap.add_argument("out")
    ap.add_argument("--no-dense", action="store_true", help="SfM object points only (no mveq_core.densify)")
    ap.add_argument("--crop-boxes", action="store_true", help="also compare ways of framing each keyframe's crop (crop_variants.py)")
    args = ap.parse_args(argv)
    set_invocation(["scripts/realdata/phone_video_sfm.py", *argv])
    from mveq_core.densify import DensifyConfig
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.pose import PoseEstimator

    folder = Path(args.folder)
    if (folder / "transforms.json").is_file():
        names, images, K, dist, T_ref = load_transforms(folder)
        images = sfm.undistort_frames(images, K, dist)  # what `mveq db build-from-video --camera` does with a `dist`
        box3d, size = None, 1.0  # no metric truth: a nominal size
    else:
        names, images, K, dist, T_ref, box3d, size = load_ring(folder)
    video, queries = list(range(0, len(names), 2)), list(range(1, len(names), 2))
    features = DenseFeatures.create(OFFLINE_DEFAULT)
    t0 = time.perf_counter()
    db, report, rec = teach.teach(features, [images[i] for i in video], K, "object", object_size=size, keyframes=len(video),
                                  dense=None if args.no_dense else DensifyConfig())
    seconds = time.perf_counter() - t0
    keyframes = [video[k] for k in report.keyframes]
    result = {
        "benchmark": "phone-video-sfm", "metric_truth": box3d is not None, "object_size_m": size, "frames": len(names), "video_frames": len(video), "query_frames": len(queries), "teach_seconds": seconds,
        "dense": not args.no_dense, "image_size": list(images[0].shape[:2]), "report": report.to_json(),
        "sfm_cameras_vs_reference": sfm.relative_motion_summary(rec.T_cam_world, [T_ref[i] for i in keyframes], spread="p90"),
    }
    print("teach", result["report"], "\nSfM cameras vs reference", result["sfm_cameras_vs_reference"])
    def held_out(database) -> dict:
        """The queries posed against ``database`` without a box (the two-pass search) and, with a
        metric truth, with the temple's 3D box projected; relative motions vs the reference."""
        estimator, out = PoseEstimator(features, [database]), {}
        for mode in ("no_box",) + (("gt_box",) if box3d is not None else ()):
            est, rows = {}, []
            for i in queries:
                box = projected_box(box3d, T_ref[i], K, images[i].shape[:2], min_side=8.0) if mode == "gt_box" else None
                r = estimator.estimate(images[i], K, box=box)["object"]
                rows.append({"frame": names[i], "success": r.success, "inliers": r.num_inliers, "matches": r.num_matches})
                if r.success:
                    est[len(est)] = (i, r.T_cam_obj)
            summary = sfm.relative_motion_summary({k: T for k, (_, T) in est.items()}, [T_ref[i] for i, _ in est.values()], spread="p90") if len(est) >= 2 else None
            key = "held_out" if mode == "no_box" else "held_out_gt_box"
            out[key] = {"queries": len(queries), "posed": len(est), "relative_to_reference": summary, "rows": rows}
            print(key, {k: v for k, v in out[key].items() if k != "rows"})
        return out

    result.update(held_out(db))
    if args.crop_boxes:
        import crop_variants

        summaries = {k: v for k, v in result.items() if k.startswith("held_out")}
        result["crop_boxes"] = crop_variants.compare(features, rec, [images[i] for i in keyframes], K, "object", held_out, (len(db), summaries))
    write_result_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
