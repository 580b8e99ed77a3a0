"""The translation fitted to the query's box, after the rotation is found (issue 9; session 19: the fit alone, not kept; session 24: drawn half way, the default ``box_distance``).

With a box and no mask, the chosen pose's distance comes from PnP on matches. Given its rotation,
the box alone fixes the translation: the distance along the pose's ray whose mesh silhouette's box
(the box of the projected vertices, clipped to the image) best overlaps the query box (IoU over
scales 0.80-1.25 of the translation), optionally followed by a shift across the image that centres
the two boxes (three alternations), kept only when the fitted IoU reaches ``--gate``. This script
applies the fit to recorded poses and scores them against the ground truth (ADD(-S) < 0.1 d,
5 cm 5°, 10 cm 10°), with the rows' boxes as recorded and with every box side moved by Gaussian
noise of ``--sigma`` of the box's width or height (several seeds): a detector's box is not the
ground truth's, or with one side cut short by ``--truncate`` of its width or height, as an
occluder's visible box is. Two drawn rows move the translation ``--weight`` of the way to a fitted
one when its distance is within ``--max-change`` of the estimate's: ``IoU fit`` (session 24's first
device rows: the distance-and-shift fit above, when it reaches ``--gate``) and ``default``
(:func:`mveq_core.box_distance.draw_to_box`, what ``PoseConfig.box_distance`` does: the box's sides
fitted by least squares, allowing for one occluded side). ``--bop`` names BOP roots (``mveq bench
bop`` rows, e.g. the LINEMOD cat copies) whose rows are read there.
Rows that ``box_distance`` already drew (session 24 on) are taken as they were before the draw.

    .venv/bin/python scripts/realdata/box_translation_fit.py docs/results/real/session18/{handal,lm,hb}_default.json \\
        --poses docs/results/real/session18/replay_{handal,lm,hb}_default.json --data ../shared/realdata --sigma 0 0.01 0.02 0.04
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from mveq_core.benchmarks.bop import load_bop
from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import load_realdata
from mveq_core.box_distance import draw_to_box, hull_points, points_box
from mveq_core.localize import box_iou
from mveq_core.pose_result import PoseResult

SCALES = np.linspace(0.8, 1.25, 91)


def fit_distance(X, K, T, box, shape) -> tuple[float, np.ndarray]:
    """(IoU, pose) at the scale of ``T``'s translation whose projected box best overlaps ``box``."""
    ious = []
    for s in SCALES:
        Ts = T.copy()
        Ts[:3, 3] *= s
        ious.append(box_iou(points_box(X, K, Ts, shape), box))
    best = T.copy()
    best[:3, 3] *= SCALES[int(np.argmax(ious))]
    return float(max(ious)), best


def fit_translation(X, K, T, box, shape, rounds: int = 3) -> tuple[float, np.ndarray]:
    """(IoU, pose): the distance fit alternated with a shift across the image that centres the boxes."""
    for _ in range(rounds):
        _, T = fit_distance(X, K, T, box, shape)
        b = points_box(X, K, T, shape)
        T = T.copy()
        T[0, 3] += (box[0] + box[2] - b[0] - b[2]) / 2 * T[2, 3] / K[0, 0]
        T[1, 3] += (box[1] + box[3] - b[1] - b[3]) / 2 * T[2, 3] / K[1, 1]
    return box_iou(points_box(X, K, T, shape), box), T


def drawn_by_iou(X, K, T, box, shape, weight: float, gate: float, max_change: float) -> np.ndarray:
    """Session 24's first draw (its first device rows): ``weight`` of the way to
    :func:`fit_translation`'s translation when its IoU reaches ``gate`` and its distance is within
    ``max_change``; the library's :func:`~mveq_core.box_distance.draw_to_box` replaced it with a fit
    that allows for an occluded side."""
    iou, fitted = fit_translation(X, K, T, box, shape)
    if iou < gate or abs(fitted[2, 3] / T[2, 3] - 1.0) > max_change:
        return T
    moved = T.copy()
    moved[:3, 3] = (1.0 - weight) * T[:3, 3] + weight * fitted[:3, 3]
    return moved


