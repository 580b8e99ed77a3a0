"""Issue 9, session 23: pool the refined hypotheses of several recorded box-only bench rows of the
same frames (e.g. the box alone and a GrabCut mask) and choose among the pool by rules that need
no ground truth: the IoU of the box around each hypothesis's mesh silhouette with the row's box
(``box``), the silhouette's IoU with a GrabCut mask cut from that box (``cut``), their product, and
the silhouette's IoU with the GT visible mask (``gt mask``, a bound, not a rule a user has); plus
the oracle (any pooled hypothesis right). Scores as the bench does (ADD(-S) < 0.1 d, 5 cm 5°).
What motivated ``--box-mask box-and-grabcut``: session 17's rows of the box alone and of GrabCut
masks hold right hypotheses on different frames.

    .venv/bin/python scripts/realdata/pooled_hypotheses.py --data ../shared/realdata \\
        --rows docs/results/real/session17/{lm,hb,handal}_default.json \\
        --rows docs/results/real/session17/{lm,hb,handal}_grabcut_votes.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from box_mask_features_iou import iou  # noqa: E402
from turn_trajectory import row_instances  # noqa: E402

from mveq_core.benchmarks.real_pose import evaluate_instance  # noqa: E402
from mveq_core.benchmarks.realdata import fill_visible_boxes  # noqa: E402
from mveq_core.crop import grabcut_mask, mask_box  # noqa: E402
from mveq_core.io import read_json  # noqa: E402
from mveq_core.localize import box_iou  # noqa: E402
from mveq_core.pose_result import PoseResult  # noqa: E402
from mveq_core.render import render_view  # noqa: E402

RULES = {"box": lambda h: h["box"], "cut": lambda h: h["cut"], "box x cut": lambda h: h["box"] * h["cut"], "gt mask (bound)": lambda h: h["gt"]}


def pooled(groups: list[list[str]], data: str) -> dict[tuple[str, str], list[dict]]:
    """{(frame, object): every successful hypothesis of every group, scored}; ``groups``: one list of
    result files (sets) per kind of row, e.g. [[lm_default, hb_default], [lm_grabcut, hb_grabcut]]."""
    pool: dict[tuple[str, str], list[dict]] = {}
    for g, files in enumerate(groups):
        for path in files:
            for row, frame, obj, T_gt, _ in row_instances(read_json(path), data, keep=lambda row: True):
                key = (row["frame"], row["object"])
                if key not in pool:
                    pool[key] = []
                real_objects = {row["object"]: obj}
                fill_visible_boxes(frame, real_objects, masks=True)
                ann = next(a for a in frame.annotations if a.object == row["object"])
                cut = grabcut_mask(frame.rgb, row["gt_box"])
                for h in row.get("hypotheses") or []:
                    if not h["success"]:
                        continue
                    T = np.asarray(h["T_cam_obj"])
                    score = evaluate_instance(PoseResult(row["object"], True, T, 0, 0, 0.0, 0.0, 0.0, {}), obj, T_gt)
                    silhouette = render_view(obj.mesh(), frame.K, T, frame.rgb.shape[:2], None, False).mask
                    pool[key].append({"group": g, "ok": bool(score["add_or_adds_ok"]), "deg": bool(score["cm5_deg5"]),
                                      "box": box_iou(mask_box(silhouette), row["gt_box"]) if silhouette.any() else 0.0,
                                      "cut": iou(silhouette, cut), "gt": iou(silhouette, ann.mask)})
    return pool


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the ../shared/realdata root the rows ran on")
    ap.add_argument("--rows", nargs="+", action="append", required=True, help="one kind of row: its result files (one per set); repeat for each kind")
    args = ap.parse_args(argv)
    pool = pooled(args.rows, args.data)
    names = [", ".join(Path(f).stem for f in files) for files in args.rows]
    subsets = [[g] for g in range(len(names))] + ([list(range(len(names)))] if len(names) > 1 else [])
    print(f"{len(pool)} instances; kinds of row: " + " | ".join(f"{g}: {n}" for g, n in enumerate(names)))
    for subset in subsets:
        counts = {k: np.zeros(2, int) for k in [*RULES, "oracle"]}
        for hs in pool.values():
            hs = [h for h in hs if h["group"] in subset]
            if not hs:
                continue
            for k, rule in RULES.items():
                pick = max(hs, key=rule)
                counts[k] += [pick["ok"], pick["deg"]]
            counts["oracle"] += [any(h["ok"] for h in hs), any(h["deg"] for h in hs)]
        cells = "  ".join(f"{k}: {a}/{d}" for k, (a, d) in counts.items())
        print(f"rows {'+'.join(map(str, subset))}: ADD(-S) / 5 cm 5° of {len(pool)} -> {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
