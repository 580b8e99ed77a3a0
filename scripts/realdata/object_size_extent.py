"""Issue 13, session 22 (tried, not kept): after the object's points inside the silhouettes
(`sfm.size_points`), would the silhouettes' own extent correct points that fall short of the
object's ends? For every keyframe whose cut holds >= 90 % of the points and which sees the points'
longest box axis at >= 60° from its ray, the object mask's extent along that axis's image direction
over the points' projected extent; the side is multiplied by the median of those ratios. Same
sources as `object_size_silhouettes.py` (a Middlebury-layout folder: all its views).

    .venv/bin/python scripts/realdata/object_size_extent.py orbit ../shared/realdata/middlebury_temple DINO_DIR CAT_BOP_DIR TEMPLE_RING_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from object_size_silhouettes import prepare  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.geometry import project_points, transform_points  # noqa: E402


def extent_ratio(rec, K, measured, masks, min_angle: float = 60.0, min_inside: float = 0.9) -> tuple[float, int]:
    """(median silhouette / points extent along the longest axis over the usable views, their count)."""
    import trimesh

    points = rec.points[measured]
    to_origin, extents = trimesh.bounds.oriented_bounds(points)
    box = np.linalg.inv(to_origin)
    axis, centre = box[:3, int(np.argmax(extents))], box[:3, 3]
    ratios = []
    for k, mask in masks.items():
        T = rec.T_cam_world[k]
        centre_cam = transform_points(T, centre[None])[0]
        if np.degrees(np.arccos(abs(centre_cam @ (T[:3, :3] @ axis)) / np.linalg.norm(centre_cam))) < min_angle:
            continue
        xy, seen, inside = sfm.mask_hits(T, points, K, mask)
        if not seen.any() or inside[seen].mean() < min_inside:
            continue
        c = project_points(centre_cam[None], K)[0]
        d = project_points(transform_points(T, (centre + 0.01 * axis)[None]), K)[0] - c
        d /= np.linalg.norm(d)
        ys, xs = np.nonzero(mask)
        s, q = (np.stack([xs, ys], 1) - c) @ d, (xy[seen] - c) @ d
        ratios.append((s.max() - s.min()) / (q.max() - q.min()))
    return (float(np.median(ratios)) if ratios else 1.0), len(ratios)


def main(argv: list[str]) -> int:
    for source in argv:
        images, K, poses, size, rec, ids = prepare(source)
        masks = sfm.object_masks(images, rec, K, ids)
        measured = sfm.silhouette_consistent(rec, K, ids, masks)
        side = sfm.longest_side(rec.points[measured])
        factor, views = extent_ratio(rec, K, measured, masks)

        def ratio(s: float) -> float:
            return 1.0 / sfm.relative_motion_summary(rec.scaled(size / s).T_cam_world, poses)["median_scale_ratio"]

        print(f"{Path(source).name}: measured / true side inside the silhouettes {ratio(side):.3f}; "
              f"x the silhouettes' extent ratio {factor:.3f} ({views} views) -> {ratio(side * factor):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