def before_draw(row: dict) -> np.ndarray:
    """The row's pose before ``box_distance`` drew it toward the box (its ``box_fit`` records the
    translation before; rows without one are as estimated)."""
    T = np.asarray(row["T_est"], np.float64).copy()
    if row.get("box_fit"):
        T[:3, 3] = row["box_fit"]["translation_m"]
    return T


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="bench JSON files (bench real, box-only rows)")
    ap.add_argument("--poses", nargs="*", default=[], help="refine_replay.py --start chosen outputs: take each instance's pose from these (the turned pose) instead of the row's T_est")
    ap.add_argument("--data", help="the ../shared/realdata root (rows of mveq bench real)")
    ap.add_argument("--bop", nargs="*", default=[], help="BOP roots whose folder name is their rows' set (rows of mveq bench bop)")
    ap.add_argument("--gate", type=float, default=0.9, help="keep a fit only at this IoU or more")
    ap.add_argument("--sigma", type=float, nargs="+", default=[0.0], help="box side noise, a share of the box's width / height")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--truncate", type=float, nargs="*", default=[], help="also: each box loses this share of its width or height on one side, as an occluder's visible box does (each side in turn)")
    ap.add_argument("--weight", type=float, default=0.5, help="the drawn row: move the translation this share of the way to the fitted one (PoseConfig.box_distance)")
    ap.add_argument("--max-change", type=float, default=0.1, help="the drawn row: only when the fitted distance is within this share of the estimate's")
    args = ap.parse_args(argv)
    rows = [r for path in args.results for r in json.load(open(path))["rows"] if r["success"]]
    poses = {(p["frame"], p["object"]): np.asarray(p["T"]) for path in args.poses for p in json.load(open(path))["starts"]}
    bop = [load_bop(root) for root in args.bop]
    rest = sorted({r["set"] for r in rows} - {b.name for b in bop})
    sets = bop + (load_realdata(args.data, rest) if rest else [])
    objects = {(s.name, n): o for s in sets for n, o in s.objects.items()}
    frames = {f.key: f for s in sets for f in s.frames}
    hulls: dict = {}
    seconds: list[float] = []  # the default draw's, every pose and box
    drawn_rows = sum(bool(r.get("box_fit")) for r in rows)
    print(f"{len(rows)} instances; poses from {'the replays' if poses else 'the rows'}"
          f"{f' ({drawn_rows} drawn by box_distance: as estimated = the translation before)' if drawn_rows else ''}; gate IoU {args.gate}")
    for sigma, cut in [(s, 0.0) for s in args.sigma] + [(0.0, t) for t in args.truncate]:
        drawn = f"drawn {args.weight:g} of the way"
        totals = {k: np.zeros(3) for k in ("as estimated", "distance fitted to the box", "distance and shift fitted", drawn + " (IoU fit)", drawn + " (default)")}
        seeds = 4 if cut else 1 if sigma == 0 else args.seeds
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for row in rows:
                obj, frame = objects[(row["set"], row["object"])], frames[row["frame"]]
                X = hulls.setdefault((row["set"], row["object"]), hull_points(obj.mesh()))  # the same projected boxes as every vertex
                shape = frame.rgb.shape[:2]
                b = np.asarray(row["gt_box"], float)
                wh = np.r_[b[2] - b[0], b[3] - b[1]]
                box = b + rng.normal(0.0, sigma, 4) * np.r_[wh, wh]
                if cut:  # side `seed` (x0, y0, x1, y1) moves inward by `cut` of the box's width or height
                    box[seed] += (1 if seed < 2 else -1) * cut * wh[seed % 2]
                box = list(box)
                T = poses.get((row["frame"], row["object"]), before_draw(row))
                i1, T1 = fit_distance(X, frame.K, T, box, shape)
                i2, T2 = fit_translation(X, frame.K, T, box, shape)
                T3 = drawn_by_iou(X, frame.K, T, box, shape, args.weight, args.gate, args.max_change)
                started = time.perf_counter()
                T4, _ = draw_to_box(X, frame.K, T, box, shape, args.weight, args.max_change)
                seconds.append(time.perf_counter() - started)
                for k, pose in zip(totals, (T, T1 if i1 >= args.gate else T, T2 if i2 >= args.gate else T, T3, T4)):
                    e = evaluate_instance(PoseResult(row["object"], True, pose, 0, 0, 0.0, 0.0, 0.0, {}), obj, np.asarray(row["T_gt"]))
                    totals[k] += [e["add_or_adds_ok"], e["cm5_deg5"], e["cm10_deg10"]]
        for k, (add, deg5, deg10) in totals.items():
            what = f"box cut by {cut:4.2f} (each side)" if cut else f"box noise {sigma:4.2f} ({seeds} seed{'s' if seeds > 1 else ''})"
            print(f"  {what}: {k:28s} ADD(-S) {add / seeds:5.1f}   5 cm 5° {deg5 / seeds:5.1f}   10 cm 10° {deg10 / seeds:5.1f} of {len(rows)}")
    print(f"the default draw: median {np.median(seconds) * 1e3:.1f} ms, at most {max(seconds) * 1e3:.1f} ms a pose ({len(seconds)} draws, this CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
