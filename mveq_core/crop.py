"""Object crops at the estimator's scale: one geometry for query images and reference frames.

A crop is the object's box enlarged by ``margin`` of its size on each side (clipped to the image),
scaled so its longer side is ``input_size`` pixels. Pixel centres sit at integers on both sides:
original ``x = (x' + 0.5) * sx - 0.5 + x0`` for crop pixel ``x'``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def enlarged_box(shape: tuple[int, int], box: Sequence[float] | None, margin: float) -> tuple[int, int, int, int]:
    """Integer [x0, y0, x1, y1] of ``box`` grown by ``margin`` x its size per side, clipped to
    ``shape`` (H, W); the whole image without a box. Raises ValueError for an inverted box."""
    h, w = shape
    if box is None:
        return 0, 0, w, h
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"box: expected [x0, y0, x1, y1] with x1 > x0 and y1 > y0, got {list(box)}")
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    x0, y0 = max(0, int(math.floor(x0 - mx))), max(0, int(math.floor(y0 - my)))
    x1, y1 = min(w, int(math.ceil(x1 + mx))), min(h, int(math.ceil(y1 + my)))
    return x0, y0, x1, y1


def in_box(xy: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """(N,) bool: which pixels ``xy`` (N, 2) lie in ``box`` [x0, y0, x1, y1] (edges included)."""
    return (xy[:, 0] >= box[0]) & (xy[:, 0] <= box[2]) & (xy[:, 1] >= box[1]) & (xy[:, 1] <= box[3])


def grabcut_mask(rgb: np.ndarray, box: Sequence[float], margin: float = 0.15, iterations: int = 5, probable: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool foreground that OpenCV's GrabCut cuts from ``box`` [x0, y0, x1, y1] of an RGB
    image (run on the box grown by ``margin`` a side; outside the box is background). GrabCut
    starts from the box's rectangle, or with ``probable`` ((H, W) bool) from those pixels as
    probable foreground and the rest of the box as probable background (empty when ``probable``
    marks none of the region)."""
    import cv2

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx0, cy0 = int(max(0, x0 - margin * bw)), int(max(0, y0 - margin * bh))
    cx1, cy1 = int(min(w, x1 + margin * bw + 1)), int(min(h, y1 + margin * bh + 1))
    out = np.zeros((h, w), bool)
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        return out
    crop = np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1, ::-1])
    if probable is None:
        labels = np.zeros(crop.shape[:2], np.uint8)
        rect = (int(max(0, x0 - cx0)), int(max(0, y0 - cy0)), max(1, int(bw)), max(1, int(bh)))
        start = (rect, cv2.GC_INIT_WITH_RECT)
    else:
        inbox = np.zeros((h, w), bool)
        inbox[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
        labels = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
        labels[inbox[cy0:cy1, cx0:cx1]] = cv2.GC_PR_BGD
        labels[(probable & inbox)[cy0:cy1, cx0:cx1]] = cv2.GC_PR_FGD
        start = (None, cv2.GC_INIT_WITH_MASK)
    if probable is None or 0 < (labels == cv2.GC_PR_FGD).sum() < labels.size:
        cv2.setRNGSeed(0)  # GrabCut's k-means start draws from OpenCV's global generator: the same cut whatever ran before
        cv2.grabCut(crop, labels, start[0], np.zeros((1, 65)), np.zeros((1, 65)), iterations, start[1])
    out[cy0:cy1, cx0:cx1] = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    return out


def mask_box(mask: np.ndarray) -> list[float] | None:
    """[x0, y0, x1, y1] around a (H, W) mask's pixels (exclusive max), or None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def crop_sizes(input_size: int) -> list[tuple[int, int]]:
    """Every (H, W) a :meth:`Crop.around` crop at ``input_size`` can take: its longer side is
    ``input_size``, its shorter side anything up to that."""
    return [(input_size, s) for s in range(1, input_size + 1)] + [(s, input_size) for s in range(1, input_size)]


@dataclass(frozen=True)
class Crop:
    """Integer crop ``x0, y0, x1, y1`` of the original image resized to ``size`` (W, H)."""

    x0: int
    y0: int
    x1: int
    y1: int
    size: tuple[int, int]

    @classmethod
    def around(cls, shape: tuple[int, int], box: Sequence[float] | None, margin: float, input_size: int | None, quantum: int = 0) -> "Crop":
        """The enlarged ``box`` scaled so its longer side is ``input_size``. With ``quantum`` > 0
        the shorter side grows (more of the image around the box, centred, kept inside the image)
        until its resized length is a multiple of ``quantum`` pixels, so crops come in few sizes."""
        x0, y0, x1, y1 = enlarged_box(shape, box, margin)
        cw, ch = x1 - x0, y1 - y0
        scale = 1.0 if input_size is None or max(cw, ch) == 0 else input_size / max(cw, ch)
        size = [max(1, round(cw * scale)), max(1, round(ch * scale))]
        if quantum > 0 and input_size is not None and min(cw, ch) > 0:
            axis = 0 if cw < ch else 1  # the shorter side (x: 0, y: 1)
            target = min(max(size), -(-size[axis] // quantum) * quantum)
            lo, hi = (x0, x1) if axis == 0 else (y0, y1)
            limit = shape[1] if axis == 0 else shape[0]
            want = round(target / scale)
            if want <= limit and target != size[axis]:
                lo = min(max(0, (lo + hi - want) // 2), limit - want)
                hi = lo + want
                size[axis] = target
                x0, x1, y0, y1 = (lo, hi, y0, y1) if axis == 0 else (x0, x1, lo, hi)
        return cls(x0, y0, x1, y1, (size[0], size[1]))

    @property
    def empty(self) -> bool:
        return self.x1 - self.x0 < 2 or self.y1 - self.y0 < 2

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Original pixels per crop pixel (sx, sy)."""
        return (self.x1 - self.x0) / self.size[0], (self.y1 - self.y0) / self.size[1]

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Crop pixels (N, 2) -> original pixels."""
        sx, sy = self.scale_xy
        return np.stack([(xy[:, 0] + 0.5) * sx - 0.5 + self.x0, (xy[:, 1] + 0.5) * sy - 0.5 + self.y0], 1)

    def query_grid(self, stride: int, box: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The crop's pixels every ``stride`` pixels, row by row: (crop pixels (N, 2), original
        pixels (N, 2)) float64; with ``box``, only those whose original pixel lies in it (edges
        included, as :func:`in_box`). The box test runs on the grid's columns and rows alone."""
        sx, sy = self.scale_xy
        xs = np.arange(0, self.size[0], stride, dtype=np.float64)
        ys = np.arange(0, self.size[1], stride, dtype=np.float64)
        ox, oy = (xs + 0.5) * sx - 0.5 + self.x0, (ys + 0.5) * sy - 0.5 + self.y0
        if box is not None:
            kx, ky = (ox >= box[0]) & (ox <= box[2]), (oy >= box[1]) & (oy <= box[3])
            xs, ox, ys, oy = xs[kx], ox[kx], ys[ky], oy[ky]
        cols, rows = len(xs), len(ys)
        crop_xy = np.stack([np.tile(xs, rows), np.repeat(ys, cols)], 1)
        original_xy = np.stack([np.tile(ox, rows), np.repeat(oy, cols)], 1)
        return crop_xy, original_xy

    def to_crop(self, xy):
        """Original pixels (N, 2) -> crop pixels; a numpy array, or a torch tensor kept on its
        device and dtype (differentiable; Python scalars only, so no copy from the host on a GPU and
        safe inside a captured CUDA graph)."""
        sx, sy = self.scale_xy
        columns = [(xy[:, 0] - self.x0 + 0.5) / sx - 0.5, (xy[:, 1] - self.y0 + 0.5) / sy - 0.5]
        if isinstance(xy, np.ndarray):
            return np.stack(columns, 1)
        import torch

        return torch.stack(columns, 1)

    def intrinsics(self, K: np.ndarray) -> np.ndarray:
        """K of the crop: a camera that sees crop pixel x' where ``K`` sees ``to_original(x')``."""
        sx, sy = self.scale_xy
        out = np.array(K, dtype=np.float64, copy=True)
        out[0, 0], out[0, 1], out[1, 1] = K[0, 0] / sx, K[0, 1] / sx, K[1, 1] / sy
        out[0, 2] = (K[0, 2] - self.x0 + 0.5) / sx - 0.5
        out[1, 2] = (K[1, 2] - self.y0 + 0.5) / sy - 0.5
        return out

    def pixel_grid(self, shape: tuple[int, int], stride: int) -> np.ndarray:
        """(H, W) bool: the original pixels nearest to the crop's stride-``stride`` grid."""
        xy = np.stack(np.meshgrid(np.arange(0, self.size[0], stride), np.arange(0, self.size[1], stride)), -1).reshape(-1, 2)
        px = np.round(self.to_original(xy.astype(np.float64))).astype(int)
        h, w = shape
        px = px[(px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)]
        grid = np.zeros((h, w), bool)
        grid[px[:, 1], px[:, 0]] = True
        return grid

    def apply(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """The crop of ``image`` (H, W[, C]) at ``size``: area/linear for colours, nearest for depth
        and masks (``nearest``; bool arrays are handled)."""
        import cv2

        part = np.ascontiguousarray(image[self.y0 : self.y1, self.x0 : self.x1])
        if (part.shape[1], part.shape[0]) == self.size:
            return part
        if nearest or part.dtype == bool:
            # centre-aligned nearest neighbour (cv2's INTER_NEAREST rounds down, a half-pixel shift)
            sx, sy = self.scale_xy
            cols = np.clip(np.floor((np.arange(self.size[0]) + 0.5) * sx).astype(int), 0, part.shape[1] - 1)
            rows = np.clip(np.floor((np.arange(self.size[1]) + 0.5) * sy).astype(int), 0, part.shape[0] - 1)
            return np.ascontiguousarray(part[rows[:, None], cols[None, :]])
        interp = cv2.INTER_AREA if self.size[0] < part.shape[1] else cv2.INTER_LINEAR
        return cv2.resize(part, self.size, interpolation=interp)
