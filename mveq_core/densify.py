"""Dense object points for databases taught by structure-from-motion (issue 13).

SIFT leaves an object a few hundred sparse points (156 on the real LINEMOD cat), too few for good
poses from a taught database. With the keyframes' cameras known, every keyframe's crop around the
object is matched densely with its nearest keyframes by our own features (mutual nearest
neighbours on a pixel grid), each match is triangulated with the two known cameras and kept only
when it reprojects within a pixel or two in both views, its rays meet at a useful angle, it lies
on the object (within the sparse object points' radius) and at least one further keyframe agrees
(the nearest neighbour of the descriptor there falls where the point projects). The surviving
points become extra 2D-3D observations of the keyframes that saw them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .crop import Crop
from .geometry import invert_transform, projected_box
from .reference_database import ReferenceCropConfig


@dataclass(frozen=True)
class DensifyConfig:
    """``neighbours``: keyframes each keyframe is matched with (nearest by viewing direction, at
    least ``min_view_angle`` and at most ``max_view_angle`` degrees apart around the object);
    ``stride``: grid spacing in crop pixels; ``max_error_px``: reprojection error allowed in both
    views (original pixels); ``min_ray_angle``: degrees between the two rays at the point;
    ``confirm_px``: how far (crop pixels) a further keyframe's nearest neighbour may fall from the
    point's projection to agree; ``min_confirmations``: further keyframes that must agree;
    ``crop_size`` and ``margin``: the crops (the estimator's scale)."""

    neighbours: int = 4
    min_view_angle: float = 4.0
    max_view_angle: float = 45.0
    stride: int = 4
    max_error_px: float = 2.0
    min_ray_angle: float = 2.0
    confirm_px: float = 6.0
    min_confirmations: int = 1
    crop_size: int = ReferenceCropConfig.input_size  # the estimator's scale, as the database's crops
    margin: float = ReferenceCropConfig.margin


@dataclass
class _View:
    crop: Crop
    T: np.ndarray  # cam <- world
    P: np.ndarray  # K @ T[:3]
    pixels: np.ndarray  # (N, 2) original pixels of the grid points
    crop_xy: np.ndarray  # (N, 2) the same in crop pixels
    desc: object  # (N, C) torch, L2-normalised
    grid: object  # the crop's FeatureGrid (sub-cell refinement samples it)


def _views(features, frames, K, rec, centre, radius, config, progress):
    import torch
    from tqdm import tqdm

    from .features import image_to_tensor

    views = {}
    sphere_box = np.stack([centre - radius, centre + radius])  # the object's sphere's 3D box (world frame)
    for k in tqdm(sorted(rec.T_cam_world), desc="dense points: features", disable=not progress):
        T = rec.T_cam_world[k]
        h, w = frames[k].shape[:2]
        xy_obs, pids = rec.observations[k]
        seen = np.isin(pids, rec.object_point_ids)
        if seen.sum() < 3:
            continue
        lo, hi = xy_obs[seen].min(0), xy_obs[seen].max(0) + 1
        crop = Crop.around((h, w), [lo[0], lo[1], hi[0], hi[1]], config.margin, config.crop_size)
        if crop.empty:
            continue
        xs, ys = np.meshgrid(np.arange(0, crop.size[0], config.stride), np.arange(0, crop.size[1], config.stride))
        crop_xy = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        box = projected_box(sphere_box, T, K, (h, w), min_side=0.0)
        if box is not None:  # keep grid points inside the projected object sphere's box
            lo_c, hi_c = crop.to_crop(np.array([box[:2], box[2:]], np.float64))
            crop_xy = crop_xy[np.all((crop_xy >= lo_c) & (crop_xy <= hi_c), axis=1)]
        with torch.no_grad():
            grid = features.feature_grid(image_to_tensor(crop.apply(frames[k]), features.device))
            desc = grid.sample(torch.from_numpy(crop_xy).float().to(features.device))
        views[k] = _View(crop, T, K @ T[:3], crop.to_original(crop_xy), crop_xy, desc, grid)
    return views


def _neighbours(rec, keys, centre, config) -> dict[int, list[int]]:
    """Each keyframe's nearest keyframes by the angle between their rays to the object centre."""
    rays = {}
    for k in keys:
        c = invert_transform(rec.T_cam_world[k])[:3, 3]
        rays[k] = (c - centre) / max(np.linalg.norm(c - centre), 1e-12)
    out = {}
    for k in keys:
        angles = sorted((float(np.degrees(np.arccos(np.clip(rays[k] @ rays[m], -1, 1)))), m) for m in keys if m != k)
        out[k] = [m for a, m in angles if config.min_view_angle <= a <= config.max_view_angle][: config.neighbours]
    return out


def _nearest_both(a, b) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a`` the index of its most similar row of ``b``, and for each row of ``b``
    that of ``a`` (cosine), from one similarity product (blocks of rows of ``a``)."""
    import torch

    to_b = []
    best = torch.full((len(b),), -torch.inf, dtype=b.dtype, device=b.device)
    to_a = torch.zeros(len(b), dtype=torch.long, device=b.device)
    with torch.no_grad():
        for start in range(0, len(a), 4096):
            sim = a[start : start + 4096] @ b.T
            to_b.append(sim.argmax(1))
            value = sim.amax(0)  # a column's first maximal row: amax and a scatter, 3x faster than max(0) on the CPU
            r, c = torch.nonzero(sim == value, as_tuple=True)
            row = torch.full_like(to_a, len(sim)).scatter_reduce(0, c, r, "amin")
            better = value > best  # the first of equal rows wins, as one argmax over all of a
            best, to_a = torch.where(better, value, best), torch.where(better, row + start, to_a)
    if not to_b:
        return np.zeros(0, int), np.zeros(len(b), int)
    return torch.cat(to_b).cpu().numpy(), to_a.cpu().numpy()


def _along_epipolar_lines(a: _View, b: _View, K: np.ndarray, i: np.ndarray, j: np.ndarray, stride: int, steps: int = 17) -> np.ndarray:
    """Pixels in ``b`` (original) for the matches ``a.pixels[i]`` <-> ``b.pixels[j]``, refined below
    the grid's spacing: along the epipolar line of each ``a`` pixel, within one grid step of the
    matched cell, the position whose (bilinearly sampled) descriptor is most similar."""
    import torch

    T = b.T @ invert_transform(a.T)
    Kinv = np.linalg.inv(K)
    tx, ty, tz = T[:3, 3]
    F = Kinv.T @ np.array([[0, -tz, ty], [tz, 0, -tx], [-ty, tx, 0]]) @ T[:3, :3] @ Kinv
    lines = np.c_[a.pixels[i], np.ones(len(i))] @ F.T  # (M, 3): l . (x, y, 1) = 0 in b
    normal = lines[:, :2] / np.maximum(np.linalg.norm(lines[:, :2], axis=1, keepdims=True), 1e-12)
    start = b.pixels[j]
    foot = start - ((np.sum(lines[:, :2] * start, 1) + lines[:, 2]) / np.maximum(np.linalg.norm(lines[:, :2], axis=1), 1e-12))[:, None] * normal
    direction = np.c_[-normal[:, 1], normal[:, 0]]
    reach = stride * max(b.crop.scale_xy)
    t = np.linspace(-reach, reach, steps)
    candidates = foot[:, None, :] + t[None, :, None] * direction[:, None, :]  # (M, S, 2)
    flat = torch.from_numpy(b.crop.to_crop(candidates.reshape(-1, 2))).float().to(b.desc.device)
    with torch.no_grad():
        sampled = b.grid.sample(flat).reshape(len(i), steps, -1)
        score = torch.einsum("msc,mc->ms", sampled, a.desc[torch.from_numpy(i).to(b.desc.device)]).cpu().numpy()
    return candidates[np.arange(len(i)), score.argmax(1)]


def _project(P: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h = X @ P[:, :3].T + P[:, 3]
    return h[:, :2] / np.where(np.abs(h[:, 2:]) < 1e-12, 1e-12, h[:, 2:]), h[:, 2]


def densify(features, frames: Sequence[np.ndarray], K: np.ndarray, rec, config: DensifyConfig = DensifyConfig(), progress: bool = True):
    """``rec`` (a :class:`~mveq_core.sfm.Reconstruction` with its ``object_point_ids`` chosen) with
    dense object points added: new points, new observations of the keyframes that matched them,
    and those points among the object's. Returns (new reconstruction, number of points added)."""
    import cv2
    from tqdm import tqdm

    from .sfm import Reconstruction

    obj = rec.points[rec.object_point_ids]
    centre = obj.mean(0)
    radius = float(np.linalg.norm(obj - centre, axis=1).max())
    views = _views(features, frames, K, rec, centre, radius, config, progress)
    near = _neighbours(rec, sorted(views), centre, config)
    pairs = sorted({(min(k, m), max(k, m)) for k in near for m in near[k]})
    ordered = sorted({(k, m) for k in near for m in near[k]} | {(m, k) for k in near for m in near[k]})
    nn = {}
    for k, m in tqdm([(k, m) for k, m in ordered if k < m], desc="dense points: matching", disable=not progress):
        nn[k, m], nn[m, k] = _nearest_both(views[k].desc, views[m].desc)  # one product serves both directions
    best: dict[tuple[int, int], tuple] = {}  # (keyframe, grid cell) -> (error, point, pixel)
    for k, m in pairs:
        a, b = views[k], views[m]
        i = np.arange(len(a.pixels))
        j = nn[k, m]
        i = i[nn[m, k][j] == i]
        j = j[i]
        if not len(i):
            continue
        pb = _along_epipolar_lines(a, b, K, i, j, config.stride)
        X = cv2.triangulatePoints(a.P, b.P, a.pixels[i].T, pb.T)
        X = (X[:3] / np.where(np.abs(X[3]) < 1e-12, 1e-12, X[3])).T
        ua, za = _project(a.P, X)
        ub, zb = _project(b.P, X)
        err = np.maximum(np.linalg.norm(ua - a.pixels[i], axis=1), np.linalg.norm(ub - pb, axis=1))
        ca, cb = invert_transform(a.T)[:3, 3], invert_transform(b.T)[:3, 3]
        ra, rb = X - ca, X - cb
        cosang = np.sum(ra * rb, 1) / np.maximum(np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1), 1e-12)
        ok = (za > 0) & (zb > 0) & (err < config.max_error_px) & (np.linalg.norm(X - centre, axis=1) <= radius)
        ok &= np.degrees(np.arccos(np.clip(cosang, -1, 1))) >= config.min_ray_angle
        agree = np.zeros(len(i), int)
        for v in set(near[k]) | set(near[m]):
            if v in (k, m) or (k, v) not in nn:
                continue
            c = views[v]
            uv, z = _project(c.P, X)
            crop_uv = c.crop.to_crop(uv)
            found = c.crop_xy[nn[k, v][i]]
            agree += (z > 0) & (np.linalg.norm(found - crop_uv, axis=1) <= config.confirm_px)
        ok &= agree >= config.min_confirmations
        for key, e, x, px in [*zip(((k, g) for g in i[ok]), err[ok], X[ok], a.pixels[i[ok]]), *zip(((m, g) for g in j[ok]), err[ok], X[ok], pb[ok])]:
            if key not in best or e < best[key][0]:
                best[key] = (float(e), x, px)
    if not best:
        return rec, 0
    keys = sorted(best)
    new_points = np.array([best[key][1] for key in keys], np.float64)
    first = len(rec.points)
    observations = dict(rec.observations)
    frame_of = np.array([k for k, _ in keys])
    pixels = np.array([best[key][2] for key in keys], np.float64)
    for k in np.unique(frame_of):
        rows = np.nonzero(frame_of == k)[0]
        xy, ids = observations[int(k)]
        observations[int(k)] = (np.vstack([xy, pixels[rows]]), np.concatenate([ids, first + rows]))
    out = Reconstruction(rec.T_cam_world, np.vstack([rec.points, new_points]), observations, rec.reprojection_error, rec.num_frames, rec.scale,
                         np.concatenate([rec.object_point_ids, first + np.arange(len(keys))]))
    return out, len(keys)
