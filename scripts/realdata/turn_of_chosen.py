"""The chosen hypothesis's turn stage, read from two bench runs of the same frames (session 18).

A run with ``--refine-method matches`` records every hypothesis's matched pose; a run of commit
136eae3's ``matches-featuremetric`` (then: featuremetric turn-and-shift rounds on *every*
hypothesis) records each hypothesis's turned pose. Their coarse starts are the same (checked), so
the pose today's ``matches-featuremetric`` returns (the turn stage on the hypothesis the box or
silhouette rule chooses among the matched poses) is the second run's pose of the first run's
choice. Prints ADD(-S) < 0.1 d and 5 cm 5° before and after, per set and overall.

    .venv/bin/python scripts/realdata/turn_of_chosen.py --data ../shared/realdata \
        --pairs docs/results/real/session18/{handal,lm,hb}_default.json:docs/results/real/session18/{handal,lm,hb}_mf.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import load_realdata
from mveq_core.hypotheses import choose
from mveq_core.pose_result import PoseResult


def _evaluate(T, obj, T_gt) -> dict:
    return evaluate_instance(PoseResult("object", True, np.asarray(T), 0, 0, 0.0, 0.0, 0.0, {}), obj, T_gt)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="the ../shared/realdata root")
    ap.add_argument("--pairs", nargs="+", required=True, help="MATCHES.json:TURNED.json, one pair a set")
    ap.add_argument("--score", default="silhouette", help="the hypothesis_score the runs used")
    args = ap.parse_args(argv)
    total = np.zeros(5, int)
    for pair in args.pairs:
        before_path, after_path = pair.split(":")
        before, after = json.load(open(before_path)), json.load(open(after_path))
        objects = {}
        counts = np.zeros(5, int)  # instances, ADD(-S) before, after, 5 cm 5° before, after
        for rb, ra in zip(before["rows"], after["rows"], strict=True):
            if (rb["frame"], rb["object"]) != (ra["frame"], ra["object"]):
                raise SystemExit(f"{pair}: rows differ ({rb['frame']} {rb['object']} vs {ra['frame']} {ra['object']})")
            counts[0] += 1
            hb, ha = rb.get("hypotheses") or [], ra.get("hypotheses") or []
            if not rb["success"] or not hb:
                continue
            if len(hb) != len(ha) or any(x["T_start"] is not None and not np.allclose(x["T_start"], y["T_start"], atol=1e-6) for x, y in zip(hb, ha)):
                raise SystemExit(f"{pair}: {rb['frame']} {rb['object']}: the runs' hypotheses start from different coarse poses")
            if rb["set"] not in objects:
                objects[rb["set"]] = load_realdata(args.data, [rb["set"]])[0].objects
            obj, T_gt = objects[rb["set"]][rb["object"]], np.asarray(rb["T_gt"])
            usable = [i for i, h in enumerate(hb) if h["success"]]
            i = usable[choose([hb[j] for j in usable], args.score)]
            e0 = _evaluate(hb[i]["T_cam_obj"], obj, T_gt)
            e1 = _evaluate(ha[i]["T_cam_obj"], obj, T_gt) if ha[i]["success"] else {"add_or_adds_ok": False, "cm5_deg5": False}
            counts[1:] += [e0["add_or_adds_ok"], e1["add_or_adds_ok"], e0["cm5_deg5"], e1["cm5_deg5"]]
        total += counts
        print(f"{before_path}: {counts[0]} instances, ADD(-S) {counts[1]} -> {counts[2]}, 5 cm 5° {counts[3]} -> {counts[4]}")
    n = max(total[0], 1)
    print(f"overall: {total[0]} instances, ADD(-S) {100 * total[1] / n:.1f} % -> {100 * total[2] / n:.1f} %, 5 cm 5° {100 * total[3] / n:.1f} % -> {100 * total[4] / n:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
