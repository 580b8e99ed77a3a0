"""Reference-video object databases: posed frames (a OnePose-style sequence, an SfM reconstruction,
photos with poses), each cropped around the object at the estimator's scale, with 3D points from
depth, a mesh or given 2D-3D pairs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from .crop import Crop
from .database import DEFAULT_MAX_FEATURES, DatabaseError, ObjectDatabase, cap_features, database_meta
from .features import DenseFeatures, image_to_tensor
from .geometry import check_intrinsics, depth_to_object_points

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


@dataclass
class ReferenceFrame:
    """One reference-video frame: ``rgb`` (H, W, 3) uint8, ``K`` (3, 3), ``T_cam_obj`` (4, 4) metres;
    optional ``depth`` (H, W) metres and ``mask`` (H, W) bool; or SfM 2D-3D pairs ``xy`` (M, 2) with
    ``xyz`` (M, 3) object points."""

    rgb: np.ndarray
    K: np.ndarray
    T_cam_obj: np.ndarray
    depth: np.ndarray | None = None
    mask: np.ndarray | None = None
    xy: np.ndarray | None = None
    xyz: np.ndarray | None = None
    name: str = ""
    # other posed objects in view: (mesh in metres, T_cam_obj) pairs that may hide this one
    occluders: list = field(default_factory=list)


@dataclass(frozen=True)
class ReferenceCropConfig:
    """How reference frames are cropped before features are taken: around the object (mask, else
    the projected 3D box) with the estimator's ``margin``, scaled to the estimator's ``input_size``
    (:class:`mveq_core.pose.PoseConfig`), so that reference and query see the object at one scale.
    ``enabled=False`` samples whole frames as given. ``depth_tolerance`` (metres): a mesh point
    counts as visible where the frame's depth agrees with the rendered depth."""

    enabled: bool = True
    input_size: int = 512
    margin: float = 0.15
    depth_tolerance: float = 0.02

    @classmethod
    def of_pose(cls, pose_config) -> "ReferenceCropConfig":
        """Crops at a :class:`~mveq_core.pose.PoseConfig`'s scale (its input size, else the default, and margin)."""
        return cls(input_size=pose_config.input_size or cls.input_size, margin=pose_config.crop_margin)


def reference_box(frame: ReferenceFrame, bbox3d: np.ndarray | None) -> list[float] | None:
    """The object's image box in a reference frame: its mask's box, else its 3D box (2|8, 3)
    projected at the frame's pose, else the box of its SfM keypoints."""
    from .crop import mask_box
    from .geometry import projected_box

    if frame.mask is not None:
        return mask_box(frame.mask)
    if bbox3d is not None:
        bbox = np.stack([np.min(bbox3d, 0), np.max(bbox3d, 0)])
        box = projected_box(bbox, frame.T_cam_obj, check_intrinsics(frame.K), frame.rgb.shape[:2], min_side=2.0)
        if box is not None:
            return box
    if frame.xy is not None and len(frame.xy):
        lo, hi = np.min(frame.xy, 0), np.max(frame.xy, 0) + 1
        return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
    return None


def visible_mesh_pixels(mesh, frame: ReferenceFrame, tolerance: float):
    """Rendered depth of ``mesh`` at the frame's pose and the pixels where it is seen: inside the
    silhouette, in front of every occluder, and (where the frame has depth) within ``tolerance``
    metres of the measured depth."""
    from .render import render_view

    h, w = frame.rgb.shape[:2]
    view = render_view(mesh, frame.K, frame.T_cam_obj, (h, w), None, False)
    visible = view.mask.copy()
    if frame.depth is not None:
        measured = frame.depth > 0
        visible &= ~measured | (np.abs(view.depth - frame.depth) < tolerance)
    for occluder_mesh, T in frame.occluders:
        other = render_view(occluder_mesh, frame.K, T, (h, w), None, False).depth
        visible &= (other <= 0) | (view.depth <= other)
    return view.depth, visible


