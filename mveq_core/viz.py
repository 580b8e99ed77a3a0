"""Pictures: PCA feature images, pose overlays, match lines, track strips and benchmark plots."""

from __future__ import annotations

import os
from pathlib import Path
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


def save_reconstruction_figure(path: str | os.PathLike, T_cam_world: dict[int, np.ndarray], points: np.ndarray, object_point_ids: np.ndarray, labels: dict[int, str] | None = None) -> None:
    """A structure-from-motion reconstruction as two views (PNG): looking down on the plane the
    cameras move in, and from its side. Grey: all points; red: the object's; blue: camera centres
    with their viewing directions, labelled by keyframe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(T_cam_world)
    centres = np.array([-T_cam_world[k][:3, :3].T @ T_cam_world[k][:3, 3] for k in keys]).reshape(-1, 3)
    axes_z = np.array([T_cam_world[k][2, :3] for k in keys]).reshape(-1, 3)  # viewing directions in the world
    obj = points[object_point_ids] if len(object_point_ids) else points
    origin = obj.mean(0) if len(obj) else np.zeros(3)
    # The cameras' plane: principal axes of their centres (the first two span it, the third is its normal).
    spread = centres - centres.mean(0) if len(centres) >= 3 else np.vstack([centres - origin, np.eye(3)])
    basis = np.linalg.svd(spread, full_matrices=False)[2]
    extent = max(float(np.linalg.norm(centres - origin, axis=1).max()) if len(centres) else 1.0, 1e-9)
    near = np.linalg.norm(points - origin, axis=1) < 2 * extent  # far background points would squash the plot
    fig, panels = plt.subplots(1, 2, figsize=(11, 5.2))
    for panel, (a, b), title in zip(panels, ((0, 1), (0, 2)), ("down onto the camera path", "side view")):
        def proj(x, a=a, b=b):
            return (x - origin) @ basis[a], (x - origin) @ basis[b]
        panel.scatter(*proj(points[near]), s=1, c="0.7", label=f"points ({int(near.sum())})")
        panel.scatter(*proj(obj), s=2, c="tab:red", label=f"object points ({len(obj)})")
        cx, cy = proj(centres)
        dx, dy = axes_z @ basis[a], axes_z @ basis[b]
        panel.quiver(cx, cy, dx, dy, color="tab:blue", angles="xy", scale_units="xy", scale=3.0 / extent, width=0.004)
        panel.scatter(cx, cy, s=18, c="tab:blue", label=f"cameras ({len(keys)})")
        for k, x, y in zip(keys, cx, cy):
            panel.annotate((labels or {}).get(k, str(k)), (x, y), fontsize=7, color="tab:blue", xytext=(3, 3), textcoords="offset points")
        panel.set_aspect("equal", adjustable="datalim")
        panel.set_title(title)
        panel.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    write_image_atomic(path, rgb)


def keyframe_sheet(frames: Sequence[np.ndarray], K: np.ndarray, T_cam_obj: dict[int, np.ndarray], bbox: np.ndarray, labels: Sequence[str] | None = None, width: int = 240, columns: int = 6) -> np.ndarray:
    """Thumbnails of keyframes with the object's 3D box ((2, 3), object frame) projected where the
    frame has a camera pose (``T_cam_obj`` {index: (4, 4)}); frames without one are dimmed and
    marked "not registered"."""
    import cv2

    tiles = []
    for k, frame in enumerate(frames):
        if k in T_cam_obj:
            tile = draw_pose(frame, K, T_cam_obj[k], bbox, color=(255, 200, 0))
        else:
            tile = (frame.astype(np.float32) * 0.35).astype(np.uint8)
        h, w = tile.shape[:2]
        tile = cv2.resize(np.ascontiguousarray(tile), (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        text = (labels[k] if labels else str(k)) + ("" if k in T_cam_obj else " not registered")
        cv2.putText(tile, text, (5, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return image_grid(tiles, columns=min(columns, len(tiles)))


def save_teach_pictures(out: Path, images: Sequence[np.ndarray], K: np.ndarray, report, rec) -> None:
    """``OUT.reconstruction.png`` (cameras and points) and ``OUT.keyframes.jpg`` (the object's box,
    2-98 % of its points along their principal axes, in every keyframe) next to the database ``out``,
    from a :class:`~mveq_core.sfm.TeachReport` and a metric :class:`~mveq_core.sfm.Reconstruction`."""
    from .geometry import make_transform
    from .teach import object_frame

    labels = {k: f"frame {report.keyframes[k]}" for k in range(len(report.keyframes))}
    save_reconstruction_figure(out.with_suffix(".reconstruction.png"), rec.T_cam_world, rec.points, rec.object_point_ids, labels)
    T_world_obj = object_frame(rec)
    local = rec.points[rec.object_point_ids] - T_world_obj[:3, 3]
    axes = np.linalg.svd(local - local.mean(0), full_matrices=False)[2].T if len(local) >= 3 else np.eye(3)
    axes[:, 2] *= np.sign(np.linalg.det(axes)) or 1.0  # the object's principal axes, right-handed
    bbox = np.percentile(local @ axes, [2, 98], axis=0) if len(local) else np.zeros((2, 3))
    frames = [images[i] for i in report.keyframes]
    T_cam_obj = {k: T @ T_world_obj @ make_transform(axes, np.zeros(3)) for k, T in rec.T_cam_world.items()}
    write_image_atomic(out.with_suffix(".keyframes.jpg"), keyframe_sheet(frames, K, T_cam_obj, bbox, [labels[k] for k in range(len(frames))]))
