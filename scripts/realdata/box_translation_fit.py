"""The translation fitted to the query's box, after the rotation is found (issue 9; session 19: the fit alone, not kept; session 24: drawn half way, the default ``box_distance``).

With a box and no mask, the chosen pose's distance comes from PnP on matches. Given its rotation,
the box alone fixes the translation: the distance along the pose's ray whose mesh silhouette's box
(the box of the projected vertices, clipped to the image) best overlaps the query box (IoU over
scales 0.80-1.25 of the translation), optionally followed by a shift across the image that centres
the two boxes (three alternations), kept only when the fitted IoU reaches ``--gate``. This script
applies the fit to recorded poses and scores them against the ground truth (ADD(-S) < 0.1 d,
5 cm 5°, 10 cm 10°), with the rows' boxes as recorded and with every box side moved by Gaussian
noise of ``--sigma`` of the box's width or height (several seeds): a detector's box is not the
ground truth's. The ``drawn`` row moves the translation ``--weight`` of the way to the fitted one
when the fit reaches ``--gate`` and its distance is within ``--max-change`` of the estimate's
(:func:`mveq_core.box_distance.draw_to_box`, what ``PoseConfig.box_distance`` does). ``--bop``
names BOP roots (``mveq bench bop`` rows, e.g. the LINEMOD cat copies) whose rows are read there.
Rows that ``box_distance`` already drew (session 24 on) are taken as they were before the draw.

    .venv/bin/python scripts/realdata/box_translation_fit.py docs/results/real/session18/{handal,lm,hb}_default.json \\
        --poses docs/results/real/session18/replay_{handal,lm,hb}_default.json --data ../shared/realdata --sigma 0 0.01 0.02 0.04
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mveq_core.benchmarks.bop import load_bop
from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import load_realdata
from mveq_core.box_distance import draw_to_box, fit_distance, fit_translation
from mveq_core.pose_result import PoseResult


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
    drawn_rows = sum(bool(r.get("box_fit")) for r in rows)
    print(f"{len(rows)} instances; poses from {'the replays' if poses else 'the rows'}"
          f"{f' ({drawn_rows} drawn by box_distance: as estimated = the translation before)' if drawn_rows else ''}; gate IoU {args.gate}")
    for sigma in args.sigma:
        drawn = f"drawn {args.weight:g} of the way"
        totals = {k: np.zeros(3) for k in ("as estimated", "distance fitted to the box", "distance and shift fitted", drawn)}
        seeds = 1 if sigma == 0 else args.seeds
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for row in rows:
                obj, frame = objects[(row["set"], row["object"])], frames[row["frame"]]
                X = np.asarray(obj.mesh().vertices)
                shape = frame.rgb.shape[:2]
                b = np.asarray(row["gt_box"], float)
                wh = np.r_[b[2] - b[0], b[3] - b[1]]
                box = list(b + rng.normal(0.0, sigma, 4) * np.r_[wh, wh])
                T = poses.get((row["frame"], row["object"]), before_draw(row))
                i1, T1 = fit_distance(X, frame.K, T, box, shape)
                i2, T2 = fit_translation(X, frame.K, T, box, shape)
                T3, _ = draw_to_box(X, frame.K, T, box, shape, args.weight, args.gate, args.max_change)
                for k, pose in zip(totals, (T, T1 if i1 >= args.gate else T, T2 if i2 >= args.gate else T, T3)):
                    e = evaluate_instance(PoseResult(row["object"], True, pose, 0, 0, 0.0, 0.0, 0.0, {}), obj, np.asarray(row["T_gt"]))
                    totals[k] += [e["add_or_adds_ok"], e["cm5_deg5"], e["cm10_deg10"]]
        for k, (add, deg5, deg10) in totals.items():
            print(f"  box noise {sigma:4.2f} ({seeds} seed{'s' if seeds > 1 else ''}): {k:28s} ADD(-S) {add / seeds:5.1f}   5 cm 5° {deg5 / seeds:5.1f}   10 cm 10° {deg10 / seeds:5.1f} of {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
