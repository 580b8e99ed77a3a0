"""Render-vs-photo training pairs: a real photo of an object at its ground-truth pose against renders
of the object's mesh (same pose or nearby), with exact pixel correspondences from the rendered depth.

Each :class:`PhotoObject` is one annotated real frame. View 0 is the photo, cropped square around
the object at the training size (its geometry is the mesh rendered at the ground-truth pose; the
real background stays); every other view is a render of the mesh in the same crop camera, at the
ground-truth pose (half the time: the pure render-vs-photo case) or the object turned about its
centre by up to ``max_turn_deg``, under random lighting. The pair sampler always pairs view 0
with another view (``pair_with_first``).
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from .geometry import make_transform, projected_points_box, rotation_matrix_axis_angle
from .render import View, render_view

log = logging.getLogger(__name__)


def square_crop_camera(box: Sequence[float], K: np.ndarray, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """(M (2, 3) affine image -> crop, K of the crop) for a ``size`` x ``size`` crop centred on ``box``
    whose side is the box's longer side grown by ``margin`` per side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    s = size / side
    cx, cy = (x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5  # centre in pixel-centre coordinates
    c = (size - 1) / 2
    M = np.array([[s, 0.0, c - s * cx], [0.0, s, c - s * cy]])
    K_crop = np.array(K, dtype=np.float64, copy=True)
    K_crop[:2] = M @ K_crop
    return M, K_crop


class PhotoObject:
    """One real annotated photo of a mesh as an ``ObjectViews`` for :class:`mveq_core.pairs.PairSampler`."""

    pair_with_first = True

    def __init__(self, name: str, mesh, rgb: np.ndarray, K: np.ndarray, T_cam_obj: np.ndarray, box: Sequence[float], size: int = 512, margin: float = 0.15, renders: int = 24, max_turn_deg: float = 45.0):
        import cv2

        self.name = name
        self.mesh = mesh
        lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
        self.extent = float((hi - lo).max())
        self.centre = (lo + hi) / 2
        self.size = size
        M, self.K = square_crop_camera(box, K, size, margin)
        self.photo = cv2.warpAffine(rgb, M, (size, size), flags=cv2.INTER_AREA if M[0, 0] < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self.T = np.asarray(T_cam_obj, dtype=np.float64)
        self.renders = renders
        self.max_turn_deg = max_turn_deg
        self._geometry: View | None = None

    def num_views(self) -> int:
        return 1 + self.renders

    def pose(self, index: int) -> np.ndarray:
        if index == 0 or index % 2 == 1:  # odd renders: the ground-truth pose itself
            return self.T
        rng = np.random.default_rng([index, 17])
        axis = rng.normal(size=3)
        R_turn = rotation_matrix_axis_angle(axis / np.linalg.norm(axis), np.deg2rad(rng.uniform(5.0, self.max_turn_deg)))
        R = R_turn @ self.T[:3, :3]
        centre_cam = self.T[:3, :3] @ self.centre + self.T[:3, 3]
        return make_transform(R, centre_cam - R @ self.centre)  # turned about the object's centre

    def view(self, index: int, rng: np.random.Generator | None = None) -> View:
        if index == 0:
            if self._geometry is None:
                self._geometry = render_view(self.mesh, self.K, self.T, (self.size, self.size), None, False)
            g = self._geometry
            return View(self.photo, g.depth, g.mask, self.K, self.T, photo=True)
        return render_view(self.mesh, self.K, self.pose(index), (self.size, self.size), rng if rng is not None else np.random.default_rng(index), True)


def photo_objects(real_sets, size: int = 512) -> list[PhotoObject]:
    """A :class:`PhotoObject` for every annotated instance with a mesh that is in view.

    Nothing is rendered here: the crop box is the projected mesh (no GL context may exist in the
    process that forks the data-loader workers; on NVIDIA EGL a forked context hung the machine).
    """
    out = []
    for real in real_sets:
        for frame in real.frames:
            for ann in frame.annotations:
                obj = real.objects[ann.object]
                if obj.mesh_path is None:
                    continue
                box = ann.box or projected_points_box(obj.points, ann.T_cam_obj, frame.K, frame.rgb.shape[:2], min_side=8.0, all_in_front=False)
                if box is None:
                    continue
                out.append(PhotoObject(f"{real.name}/{frame.name}/{ann.object}", obj.mesh(), frame.rgb, frame.K, ann.T_cam_obj, box, size))
    log.info("%d render-vs-photo objects from %s", len(out), ", ".join(r.name for r in real_sets))
    return out
