"""Teach an object from an unposed video (issue 13): keyframes, structure-from-motion
(:mod:`mveq_core.sfm`), metric scale, the object's points, optionally dense object points
(:mod:`mveq_core.densify`), and a database of their features cropped at the estimator's scale."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .densify import DensifyConfig, densify
from .geometry import make_transform
from .sfm import (
    CharucoBoard,
    Reconstruction,
    SfMError,
    charuco_scale,
    marked_points_scale,
    marker_scale,
    metric,
    object_points,
    reconstruct,
    select_keyframes,
    size_points,
)


@dataclass
class TeachReport:
    """What `mveq db build-from-video` did: keyframes, registration, reprojection error, scale."""

    frames: int
    keyframes: list[int]
    registered: list[int]
    reprojection_error_px: float
    object_points: int
    scale: float
    database_features: int = 0
    dense_points: int = 0
    scale_from: str = ""  # object_size, marker, charuco or marked_points
    size_points: int = 0  # with object_size: the object points inside every keyframe's silhouette, which the size was measured on

    def to_json(self) -> dict:
        return {**self.__dict__, "registered_share": len(self.registered) / max(len(self.keyframes), 1)}


def teach(features, images: Sequence[np.ndarray], K: np.ndarray, name: str, object_size: float | None = None, marker_length: float | None = None,
          box: tuple[int, Sequence[float]] | None = None, keyframes: int = 30, crop=None, progress: bool = True, work_dir: str | Path | None = None,
          centre_window: float = 0.0, dense: DensifyConfig | None = DensifyConfig(),
          marked: tuple[Sequence[dict[int, Sequence[float]]], float] | None = None, charuco: CharucoBoard | None = None,
          marker_dictionary: str = "DICT_4X4_50"):
    """A database of ``name`` from an unposed RGB video (frames ``images``, intrinsics ``K``):
    keyframes, SfM, metric scale (``object_size``: the object's longest side, measured on its points
    inside its GrabCut silhouette in every keyframe (:func:`~mveq_core.sfm.size_points`), or ``marker_length``:
    an ArUco marker's side, metres, of ``marker_dictionary``, or ``charuco``: a ChArUco board in
    view, or ``marked``: two points' pixels ({frame index: (x, y)} each,
    in at least 2 frames; those frames become keyframes) and their distance in metres), object
    points, crops at the estimator's scale. ``box``:
    (frame index, [x0, y0, x1, y1]) of the object in one frame (default: the orbit centre).
    ``centre_window``: SfM keypoints only in the frames' centre (:func:`reconstruct`). ``dense``:
    a :class:`~mveq_core.densify.DensifyConfig` adds dense object points (the default; None: SfM
    points only: on the real LINEMOD cat they took held-out poses from 63° to 5° median relative
    rotation error, docs/benchmarks.md).
    Returns (database, :class:`TeachReport`, metric :class:`Reconstruction` over the keyframes)."""
    if sum(x is not None for x in (object_size, marker_length, charuco, marked)) != 1:
        raise ValueError("give the scale one way: object_size (the object's longest side), marker_length (an ArUco marker's side), charuco (a ChArUco board) "
                         "or marked (two marked points and their distance), metres")
    forced = set() if box is None else {box[0]}
    for seen in marked[0] if marked is not None else ():
        for k in seen:
            if not 0 <= k < len(images):
                raise ValueError(f"a marked point's frame {k} is not one of the {len(images)} frames (0-{len(images) - 1})")
        forced |= set(seen)
    chosen = select_keyframes(images, keyframes)
    if not forced <= set(chosen):
        chosen = sorted(set(chosen) | forced)
    frames = [images[i] for i in chosen]
    rec = reconstruct(frames, K, work_dir, centre_window=centre_window)
    if len(rec.T_cam_world) < 3:
        raise SfMError(f"only {len(rec.T_cam_world)} of {len(frames)} keyframes registered: too little overlap between views (record more frames, 10-20° apart, with the object large in view)")
    local_box = None if box is None else (chosen.index(box[0]), box[1])
    ids = object_points(rec, local_box)
    if object_size is not None:
        measured = size_points(frames, rec, K, ids, progress=progress)
        rec = metric(rec, object_size, ids, measured)
    else:
        if marker_length is not None:
            factor = marker_scale(frames, rec, K, marker_length, marker_dictionary)
        elif charuco is not None:
            factor = charuco_scale(frames, rec, K, charuco)
        else:
            local = [{chosen.index(k): xy for k, xy in seen.items()} for seen in marked[0]]
            try:
                factor = marked_points_scale(rec, K, local, marked[1])
            except SfMError as exc:
                lost = sorted({k for seen in marked[0] for k in seen if chosen.index(k) not in rec.T_cam_world})
                raise SfMError(f"{exc}" + (f" (marked frames {lost} did not register)" if lost else "")) from None
        rec = rec.scaled(factor)
        rec.object_point_ids = ids
    added = 0
    if dense is not None:
        if crop is not None:  # dense matching at the database crops' scale
            dense = replace(dense, crop_size=crop.input_size, margin=crop.margin)
        rec, added = densify(features, frames, K, rec, dense, progress=progress)
    db = database_from_reconstruction(features, frames, K, rec, name, crop=crop, progress=progress)
    scale_from = "object_size" if object_size is not None else "marker" if marker_length is not None else "charuco" if charuco is not None else "marked_points"
    report = TeachReport(len(images), chosen, [chosen[k] for k in sorted(rec.T_cam_world)], rec.reprojection_error, len(ids), rec.scale, len(db), added, scale_from,
                         len(measured) if object_size is not None else 0)
    return db, report, rec


def object_frame(rec: Reconstruction) -> np.ndarray:
    """T_world_obj: the object frame's origin at the centre of the object's points, axes of the
    reconstruction."""
    return make_transform(np.eye(3), rec.points[rec.object_point_ids].mean(0))


def database_from_reconstruction(features, frames: Sequence[np.ndarray], K: np.ndarray, rec: Reconstruction, name: str,
                                 use: Sequence[int] | None = None, crop=None, progress: bool = True):
    """A database from the registered ``frames`` (all, or the indices ``use``): each frame's
    observations of the object's points as 2D-3D pairs (object frame: :func:`object_frame`),
    cropped at the estimator's scale."""
    from .reference_database import ReferenceCropConfig, ReferenceFrame, build_database_from_frames

    T_world_obj = object_frame(rec)
    centre = T_world_obj[:3, 3]
    keep = np.zeros(len(rec.points), bool)
    keep[rec.object_point_ids] = True
    refs = []
    for k, T in sorted(rec.T_cam_world.items()):
        if use is not None and k not in use:
            continue
        xy, pids = rec.observations[k]
        on = keep[pids]
        if on.sum() < 6:
            continue
        refs.append(ReferenceFrame(frames[k], K, T @ T_world_obj, name=f"keyframe {k}", xy=xy[on], xyz=rec.points[pids[on]] - centre))
    if not refs:
        raise SfMError("no registered keyframe sees the object's points: give the object's box (--box) in one frame")
    return build_database_from_frames(features, refs, name, points="sfm", crop=crop or ReferenceCropConfig(), progress=progress)
