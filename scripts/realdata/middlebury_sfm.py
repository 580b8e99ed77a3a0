"""SfM camera accuracy on the real Middlebury templeSparseRing views (issue 13).

Reconstructs all 16 views and the 8 even views (45° apart) with `mveq_core.sfm.reconstruct` (SIFT,
pycolmap, the given intrinsics fixed), scales by the temple's longest side (0.160 m, its tight box in
README.txt) and compares every pair of registered cameras' relative motion with the ground truth:
rotation error, translation direction error, translation length ratio (scale).

    .venv/bin/python scripts/realdata/middlebury_sfm.py ../shared/realdata/middlebury_temple docs/results/sfm/middlebury.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from mveq_core import sfm
from mveq_core.io import read_image_rgb
from mveq_core.provenance import set_invocation, write_result_json

TEMPLE_LONGEST_SIDE = 0.181892 - 0.021728  # metres, README.txt's tight box (y extent)


def read_cameras(folder: Path):
    lines = [line.split() for line in (folder / "templeSR_par.txt").read_text().splitlines()[1:] if line.strip()]
    names, Ks, Ts = [], [], []
    for row in lines:
        v = np.asarray(row[1:], float)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = v[9:18].reshape(3, 3), v[18:21]
        names.append(row[0])
        Ks.append(v[:9].reshape(3, 3))
        Ts.append(T)
    return names, Ks, Ts


def relative_errors(T_est: dict[int, np.ndarray], T_gt: list[np.ndarray]) -> dict:
    rot, direction, ratio = [], [], []
    ks = sorted(T_est)
    for a, i in enumerate(ks):
        for j in ks[a + 1 :]:
            Re = T_est[j][:3, :3] @ T_est[i][:3, :3].T
            Rg = T_gt[j][:3, :3] @ T_gt[i][:3, :3].T
            te, tg = T_est[j][:3, 3] - Re @ T_est[i][:3, 3], T_gt[j][:3, 3] - Rg @ T_gt[i][:3, 3]
            rot.append(np.degrees(np.arccos(np.clip((np.trace(Re.T @ Rg) - 1) / 2, -1, 1))))
            direction.append(np.degrees(np.arccos(np.clip(te @ tg / (np.linalg.norm(te) * np.linalg.norm(tg)), -1, 1))))
            ratio.append(np.linalg.norm(te) / np.linalg.norm(tg))
    if not rot:
        return {"pairs": 0}
    return {"pairs": len(rot), "median_rotation_error_deg": float(np.median(rot)), "max_rotation_error_deg": float(np.max(rot)),
            "median_translation_direction_error_deg": float(np.median(direction)), "median_scale_ratio": float(np.median(ratio))}


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    set_invocation(["scripts/realdata/middlebury_sfm.py", *argv])
    names, Ks, Ts = read_cameras(folder)
    images = [read_image_rgb(folder / n) for n in names]
    result = {"benchmark": "middlebury-sfm", "object_size_m": TEMPLE_LONGEST_SIDE, "runs": {}}
    for label, idx in (("all_16_views", list(range(len(names)))), ("even_8_views", list(range(0, len(names), 2)))):
        t0 = time.perf_counter()
        rec = sfm.reconstruct([images[i] for i in idx], Ks[0])
        row = {"views": len(idx), "registered": len(rec.T_cam_world), "points": len(rec.points), "reprojection_error_px": rec.reprojection_error, "seconds": time.perf_counter() - t0}
        if len(rec.T_cam_world) >= 2:
            ids = sfm.object_points(rec)
            m = sfm.metric(rec, TEMPLE_LONGEST_SIDE, ids)
            row.update(object_points=len(ids), **relative_errors(m.T_cam_world, [Ts[i] for i in idx]))
        result["runs"][label] = row
        print(label, row)
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
