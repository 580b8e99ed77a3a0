"""Issue 13, session 20: would filtering the SfM object points before measuring the object's longest
side bring the object-size scale within 1 %? For the test suite's rendered orbit (``orbit``) or a
Middlebury ring folder: reconstruct every view (SIFT, pycolmap), take the object's points
(`sfm.object_points`), and print the measured longest side over the true one (the points brought to
true units through the ground-truth cameras) for all points and after each filter: track length,
largest angle between the point's rays, mean reprojection error, and statistical outlier removal
(mean distance to the k nearest points above the mean + n standard deviations).

Session 21 adds the visual hull: every registered view's object mask cut by GrabCut
(`crop.grabcut_mask`) from the box around the object points' projections grown by a quarter a side,
voxels of the points' smallest box grown by half (200 along its longest side) kept where every view
that sees them has them inside its mask (seen by at least half the views), and the longest side of
the kept voxels (plus one voxel). For the rendered orbit the renders' own non-black pixels are a
second, exact mask.

    .venv/bin/python scripts/realdata/object_size_filters.py orbit ../shared/realdata/middlebury_temple DINO_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.geometry import invert_transform, project_points, transform_points  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402


def point_stats(rec, K):
    """Per point: track length, mean reprojection error (px), largest angle between its rays (deg)."""
    n = len(rec.points)
    track, err, views = np.zeros(n, int), np.zeros(n), [[] for _ in range(n)]
    for k, (xy, ids) in rec.observations.items():
        e = np.linalg.norm(project_points(transform_points(rec.T_cam_world[k], rec.points[ids]), K) - xy, axis=1)
        np.add.at(track, ids, 1)
        np.add.at(err, ids, e)
        for i in ids:
            views[i].append(k)
    centres = {k: invert_transform(T)[:3, 3] for k, T in rec.T_cam_world.items()}
    angle = np.zeros(n)
    for i, ks in enumerate(views):
        if len(ks) > 1:
            d = np.array([rec.points[i] - centres[k] for k in ks])
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            angle[i] = np.degrees(np.arccos(np.clip(d @ d.T, -1, 1)).max())
    return track, err / np.maximum(track, 1), angle


def outlier_free(points, k, n_sigma):
    d, _ = cKDTree(points).query(points, k + 1)
    m = d[:, 1:].mean(1)
    return m <= m.mean() + n_sigma * m.std()


def object_masks(images, rec, K, ids, grow: float = 0.25) -> dict:
    """GrabCut's mask of the object in every registered view, from the box around its points' projections."""
    from mveq_core.crop import grabcut_mask

    out = {}
    for k, T in rec.T_cam_world.items():
        xy = project_points(transform_points(T, rec.points[ids]), K)
        (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
        h, w = images[k].shape[:2]
        dx, dy = grow * (x1 - x0), grow * (y1 - y0)
        out[k] = grabcut_mask(images[k], [max(0.0, x0 - dx), max(0.0, y0 - dy), min(w - 1.0, x1 + dx), min(h - 1.0, y1 + dy)], margin=0.1)
    return out


def hull_side(rec, K, ids, masks: dict, n: int = 200, grow: float = 1.5) -> float:
    """Longest side of the visual hull that ``masks`` carve from the object points' grown smallest box."""
    import trimesh

    to_origin, extents = trimesh.bounds.oriented_bounds(rec.points[ids])
    extents = extents * grow
    step = extents.max() / n
    grid = np.stack(np.meshgrid(*[np.arange(-e / 2, e / 2 + step / 2, step) for e in extents], indexing="ij"), -1).reshape(-1, 3)
    X = transform_points(np.linalg.inv(to_origin), grid)
    outside, seen = np.zeros(len(X), int), np.zeros(len(X), int)
    for k, T in rec.T_cam_world.items():
        _, ok, inside = sfm.mask_hits(T, X, K, masks[k])
        outside += ok & ~inside
        seen += ok
    return sfm.longest_side(X[(outside == 0) & (seen >= max(3, len(masks) // 2))]) + step


def main(argv: list[str]) -> int:
    for source in argv:
        if source == "orbit":
            sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "core"))
            from test_sfm import K, drill_orbit

            images, poses, drill = drill_orbit()
            size = sfm.longest_side(drill.vertices)
        else:
            names, Ks, Ts, _, size = load(Path(source))
            images, K, poses = [read_image_rgb(Path(source) / n) for n in names], Ks[0], list(Ts)
        rec = sfm.reconstruct(images, K)
        ids = sfm.object_points(rec)
        to_true = 1.0 / sfm.relative_motion_summary(rec.T_cam_world, poses)["median_scale_ratio"]
        track, err, angle = point_stats(rec, K)
        points = rec.points[ids]
        rows = [("all points", np.ones(len(ids), bool))]
        rows += [(f"track >= {t}", track[ids] >= t) for t in (3, 4, 5)]
        rows += [(f"ray angle >= {a}°", angle[ids] >= a) for a in (15, 30)]
        rows += [(f"reprojection <= {e} px", err[ids] <= e) for e in (0.5, 1.0)]
        rows += [(f"outliers out (k {k}, {s} sd)", outlier_free(points, k, s)) for k, s in ((8, 2.0), (8, 1.0), (16, 1.0), (16, 0.5))]
        print(f"{Path(source).name}: {len(rec.T_cam_world)} of {len(images)} views registered, {len(ids)} object points", flush=True)
        for label, keep in rows:
            ratio = sfm.longest_side(points[keep]) * to_true / size if keep.sum() >= 10 else float("nan")
            print(f"  {label:28s} {int(keep.sum()):5d} points  measured / true side {ratio:.3f}", flush=True)
        hulls = [("visual hull, GrabCut masks", object_masks(images, rec, K, ids))]
        if source == "orbit":
            hulls.append(("visual hull, exact masks", {k: images[k].max(-1) > 0 for k in rec.T_cam_world}))
        for label, masks in hulls:
            print(f"  {label:28s} {len(masks):5d} views   measured / true side {hull_side(rec, K, ids, masks) * to_true / size:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