@torch.no_grad()
def build_database_from_frames(
    features: DenseFeatures,
    frames: Iterable[ReferenceFrame],
    name: str,
    points: str = "depth",
    mesh=None,
    bbox3d: np.ndarray | None = None,
    pixel_stride: int = 4,
    max_features: int = DEFAULT_MAX_FEATURES,
    seed: int = 0,
    progress: bool = True,
    total: int | None = None,
    mesh_path: str | None = None,
    crop: ReferenceCropConfig = ReferenceCropConfig(),
) -> ObjectDatabase:
    """Database from a posed reference video.

    Each frame is first cropped around the object at the estimator's scale (``crop``; see
    :class:`ReferenceCropConfig`), as the paper's OnePose protocol does.

    ``points`` says where each descriptor's 3D point comes from:
    - ``"depth"``: the frame's depth map (object pixels: ``mask`` if given, else those whose 3D
      point falls inside ``bbox3d`` (2, 3) or (8, 3), the object's box in its frame);
    - ``"mesh"``: ``mesh`` rendered at the frame's pose, visible pixels only (depth test against
      the frame's depth and its ``occluders``);
    - ``"sfm"``: the frame's SfM 2D-3D pairs (``xy``/``xyz``), e.g. OnePose++ ``anno_loftr``.
    """
    from tqdm import tqdm

    if points not in ("depth", "mesh", "sfm"):
        raise ValueError(f"points must be depth, mesh or sfm, got {points!r}")
    if points == "mesh" and mesh is None:
        raise ValueError("points='mesh' needs a mesh")
    box = None if bbox3d is None else np.stack([np.min(bbox3d, 0), np.max(bbox3d, 0)])
    descriptors, xyzs, view_ids, pixels = [], [], [], []
    count = 0
    for index, frame in enumerate(tqdm(frames, desc=f"database {name}", total=total, disable=not progress)):
        count += 1
        check_intrinsics(frame.K, f"frame {frame.name or index} K")
        if points == "depth" and frame.mask is None and box is None:
            raise DatabaseError(f"frame {frame.name or index}: without a mask, points='depth' needs the object's 3D box (bbox3d)")
        h, w = frame.rgb.shape[:2]
        # Geometry stays in the original frame (no resampled depth); features come from the crop.
        region = Crop(0, 0, w, h, (w, h))
        if crop.enabled:
            box3d = bbox3d if bbox3d is not None else (None if mesh is None else np.asarray(mesh.bounds, np.float64))
            object_box = reference_box(frame, box3d)
            if object_box is None:
                log.info("frame %s: object not in view, skipped", frame.name or index)
                continue
            region = Crop.around((h, w), object_box, crop.margin, crop.input_size)
        if points == "sfm":
            if frame.xy is None or frame.xyz is None or len(frame.xy) == 0:
                continue
            xy, xyz = np.asarray(frame.xy, np.float64), np.asarray(frame.xyz, np.float64)
        else:
            if points == "mesh":
                depth, mask = visible_mesh_pixels(mesh, frame, crop.depth_tolerance)
                if frame.mask is not None:
                    mask &= frame.mask
            else:
                if frame.depth is None:
                    raise DatabaseError(f"frame {frame.name or index}: points='depth' but the frame has no depth map")
                depth, mask = frame.depth, frame.mask if frame.mask is not None else frame.depth > 0
            xy, xyz = depth_to_object_points(depth, frame.K, frame.T_cam_obj, mask & region.pixel_grid((h, w), pixel_stride))
            if frame.mask is None and points == "depth":
                inside = np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)
                xy, xyz = xy[inside], xyz[inside]
        xy_crop = region.to_crop(xy)
        inside = np.all((xy_crop >= -0.5) & (xy_crop < np.asarray(region.size) - 0.5), axis=1)
        xy, xyz, xy_crop = xy[inside], xyz[inside], xy_crop[inside]
        if len(xy) == 0:
            continue
        grid = features(image_to_tensor(region.apply(frame.rgb), features.device))
        desc = DenseFeatures.sample(grid, torch.from_numpy(xy_crop).float().to(features.device), (region.size[1], region.size[0]))
        descriptors.append(desc)
        xyzs.append(xyz.astype(np.float32))
        view_ids.append(np.full(len(xy), index, np.int32))
        pixels.append(xy.astype(np.float32))
    desc, xyz, ids, px = cap_features(descriptors, xyzs, view_ids, pixels, max_features, seed)
    if len(desc) == 0:
        raise DatabaseError(f"{name}: no object points in any of {count} frames")
    meta = database_meta(features, name, xyz, mesh_object=mesh, source=f"video:{points}:{'crop' if crop.enabled else 'whole'}", views=count, mesh=mesh_path)
    if box is not None and mesh is None:
        meta.bbox = [list(map(float, box[0])), list(map(float, box[1]))]
        meta.diameter = float(np.linalg.norm(box[1] - box[0]))
    return ObjectDatabase(desc, xyz, ids, px, meta)

