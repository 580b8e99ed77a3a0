"""Training pairs: two views of one object under ``max_view_angle_deg`` apart, ``points_per_view``
object pixels of each with their object coordinates in *object-normalised* units (the largest
bounding-box side is 1, as the paper's loss thresholds expect), affine and colour augmentation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .correspondences import dense_correspondences
from .geometry import (
    depth_to_object_points,
    view_angle_deg,
)
from .io import MveqError
from .objects import ObjectViews
from .photos import load_backgrounds
from .render import View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairConfig:
    """Pair sampling and augmentation; defaults are the paper's (3000 pixels, views < 120 deg)."""

    points_per_view: int = 3000
    max_view_angle_deg: float = 120.0
    background: str = "random"  # "black" (as the paper's renders), "random", a folder of images, "opencv:train"
    color_augment: bool = True
    geometric_augment: float = 0.5  # probability of a random affine warp per view
    # Share of each view's pixels drawn as exact correspondences of the other view. The paper
    # samples uniformly (0.0); at small image sizes uniform samples rarely hit a positive.
    matched_fraction: float = 0.0


class PairSampler:
    """Draws training pairs from a list of :class:`ObjectViews`; all randomness comes from ``rng``."""

    def __init__(self, objects: Sequence[ObjectViews], config: PairConfig = PairConfig()):
        if not objects:
            raise MveqError("no training objects")
        self.objects = list(objects)
        self.config = config
        self._backgrounds = load_backgrounds(config.background)

    def _pick_views(self, obj: ObjectViews, rng: np.random.Generator) -> tuple[int, int]:
        n = obj.num_views()
        # objects built around one real photo pair it (view 0) with one of their renders
        a = 0 if getattr(obj, "pair_with_first", False) else int(rng.integers(n))
        for _ in range(100):
            b = int(rng.integers(n))
            if b != a and view_angle_deg(obj.pose(a), obj.pose(b)) < self.config.max_view_angle_deg:
                return a, b
        raise MveqError(f"{obj.name}: no two views under {self.config.max_view_angle_deg} degrees apart")

    def sample(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A pair: ``rgb_a/rgb_b`` (H, W, 3) uint8, ``xy_a/xy_b`` (P, 2) pixels, ``xyz_a/xyz_b`` (P, 3)
        object-normalised coordinates, ``valid_a/valid_b`` (P,) bool."""
        obj = self.objects[int(rng.integers(len(self.objects)))]
        a, b = self._pick_views(obj, rng)
        view_a, view_b = obj.view(a, rng), obj.view(b, rng)
        pixels_a, pixels_b = self._pick_pixels(view_a, view_b, rng)
        out: dict[str, np.ndarray] = {}
        for tag, view, pixels in (("a", view_a, pixels_a), ("b", view_b, pixels_b)):
            rgb, xy, xyz, valid = self._prepare(view, pixels, obj.extent, rng)
            out[f"rgb_{tag}"], out[f"xy_{tag}"], out[f"xyz_{tag}"], out[f"valid_{tag}"] = rgb, xy, xyz, valid
        return out

    def _pick_pixels(self, view_a: View, view_b: View, rng: np.random.Generator):
        """(xy, xyz_obj) of P pixels per view: ``matched_fraction`` of them exact correspondences
        (same 3D point seen in both views), the rest uniform over each object mask (the paper)."""
        P = self.config.points_per_view
        picks = []
        for view in (view_a, view_b):
            xy_all, xyz_all = depth_to_object_points(view.depth, view.K, view.T_cam_obj, view.mask)
            if len(xy_all) == 0:
                picks.append((np.zeros((0, 2)), np.zeros((0, 3))))
                continue
            index = rng.choice(len(xy_all), P, replace=len(xy_all) < P)
            picks.append((xy_all[index], xyz_all[index]))
        matched = int(round(self.config.matched_fraction * P))
        if matched and len(picks[0][0]) and len(picks[1][0]):
            corr = dense_correspondences(view_a.depth, view_a.K, view_a.T_cam_obj, view_b.depth, view_b.K, view_b.T_cam_obj, view_a.mask)
            if len(corr):
                index = rng.choice(len(corr), min(matched, len(corr)), replace=False)
                m = len(index)
                picks[0] = (np.concatenate([corr.xy_a[index], picks[0][0][m:]]), np.concatenate([corr.xyz_obj[index], picks[0][1][m:]]))
                picks[1] = (np.concatenate([corr.xy_b[index], picks[1][0][m:]]), np.concatenate([corr.xyz_obj[index], picks[1][1][m:]]))
        return picks

    def _prepare(self, view: View, pixels, extent: float, rng: np.random.Generator):
        cfg = self.config
        P = cfg.points_per_view
        xy, xyz = pixels
        if len(xy) == 0:
            return view.rgb, np.zeros((P, 2), np.float32), np.zeros((P, 3), np.float32), np.zeros(P, bool)
        xyz = xyz / extent
        rgb, mask = view.rgb, view.mask
        if cfg.background != "black" and not view.photo:
            from .render import composite, random_background

            rgb = composite(rgb, mask, random_background(rgb.shape[0], rgb.shape[1], rng, self._backgrounds))
        valid = np.ones(P, bool)
        if cfg.geometric_augment > 0 and rng.random() < cfg.geometric_augment:
            rgb, xy, valid = random_affine(rgb, xy, rng)
        if cfg.color_augment:
            rgb = color_augment(rgb, rng)
        return rgb, xy.astype(np.float32), xyz.astype(np.float32), valid


def random_affine(rgb: np.ndarray, xy: np.ndarray, rng: np.random.Generator, shift: float = 0.25, scale: float = 0.25, rotate_deg: float = 45.0):
    """Warp an image and its points by a random similarity (the paper's ShiftScaleRotate ranges).

    Returns the warped image, the moved points and which points stay inside the image.
    """
    import cv2

    h, w = rgb.shape[:2]
    angle = rng.uniform(-rotate_deg, rotate_deg)
    s = 1.0 + rng.uniform(-scale, scale)
    M = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, s)
    M[:, 2] += rng.uniform(-shift, shift, 2) * np.array([w, h])
    warped = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    moved = xy @ M[:, :2].T + M[:, 2]
    inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
    return warped, moved, inside


def color_augment(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast/saturation jitter, Gaussian noise and blur, each at random strength."""
    import cv2

    img = rgb.astype(np.float32)
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-25, 25)
    mean = img.mean()
    img = (img - mean) * rng.uniform(0.7, 1.3) + mean
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * rng.uniform(0.6, 1.4)
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(2, 10), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    return img


class PairDataset:
    """Index -> pair; sample ``i`` depends only on (seed, i), so a resumed run sees the same data.

    A torch ``Dataset`` by duck typing (``__len__``/``__getitem__``) that returns tensors.
    """

    def __init__(self, sampler: PairSampler, seed: int, start: int, stop: int):
        self.sampler, self.seed, self.start, self.stop = sampler, seed, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int):
        import torch

        rng = np.random.default_rng([self.seed, self.start + index])
        pair = self.sampler.sample(rng)
        out = {}
        for key, value in pair.items():
            if key.startswith("rgb"):
                out[key] = torch.from_numpy(np.ascontiguousarray(value)).permute(2, 0, 1).float() / 255.0
            else:
                out[key] = torch.from_numpy(np.ascontiguousarray(value))
        return out

