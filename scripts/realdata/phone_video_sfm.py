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

    .venv/bin/python scripts/realdata/phone_video_sfm.py FOX_DIR docs/results/sfm/phone_fox.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from mveq_core import sfm, teach
from mveq_core.geometry import invert_transform
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


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a transforms.json folder (e.g. instant-ngp's data/nerf/fox)")
    ap.add_argument("out")
    ap.add_argument("--no-dense", action="store_true", help="SfM object points only (no mveq_core.densify)")
    args = ap.parse_args(argv)
    set_invocation(["scripts/realdata/phone_video_sfm.py", *argv])
    from mveq_core.densify import DensifyConfig
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
    from mveq_core.pose import PoseEstimator

    names, images, K, dist, T_ref = load_transforms(Path(args.folder))
    images = sfm.undistort_frames(images, K, dist)  # what `mveq db build-from-video --camera` does with a `dist`
    video, queries = list(range(0, len(names), 2)), list(range(1, len(names), 2))
    features = DenseFeatures.create(OFFLINE_DEFAULT)
    t0 = time.perf_counter()
    db, report, rec = teach.teach(features, [images[i] for i in video], K, "object", object_size=1.0, keyframes=len(video),
                                  dense=None if args.no_dense else DensifyConfig())
    seconds = time.perf_counter() - t0
    keyframes = [video[k] for k in report.keyframes]
    result = {
        "benchmark": "phone-video-sfm", "frames": len(names), "video_frames": len(video), "query_frames": len(queries), "teach_seconds": seconds,
        "dense": not args.no_dense, "image_size": list(images[0].shape[:2]), "report": report.to_json(),
        "sfm_cameras_vs_reference": sfm.relative_motion_summary(rec.T_cam_world, [T_ref[i] for i in keyframes], spread="p90"),
    }
    print("teach", result["report"], "\nSfM cameras vs reference", result["sfm_cameras_vs_reference"])
    estimator = PoseEstimator(features, [db])
    est, rows = {}, []
    for i in queries:
        r = estimator.estimate(images[i], K)["object"]  # no box: the two-pass search
        rows.append({"frame": names[i], "success": r.success, "inliers": r.num_inliers, "matches": r.num_matches})
        if r.success:
            est[len(est)] = (i, r.T_cam_obj)
    summary = sfm.relative_motion_summary({k: T for k, (_, T) in est.items()}, [T_ref[i] for i, _ in est.values()], spread="p90")
    result["held_out"] = {"queries": len(queries), "posed": len(est), "relative_to_reference": summary, "rows": rows}
    print("held-out", {k: v for k, v in result["held_out"].items() if k != "rows"})
    write_result_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
