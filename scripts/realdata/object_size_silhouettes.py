"""Issue 13, session 22: the object's size measured on the SfM object points that stay inside the
object's silhouette in every keyframe (`sfm.silhouette_consistent`, what `sfm.metric` does when it
has the keyframes), against all object points (before). Points floating off the surface leave the
silhouette in some view; GrabCut (`sfm.object_masks`: the box around the points' projections grown
by a quarter a side) cuts each keyframe's silhouette, and a cut holding fewer than ``min_inside`` of
the points it sees is not used. Printed: measured / true longest side, the scale of the cameras'
relative motions against the ground truth (so the points are never aligned to the truth), for all
points and for min_inside 0.5, 0.8, 0.9 (the default) and 0.95.

Sources: ``orbit`` (the test suite's rendered drill orbit, 24 views), a Middlebury ring folder
(`middlebury_sfm.load`: its README's box), a DTU scan in the IDR layout (every other view; its
size is the principal-axes box of the visual hull of its 49 masks: indicative), or a BOP scene
written by `linemod_to_bop.py` (the LINEMOD cat as `linemod_sfm.py` teaches it: 40 keyframes, SfM
keypoints in the central half, the object's points from the GT box in the first keyframe; size from
the mesh).

    .venv/bin/python scripts/realdata/object_size_silhouettes.py OUT.json orbit ../shared/realdata/middlebury_temple DINO_DIR CAT_BOP_DIR DTU_SCAN65_DIR
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402
from mveq_core.provenance import set_invocation, write_result_json  # noqa: E402

THRESHOLDS = (0.5, 0.8, 0.9, 0.95)


def prepare(source: str):
    """(images, K, ground-truth poses, true longest side, reconstruction, object point ids)."""
    if source == "orbit":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "core"))
        from test_sfm import K, drill_orbit

        images, poses, drill = drill_orbit()
        rec = sfm.reconstruct(images, K)
        return images, K, poses, sfm.longest_side(np.asarray(drill.sample(20000, seed=0))), rec, sfm.object_points(rec)
    folder = Path(source)
    if (folder / "test").is_dir():  # a BOP scene of linemod_to_bop.py: the LINEMOD cat protocol
        from mveq_core.benchmarks.bop import load_bop
        from mveq_core.benchmarks.realdata import fill_visible_boxes

        real = load_bop(source)
        frames = real.frames
        chosen = sfm.select_keyframes([f.rgb for f in frames], 40)
        fill_visible_boxes(frames[chosen[0]], real.objects)
        images, K = [frames[i].rgb for i in chosen], frames[0].K
        name = frames[0].annotations[0].object
        rec = sfm.reconstruct(images, K, centre_window=0.5)
        ids = sfm.object_points(rec, (0, frames[chosen[0]].annotations[0].box))
        return images, K, [frames[i].annotations[0].T_cam_obj for i in chosen], sfm.longest_side(np.asarray(real.objects[name].mesh().vertices)), rec, ids
    names, Ks, Ts, _, size = load(folder)
    step = 2 if (folder / "cameras_sphere.npz").is_file() else 1  # DTU: the 25 even views
    sub = folder / ("image" if (folder / "image").is_dir() else "")
    images = [read_image_rgb(sub / n) for n in names[::step]]
    rec = sfm.reconstruct(images, Ks[0])
    return images, Ks[0], list(Ts)[::step], size, rec, sfm.object_points(rec)


def main(argv: list[str]) -> int:
    set_invocation(["scripts/realdata/object_size_silhouettes.py", *argv])
    out, rows = argv[0], []
    for source in argv[1:]:
        images, K, poses, size, rec, ids = prepare(source)

        def ratio(kept: np.ndarray) -> float:
            scaled = rec.scaled(size / sfm.longest_side(rec.points[kept]))
            return 1.0 / sfm.relative_motion_summary(scaled.T_cam_world, poses)["median_scale_ratio"]

        t = time.perf_counter()
        masks = sfm.object_masks(images, rec, K, ids)
        seconds = time.perf_counter() - t
        row = {"source": Path(source).name, "views": len(images), "registered": len(rec.T_cam_world), "object_points": len(ids), "masks": len(masks),
               "mask_seconds": seconds, "true_side_m": size, "all_points": ratio(ids), "silhouette_consistent": {}}
        for threshold in THRESHOLDS:
            kept = sfm.silhouette_consistent(rec, K, ids, masks, threshold)
            row["silhouette_consistent"][str(threshold)] = {"points": len(kept), "ratio": ratio(kept) if len(kept) >= 10 else None}
        rows.append(row)
        cells = " | ".join(f"{t}: {v['ratio']:.3f} ({v['points']})" if v["ratio"] else f"{t}: - ({v['points']})" for t, v in row["silhouette_consistent"].items())
        print(f"{row['source']}: {row['registered']} of {row['views']} views, {len(ids)} object points, {len(masks)} masks in {seconds:.0f} s; "
              f"measured / true side: all points {row['all_points']:.3f} | inside the silhouettes, min_inside {cells}", flush=True)
        write_result_json(out, {"benchmark": "object-size-silhouettes", "rows": rows}, "cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
