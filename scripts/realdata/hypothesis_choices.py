"""Other ways to choose among refined pose hypotheses, re-scored from a bench run's JSON (issue 9).

Every row of `mveq bench real|bop --hypotheses N` records each refined hypothesis (pose, inliers
against its render, silhouette IoU with the query mask); this script picks one per row by several
rules and scores the picks against the ground truth as the bench does (ADD(-S) < 0.1 d, 5 cm 5°),
plus the best any rule could do (the oracle). No pose is re-estimated.

``--grabcut`` adds rules that need no ground-truth mask: each hypothesis's mesh silhouette against
a mask that OpenCV's GrabCut cuts from the ground-truth box (a box-only user's stand-in for a
segmenter), alone and times the inliers, and the GrabCut masks' IoU with the ground-truth masks.
``--box`` adds rules that need the box alone: the IoU of the box around each hypothesis's mesh
silhouette (clipped to the image) with the box the row was cropped from, alone and times the
inliers (session 13). ``--edges`` adds rules from the photo's edges along each hypothesis's
silhouette contour (session 19): the share of contour pixels within 2.5 px of a Canny edge, the
mean truncated distance to the nearest edge (chamfer), the mean agreement of the contour's normal
with the photo's gradient direction, and the first and last times the silhouette's box.

    .venv/bin/python scripts/realdata/hypothesis_choices.py docs/results/real/session9/s9_bop_hyp10_silhouette.json --data ../shared/realdata
    .venv/bin/python scripts/realdata/hypothesis_choices.py docs/results/real/session9/s9_cat_hyp10_silhouette.json --bop LM_CAT_BOP
    .venv/bin/python scripts/realdata/hypothesis_choices.py docs/results/real/session9/s9_ycbv_hyp10_silhouette.json --data ../shared/realdata --meshes YCB_MESHES
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import fill_visible_boxes
from mveq_core.crop import grabcut_mask
from mveq_core.hypotheses import silhouette_iou
from mveq_core.localize import box_iou
from mveq_core.pose_result import PoseResult

RULES = {
    "silhouette": lambda h: h["silhouette_iou"] or 0.0,
    "inliers": lambda h: h["num_inliers"],
    "inliers x silhouette": lambda h: h["num_inliers"] * (h["silhouette_iou"] or 0.0),
    "first (one hypothesis)": None,
}
GRABCUT_RULES = ("silhouette vs GrabCut", "inliers x silhouette vs GrabCut")
BOX_RULES = ("silhouette's box vs the box", "inliers x silhouette's box vs the box")
EDGE_RULES = ("contour on edges", "contour chamfer", "contour along gradients", "silhouette's box x contour on edges", "silhouette's box x contour along gradients")


def edge_maps(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distance to the nearest Canny edge, x and y gradients) of ``rgb``, once per frame."""
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(gray, (5, 5), 0), 50, 150)
    dist = cv2.distanceTransform((edges == 0).astype(np.uint8), cv2.DIST_L2, 3)
    gx, gy = (cv2.Sobel(gray.astype(np.float32), cv2.CV_32F, dx, dy, ksize=3) for dx, dy in ((1, 0), (0, 1)))
    return dist, gx, gy


