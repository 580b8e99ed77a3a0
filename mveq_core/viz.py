"""Pictures: PCA feature images, pose overlays, match lines, track strips and benchmark plots."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from .io import write_image_atomic


def pca_feature_images(grids: Sequence[torch.Tensor], masks: Sequence[np.ndarray] | None = None, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Colour feature grids by a PCA to 3 components fitted jointly over all of them.

    Args:
        grids: (1, C, h, w) or (C, h, w) feature grids; one shared projection keeps colours comparable.
        masks: optional (H, W) bool object masks; background pixels are drawn black.
        size: (H, W) output size (default: each grid's own).

    Returns:
        (H, W, 3) uint8 images.
    """
    import cv2

    flat = [g.reshape(g.shape[-3], -1).T.float().cpu() for g in grids]
    flat = [torch.nn.functional.normalize(f, dim=1) for f in flat]
    stacked = torch.cat(flat)
    mean = stacked.mean(0, keepdim=True)
    _, _, V = torch.pca_lowrank(stacked - mean, q=3, center=False)
    projected = [(f - mean) @ V[:, :3] for f in flat]
    allp = torch.cat(projected)
    lo, hi = torch.quantile(allp, 0.01, dim=0), torch.quantile(allp, 0.99, dim=0)
    images = []
    for k, (g, p) in enumerate(zip(grids, projected)):
        h, w = g.shape[-2:]
        img = ((p - lo) / (hi - lo).clamp_min(1e-6)).clamp(0, 1).reshape(h, w, 3).numpy()
        out_hw = size or (masks[k].shape if masks is not None else (h, w))
        img = cv2.resize((img * 255).astype(np.uint8), (out_hw[1], out_hw[0]), interpolation=cv2.INTER_LINEAR)
        if masks is not None:
            img[~cv2.resize(masks[k].astype(np.uint8), (out_hw[1], out_hw[0]), interpolation=cv2.INTER_NEAREST).astype(bool)] = 0
        images.append(img)
    return images


def image_grid(images: Sequence[np.ndarray], columns: int | None = None, pad: int = 4) -> np.ndarray:
    """Tile same-size (H, W, 3) images into one picture."""
    n = len(images)
    columns = columns or n
    rows = (n + columns - 1) // columns
    h, w = images[0].shape[:2]
    canvas = np.full((rows * h + (rows - 1) * pad, columns * w + (columns - 1) * pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return canvas


def save_pca_figure(path: str | os.PathLike, rgbs: Sequence[np.ndarray], grids: Sequence[torch.Tensor], masks: Sequence[np.ndarray] | None = None) -> None:
    """Two rows: the images, and their features coloured by a shared PCA."""
    pcas = pca_feature_images(grids, masks, size=rgbs[0].shape[:2])
    write_image_atomic(path, image_grid(list(rgbs) + pcas, columns=len(rgbs)))


def draw_pose(
    image: np.ndarray,
    K: np.ndarray,
    T_cam_obj: np.ndarray,
    bbox: np.ndarray | None = None,
    axis_length: float | None = None,
    color: tuple[int, int, int] = (0, 255, 0),
    label: str | None = None,
) -> np.ndarray:
    """Overlay the object's frame (x red, y green, z blue) and its 3D bounding box ((2, 3) [min, max],
    metres) projected with ``K`` at ``T_cam_obj``. Returns a new (H, W, 3) uint8 RGB image."""
    import cv2

    from .geometry import box_corners, project_points, transform_points

    out = np.ascontiguousarray(image.copy())
    scale = max(1, round(max(out.shape[:2]) / 640))
    if bbox is not None:
        lo, hi = np.asarray(bbox[0], float), np.asarray(bbox[1], float)
        cam = transform_points(T_cam_obj, box_corners(bbox))
        if (cam[:, 2] > 1e-4).all():
            px = project_points(cam, K)
            edges = [(0, 1), (0, 2), (0, 4), (1, 3), (1, 5), (2, 3), (2, 6), (3, 7), (4, 5), (4, 6), (5, 7), (6, 7)]
            for a, b in edges:
                cv2.line(out, tuple(np.round(px[a]).astype(int)), tuple(np.round(px[b]).astype(int)), color, 2 * scale, cv2.LINE_AA)
        axis_length = axis_length or 0.5 * float(np.max(hi - lo))
    axis_length = axis_length or 0.05
    pts = np.array([[0, 0, 0], [axis_length, 0, 0], [0, axis_length, 0], [0, 0, axis_length]], float)
    cam = transform_points(T_cam_obj, pts)
    if (cam[:, 2] > 1e-4).all():
        px = np.round(project_points(cam, K)).astype(int)
        for i, c in ((1, (255, 0, 0)), (2, (0, 255, 0)), (3, (0, 0, 255))):
            cv2.arrowedLine(out, tuple(px[0]), tuple(px[i]), c, 3 * scale, cv2.LINE_AA, tipLength=0.15)
    if label:
        cv2.putText(out, label, (10, 30 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, color, 2 * scale, cv2.LINE_AA)
    return out


def draw_matches(image: np.ndarray, xy: np.ndarray, inliers: np.ndarray, radius: int = 2) -> np.ndarray:
    """Dots at matched pixels: green for PnP inliers, red for outliers."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    for (x, y), ok in zip(np.round(xy).astype(int), inliers):
        cv2.circle(out, (int(x), int(y)), radius, (0, 200, 0) if ok else (220, 0, 0), -1)
    return out
