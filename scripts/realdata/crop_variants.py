"""Ways of framing each keyframe of a taught database (issue 13's crop-framing comparison), shared by
linemod_sfm.py --crop-boxes and phone_video_sfm.py --crop-boxes.

A taught keyframe has no mask and no 3D box, so the database crops it around a box of its observed
object points (`mveq_core.reference_database.reference_box`, the default). The variants here: that
box's percentiles, and the box of every object point projected into the keyframe, seen or not.
"""

from __future__ import annotations

from unittest import mock

import numpy as np

from mveq_core import reference_database, teach
from mveq_core.geometry import project_points, transform_points

DEFAULT = "observed points (default)"


def variants(rec) -> dict:
    """{label: extent}: extent(frame) = (lo, hi) pixel corners of the keyframe's crop box."""
    obj = rec.points[rec.object_point_ids] - teach.object_frame(rec)[:3, 3]  # object points in the object frame

    def observed(q):
        return lambda frame: (np.percentile(frame.xy, q, 0), np.percentile(frame.xy, 100 - q, 0))

    def projected(q):
        def extent(frame):
            uv = project_points(transform_points(frame.T_cam_obj, obj), frame.K)
            return np.percentile(uv, q, 0), np.percentile(uv, 100 - q, 0)

        return extent

    return {DEFAULT: observed(0), "observed points, 1st-99th percentile": observed(1), "observed points, 2nd-98th percentile": observed(2),
            "all object points projected": projected(0), "all object points projected, 1st-99th percentile": projected(1)}


def observed_frames(rec, keyframe_images, K) -> dict:
    """{keyframe: ReferenceFrame with its observed object points} for keyframes that see at least 6."""
    T_world_obj = teach.object_frame(rec)
    out = {}
    for k, T in sorted(rec.T_cam_world.items()):
        xy, ids = rec.observations[k]
        on = np.isin(ids, rec.object_point_ids)
        if on.sum() >= 6:
            out[k] = reference_database.ReferenceFrame(keyframe_images[k], K, T @ T_world_obj, xy=xy[on])
    return out


def database(features, rec, keyframe_images, K, name: str, extent):
    """The taught database with each keyframe cropped around ``extent``'s box (frames with a mask or
    a 3D box keep theirs)."""
    original = reference_database.reference_box

    def box(frame, bbox3d):
        if frame.mask is None and bbox3d is None and frame.xy is not None and len(frame.xy):
            lo, hi = extent(frame)
            return [float(lo[0]), float(lo[1]), float(hi[0] + 1), float(hi[1] + 1)]
        return original(frame, bbox3d)

    with mock.patch.object(reference_database, "reference_box", box):
        return teach.database_from_reconstruction(features, keyframe_images, K, rec, name, progress=False)


def without_rows(value):
    """A held-out summary without its per-query rows (one level down too)."""
    return {k: v for k, v in value.items() if k != "rows"} if isinstance(value, dict) else value


def compare(features, rec, keyframe_images, K, name: str, held_out, default: tuple[int, dict], side=None) -> dict:
    """Each variant's database size and ``held_out(database)`` summary (the default's is ``default``:
    (database size, held-out result) of the taught database itself); with ``side`` (keyframe ->
    the longer side of its GT visible box), also each crop box's longer side over it."""
    frames = observed_frames(rec, keyframe_images, K)
    sides = None if side is None else {k: side(k) for k in frames}  # once for every variant
    out = {}
    for label, extent in variants(rec).items():
        row = {}
        if sides is not None:
            ratios = [float(np.max(np.subtract(*extent(frame)[::-1])) / sides[k]) for k, frame in frames.items()]
            row = {"box_side_over_gt_median": float(np.median(ratios)), "box_side_over_gt_p10": float(np.percentile(ratios, 10)), "box_side_over_gt_p90": float(np.percentile(ratios, 90))}
        if label == DEFAULT:
            size, result = default
        else:
            db = database(features, rec, keyframe_images, K, name, extent)
            size, result = len(db), held_out(db)
        out[label] = {**row, "database_features": size, **{k: without_rows(v) for k, v in result.items() if k != "rows"}}
        print(label, out[label])
    return out