def contour_edge_scores(maps, silhouette: np.ndarray, side: float) -> tuple[float, float, float]:
    """(share of the silhouette's contour within 2.5 px of a Canny edge, minus the mean distance to
    the nearest edge truncated at ``side`` / 40 px, mean |cos| between the contour's normal and the
    photo's gradient where the gradient is clear) for one hypothesis; ``maps``: :func:`edge_maps`."""
    import cv2

    dist, gx_map, gy_map = maps
    h, w = dist.shape
    contours, _ = cv2.findContours(silhouette.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    pts = np.concatenate([c[:, 0] for c in contours]) if contours else np.zeros((0, 2), int)
    pts = pts[(pts[:, 0] > 1) & (pts[:, 0] < w - 2) & (pts[:, 1] > 1) & (pts[:, 1] < h - 2)]
    truncate = max(2.0, side / 40)
    if len(pts) < 10:
        return 0.0, -truncate, 0.0
    d = np.minimum(dist[pts[:, 1], pts[:, 0]], truncate)
    blurred = cv2.GaussianBlur(silhouette.astype(np.float32), (7, 7), 0)
    nx, ny = (cv2.Sobel(blurred, cv2.CV_32F, dx, dy)[pts[:, 1], pts[:, 0]] for dx, dy in ((1, 0), (0, 1)))
    gx, gy = gx_map[pts[:, 1], pts[:, 0]], gy_map[pts[:, 1], pts[:, 0]]
    g = np.hypot(gx, gy)
    along = np.abs(nx * gx + ny * gy) / (np.hypot(nx, ny) + 1e-6) / (g + 1e-6) * (g > 20)
    return float((d < 2.5).mean()), float(-d.mean()), float(along.mean())



def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("result", help="a bench JSON whose rows hold hypotheses")
    ap.add_argument("--data", help="the ../shared/realdata root (bench real)")
    ap.add_argument("--bop", help="the BOP root (bench bop)")
    ap.add_argument("--meshes", help="the bench's --meshes folder, when it had one")
    ap.add_argument("--grabcut", action="store_true", help="also choose by the silhouette against GrabCut masks cut from the GT boxes")
    ap.add_argument("--box", action="store_true", help="also choose by the box around the silhouette against the row's box")
    ap.add_argument("--edges", action="store_true", help="also choose by the photo's edges along the silhouette's contour (and times the silhouette's box)")
    args = ap.parse_args(argv)
    result = json.load(open(args.result))
    if args.bop:
        from mveq_core.benchmarks.bop import load_bop

        sets = [load_bop(args.bop)]
    else:
        from mveq_core.benchmarks.realdata import load_realdata, use_meshes

        sets = load_realdata(args.data, sorted({r["set"] for r in result["rows"]}))
        if args.meshes:
            use_meshes(sets, args.meshes)
    objects = {(s.name, n): o for s in sets for n, o in s.objects.items()}
    frames = {f.key: (s, f) for s in sets for f in s.frames}
    rules = [*RULES, *(GRABCUT_RULES if args.grabcut else ()), *(BOX_RULES if args.box else ()), *(EDGE_RULES if args.edges else ())]
    counts = {k: np.zeros(2) for k in [*rules, "oracle"]}
    grabcut_ious = []
    for row in result["rows"]:
        hypotheses = row.get("hypotheses") or []
        found = [h for h in hypotheses if h["success"]]
        if not found:  # one hypothesis or none found: every rule keeps the row's own outcome
            for k in counts:
                counts[k] += [row["add_or_adds_ok"], row["cm5_deg5"]]
            continue
        obj, T_gt = objects[(row["set"], row["object"])], np.asarray(row["T_gt"])
        scores = [evaluate_instance(PoseResult(row["object"], True, np.asarray(h["T_cam_obj"]), 0, 0, 0.0, 0.0, 0.0, {}), obj, T_gt) for h in found]
        for k, rule in RULES.items():
            if rule is None:
                pick = scores[0] if hypotheses[0]["success"] else None
            else:
                pick = scores[int(np.argmax([rule(h) for h in found]))]
            counts[k] += [0, 0] if pick is None else [pick["add_or_adds_ok"], pick["cm5_deg5"]]
        if args.grabcut:
            real, frame = frames[row["frame"]]
            fill_visible_boxes(frame, real.objects, masks=True)
            ann = next(a for a in frame.annotations if a.object == row["object"])
            cut = grabcut_mask(frame.rgb, ann.box)
            grabcut_ious.append(float((cut & ann.mask).sum() / max(1, (cut | ann.mask).sum())))
            ious = np.array([silhouette_iou(obj.mesh(), frame.K, np.asarray(h["T_cam_obj"]), cut) for h in found])
            for k, values in zip(GRABCUT_RULES, (ious, ious * [h["num_inliers"] for h in found])):
                pick = scores[int(np.argmax(values))]
                counts[k] += [pick["add_or_adds_ok"], pick["cm5_deg5"]]
        if args.box or args.edges:  # each hypothesis's silhouette, rendered once for both
            from mveq_core.crop import mask_box
            from mveq_core.render import render_view

            real, frame = frames[row["frame"]]
            box = row["gt_box"]
            silhouettes = [render_view(obj.mesh(), frame.K, np.asarray(h["T_cam_obj"]), frame.rgb.shape[:2], None, False).mask for h in found]
            boxes = np.array([box_iou(mask_box(m), box) if m.any() else 0.0 for m in silhouettes])
            values = {}
            if args.box:
                values.update(zip(BOX_RULES, (boxes, boxes * [h["num_inliers"] for h in found])))
            if args.edges:
                maps, side = edge_maps(frame.rgb), max(box[2] - box[0], box[3] - box[1])
                on, chamfer, along = np.array([contour_edge_scores(maps, m, side) for m in silhouettes]).T
                values.update(zip(EDGE_RULES, (on, chamfer, along, boxes * on, boxes * along)))
            for k, v in values.items():
                pick = scores[int(np.argmax(v))]
                counts[k] += [pick["add_or_adds_ok"], pick["cm5_deg5"]]
        counts["oracle"] += [any(s["add_or_adds_ok"] for s in scores), any(s["cm5_deg5"] for s in scores)]
    n = len(result["rows"])
    print(f"{args.result}: {n} instances")
    for k, (add, deg) in counts.items():
        print(f"  {k:32s} ADD(-S) {100 * add / n:5.1f} %   5 cm 5° {100 * deg / n:5.1f} %")
    if grabcut_ious:
        print(f"  GrabCut masks vs GT masks: median IoU {np.median(grabcut_ious):.2f} over {len(grabcut_ious)} instances with several hypotheses")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
