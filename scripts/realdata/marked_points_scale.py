"""Issue 13: metric scale from two marked points (`mveq db build-from-video --mark-a/--mark-b
--mark-distance`) on real calibrated rings (Middlebury templeSparseRing, dinoSparseRing).

Every view is reconstructed (SIFT, pycolmap, `mveq_core.sfm.reconstruct`). A user's marks are
stood in for by the reconstruction's own object points: each is "marked" at its SIFT keypoints in
two of the views that saw it (at least 20° apart; sub-pixel, then with simulated click noise of
1 and 2 px), and the ruler's distance between two points is their distance triangulated from the
same pixels with the ground-truth cameras (no ruler reading exists for these sets). For many pairs
of points at least half the object's size apart, the reconstruction is scaled by
`mveq_core.sfm.marked_points_scale` and every pair of cameras' translation length compared with
the ground truth (median ratio); the object-size scale (`--object-size`, the object's longest side)
of the same reconstruction is reported beside it.

    .venv/bin/python scripts/realdata/marked_points_scale.py ../shared/realdata/middlebury_temple docs/results/sfm/marked_points_temple.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402
from mveq_core.provenance import set_invocation, write_result_json  # noqa: E402

MIN_ANGLE_DEG = 20.0


def marked_pairs(rec: sfm.Reconstruction, ids: np.ndarray, rng: np.random.Generator) -> dict[int, dict[int, np.ndarray]]:
    """{point: {view: pixel}}: each object point seen by two views at least MIN_ANGLE_DEG apart, two
    such views drawn at random."""
    seen: dict[int, dict[int, np.ndarray]] = {}
    keep = set(int(i) for i in ids)
    for view, (xy, pids) in rec.observations.items():
        for p, x in zip(pids, xy):
            if int(p) in keep:
                seen.setdefault(int(p), {})[view] = x
    out = {}
    for p, views in seen.items():
        ks = list(views)
        rng.shuffle(ks)
        pair = next(((a, b) for i, a in enumerate(ks) for b in ks[i + 1 :] if sfm.viewing_angle_deg(rec, rec.points[p], (a, b)) >= MIN_ANGLE_DEG), None)
        if pair is not None:
            out[p] = {k: views[k] for k in pair}
    return out


def main(folder: str, out: str, pairs: int = 200, seed: int = 0) -> int:
    set_invocation(sys.argv)
    folder = Path(folder)
    names, Ks, Ts, _, size = load(folder)
    K = Ks[0]
    rec = sfm.reconstruct([read_image_rgb(folder / n) for n in names], K)
    ids = sfm.object_points(rec)
    size_ratio = sfm.relative_motion_summary(sfm.metric(rec, size, ids).T_cam_world, list(Ts))["median_scale_ratio"]
    gt = sfm.Reconstruction({k: Ts[k] for k in range(len(Ts))}, np.zeros((0, 3)), {}, 0.0, len(Ts))
    rng = np.random.default_rng(seed)
    marks = marked_pairs(rec, ids, rng)
    points = list(marks)
    truth = {p: sfm.triangulate(gt, K, list(marks[p].items())) for p in points}
    chosen = []
    while len(chosen) < pairs and len(points) > 1:
        a, b = rng.choice(len(points), 2, replace=False)
        if np.linalg.norm(truth[points[a]] - truth[points[b]]) >= 0.5 * size:
            chosen.append((points[a], points[b]))
    rows = {}
    for noise in (0.0, 1.0, 2.0):
        ratios = []
        for a, b in tqdm(chosen, desc=f"{folder.name} click noise {noise:.0f} px", leave=False):
            clicked = [{k: x + rng.normal(0.0, noise, 2) for k, x in marks[p].items()} for p in (a, b)]
            ruler = float(np.linalg.norm(truth[a] - truth[b]))
            factor = sfm.marked_points_scale(rec, K, clicked, ruler, min_angle_deg=MIN_ANGLE_DEG - 1)
            ratios.append(sfm.relative_motion_summary(rec.scaled(factor).T_cam_world, list(Ts))["median_scale_ratio"])
        err = np.abs(np.asarray(ratios) - 1.0)
        rows[f"{noise:.0f}px"] = {"pairs": len(ratios), "median_abs_scale_error": float(np.median(err)), "p90_abs_scale_error": float(np.percentile(err, 90)),
                                  "share_within_1pct": float(np.mean(err < 0.01)), "median_scale_ratio": float(np.median(ratios))}
        print(f"{folder.name}: click noise {noise:.0f} px, {len(ratios)} pairs: |scale error| median {100 * np.median(err):.2f} %, p90 {100 * np.percentile(err, 90):.2f} %, "
              f"within 1 %: {100 * np.mean(err < 0.01):.0f} %")
    print(f"{folder.name}: object size ({size:.4f} m longest side) on the same reconstruction: scale ratio {size_ratio:.4f} ({100 * abs(size_ratio - 1):.2f} % off)")
    result = {"set": folder.name, "views": len(names), "registered": len(rec.T_cam_world), "object_points": len(ids), "points_marked": len(points),
              "object_size_m": size, "object_size_scale_ratio": size_ratio, "pairs": rows, "min_angle_deg": MIN_ANGLE_DEG, "seed": seed}
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3], *[int(v) for v in sys.argv[3:]]))
