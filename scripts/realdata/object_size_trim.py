"""Issue 13: would trimming the extremes of the SfM object points make `--object-size` scale more
accurate? On a Middlebury ring (or a DTU scan in the IDR layout), reconstruct every view (SIFT,
pycolmap), bring the object's points to true metres through the ground-truth cameras (the median
translation-length ratio over all camera pairs), and compare the longest side of their smallest
enclosing box, with 0 / 0.5 / 1 / 2 % of the points trimmed at each end of each box axis, with the
object's true longest side.

    .venv/bin/python scripts/realdata/object_size_trim.py ../shared/realdata/middlebury_temple
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402


def main(folder: str) -> int:
    folder = Path(folder)
    names, Ks, Ts, _, size = load(folder)
    rec = sfm.reconstruct([read_image_rgb(folder / n) for n in names], Ks[0])
    ids = sfm.object_points(rec)
    scaled = sfm.metric(rec, size, ids)
    ratio = sfm.relative_motion_summary(scaled.T_cam_world, list(Ts))["median_scale_ratio"]
    points = scaled.points[ids] / ratio  # true metres
    T, _ = trimesh.bounds.oriented_bounds(points)
    q = points @ T[:3, :3].T + T[:3, 3]
    print(f"{folder.name}: {len(rec.T_cam_world)} of {len(names)} views registered, {len(ids)} object points, true longest side {size:.4f} m")
    for trim in (0.0, 0.5, 1.0, 2.0):
        side = float((np.percentile(q, 100 - trim, 0) - np.percentile(q, trim, 0)).max())
        print(f"  {trim:3.1f} % trimmed a side: {side:.4f} m = {side / size:.3f} x the true size")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
