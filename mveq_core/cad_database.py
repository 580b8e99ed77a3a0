"""CAD object databases: the mesh rendered from icosphere viewpoints (optionally several lightings and
camera effects that make renders look captured), features sampled on the object's pixels."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .crop import Crop, mask_box
from .database import DEFAULT_MAX_FEATURES, DatabaseError, ObjectDatabase, cap_features, database_meta, load_database
from .features import DenseFeatures, image_to_tensor
from .geometry import depth_to_object_points, sphere_viewpoints, viewpoint_poses
from .reference_database import ReferenceCropConfig
from .settings import option, require

log = logging.getLogger(__name__)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CadDatabaseConfig:
    """CAD database settings: 96 icosphere views (the paper's) x 4 in-plane turns, object filling ~70%
    of 512 px, each render cropped at the estimator's scale (the real-camera recipe: the only CAD
    set-up measured to find poses in photos, docs/benchmarks.md; session-8 defaults. Figures
    measured before used ``inplane_rotations=1, crop_renders=False``)."""

    views: int = option(96, "icosphere viewpoints rendered", cli="--views")
    # The object's up axis and the camera's roll are unknown: each viewpoint is also rendered turned
    # about the optical axis (360/N degree steps), so a real view's nearest template is never more
    # than 180/N degrees off in-plane (matches survive ~30 degrees; docs/benchmarks.md).
    inplane_rotations: int = option(4, "renders per viewpoint, turned about the optical axis in equal steps", cli="--inplane-rotations")
    image_size: int = option(512, "render size, px (the object fills about 70 %)", cli="--image-size")
    fill: float = 0.7
    pixel_stride: int = option(4, "object pixels sampled every N px of each render", cli="--pixel-stride")
    max_features: int = option(DEFAULT_MAX_FEATURES, "descriptors kept at most (a random subset beyond)", cli="--max-features")
    batch: int = 4
    seed: int = 0
    # no lighting: for meshes whose colours are data (coordinate-coloured)
    flat_shading: bool = option(False, "render colours without lighting", cli="--flat-shading")
    # Render-vs-photo measures (docs/benchmarks.md says which help on real images):
    # lighting_setups > 1 renders each view under that many lightings (the headlight, unlit colours,
    # then random directional lights) and averages each pixel's descriptors over them;
    # camera_effects blurs, adds sensor noise and JPEG-compresses each render before features (the
    # default: on real YCB-Video frames with a textured scan it took 5cm5° from 0 % to 90 %).
    lighting_setups: int = option(1, "lightings per view, descriptors averaged (1: headlight only)", cli="--lighting-setups")
    camera_effects: bool = option(True, "blur, noise, exposure and JPEG on renders before features (measured on real frames: the default)", cli="--camera-effects")
    # Like a query crop (and a reference-video frame): each render is cropped around the object's
    # silhouette with the estimator's margin and scaled to its input size, so templates and queries
    # see the object at one scale (measured on real frames in docs/benchmarks.md).
    crop_renders: bool = option(True, "crop each render around the object at the estimator's scale (crop_margin, crop_size) before features (--no-crop-renders: whole renders)", cli="--crop-renders")
    crop_margin: float = ReferenceCropConfig.margin  # the estimator's default, as for reference-video frames
    crop_size: int = ReferenceCropConfig.input_size

    def __post_init__(self):
        for name in ("views", "inplane_rotations", "image_size", "pixel_stride", "lighting_setups"):
            require(self, name, getattr(self, name) > 0)


# The templates of every CAD figure measured before session 8 (the defaults then): one turn per
# viewpoint and whole renders. ``CadDatabaseConfig(..., **WHOLE_RENDERS)``.
WHOLE_RENDERS = {"inplane_rotations": 1, "crop_renders": False}


@torch.no_grad()
def build_database_from_mesh(
    features: DenseFeatures,
    mesh,
    name: str,
    config: CadDatabaseConfig = CadDatabaseConfig(),
    symmetries: Sequence[np.ndarray] = (),
    mesh_path: str | None = None,
    progress: bool = True,
) -> ObjectDatabase:
    """Render ``mesh`` (metres) from ``config.views`` icosphere viewpoints, keep foreground pixels on
    a ``pixel_stride`` grid with their object points, and cap the total at ``max_features``."""
    from tqdm import tqdm

    from .geometry import intrinsics_from_values, make_transform
    from .render import render_view

    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    centre, radius = (lo + hi) / 2.0, float(np.linalg.norm(hi - lo)) / 2.0
    size = config.image_size
    f = size * 1.2  # ~45 degree field of view
    K = intrinsics_from_values(f, f, (size - 1) / 2.0, (size - 1) / 2.0)
    distance = radius * f / (config.fill * size / 2.0)
    directions = sphere_viewpoints(config.views)
    poses = np.concatenate([viewpoint_poses(directions, distance, 360.0 * k / config.inplane_rotations) for k in range(config.inplane_rotations)]) @ make_transform(np.eye(3), -centre)
    descriptors, xyzs, view_ids, pixels = [], [], [], []
    batch = 1 if config.crop_renders else config.batch  # crops differ in size
    for start in tqdm(range(0, len(poses), batch), desc=f"database {name}", disable=not progress):
        views = [render_view(mesh, K, T, (size, size), None, False, config.flat_shading) for T in poses[start : start + batch]]
        kept = [(start + k, view, region) for k, view in enumerate(views) if (region := _render_region(view.mask, config)) is not None]
        if not kept:
            continue
        grids = _view_features(features, mesh, K, kept, config)
        for k, (index, view, region) in enumerate(kept):
            xy, xyz = depth_to_object_points(view.depth, K, view.T_cam_obj, view.mask & region.pixel_grid((size, size), config.pixel_stride))
            if len(xy) == 0:
                continue
            crop_w, crop_h = region.size
            desc = DenseFeatures.sample(grids[k : k + 1], torch.from_numpy(region.to_crop(xy)).float().to(features.device), (crop_h, crop_w))
            descriptors.append(desc.half() if desc.device.type == "cuda" else desc)
            xyzs.append(xyz.astype(np.float32))
            view_ids.append(np.full(len(xy), index, np.int32))
            pixels.append(xy.astype(np.float32))
    desc, xyz, ids, px = cap_features(descriptors, xyzs, view_ids, pixels, config.max_features, config.seed)
    if len(desc) == 0:
        raise DatabaseError(f"{name}: no object pixels in any view (is the mesh empty or its units wrong?)")
    meta = database_meta(features, name, xyz, mesh_object=mesh, symmetries=[np.asarray(s).tolist() for s in symmetries], source="cad", views=len(poses), mesh=mesh_path,
                         flat_shading=config.flat_shading)
    return ObjectDatabase(desc.float(), xyz, ids, px, meta)


def _lighting_variants(mesh, K: np.ndarray, view, config: CadDatabaseConfig, index: int) -> list[np.ndarray]:
    """RGB renders of one view under ``config.lighting_setups`` lightings (the first is ``view``'s)."""
    from .render import shared_renderer

    images = [view.rgb]
    if config.flat_shading or config.lighting_setups <= 1:
        return images
    renderer = shared_renderer(view.rgb.shape[1], view.rgb.shape[0])
    rng = np.random.default_rng([config.seed, index])
    for k in range(1, config.lighting_setups):
        if k == 1:
            images.append(renderer.render(mesh, K, view.T_cam_obj, flat=True).rgb)
            continue
        direction = rng.normal(size=3)
        direction[2] = abs(direction[2]) + 0.3
        images.append(renderer.render(mesh, K, view.T_cam_obj, ambient=float(rng.uniform(0.2, 0.7)), light_intensity=float(rng.uniform(1.0, 4.0)), light_direction_cam=direction).rgb)
    return images


def camera_effects(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A render made to look captured: slight defocus blur, exposure, sensor noise and JPEG."""
    import cv2

    out = cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(rng.uniform(0.4, 1.2))).astype(np.float32)
    out = out * float(rng.uniform(0.8, 1.2)) + rng.normal(0.0, float(rng.uniform(2.0, 6.0)), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 90))])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else out


def _render_region(mask: np.ndarray, config: CadDatabaseConfig):
    """The part of a render that features are taken from: the object's box enlarged by
    ``crop_margin`` and scaled to ``crop_size`` (``crop_renders``), else the whole render; None when
    the object is not in view."""
    h, w = mask.shape
    if not config.crop_renders:
        return Crop(0, 0, w, h, (w, h))
    box = mask_box(mask)
    return None if box is None else Crop.around((h, w), box, config.crop_margin, config.crop_size)


def _view_features(features: DenseFeatures, mesh, K: np.ndarray, kept, config: CadDatabaseConfig) -> torch.Tensor:
    """(B, C, gh, gw) feature grids of rendered views ``kept`` ((index, view, region) each, cut to
    its region); with several lightings, their mean of L2-normalised grids (one descriptor per
    pixel that no single lighting dominates)."""
    variants = [[region.apply(im) for im in _lighting_variants(mesh, K, view, config, index)] for index, view, region in kept]
    start = kept[0][0]
    if len(variants[0]) == 1 and not config.camera_effects:  # one plain rendering: the raw grid
        return features(torch.cat([image_to_tensor(v[0], features.device) for v in variants]))
    rng = np.random.default_rng([config.seed, start, 7])
    total = None
    for j in range(len(variants[0])):
        images = [camera_effects(v[j], rng) if config.camera_effects else v[j] for v in variants]
        grid = torch.nn.functional.normalize(features(torch.cat([image_to_tensor(im, features.device) for im in images])), dim=1)
        total = grid if total is None else total + grid
    return total


def cached_cad_database(
    features: DenseFeatures,
    mesh,
    name: str,
    config: CadDatabaseConfig,
    cache_path: Path | None,
    symmetries: Sequence[np.ndarray] = (),
    mesh_path: str | None = None,
    progress: bool = True,
) -> ObjectDatabase:
    """:func:`build_database_from_mesh`, kept at ``cache_path``: a cached file built with these
    features is reused, any other (or a damaged one) is rebuilt and replaced."""
    if cache_path is not None and cache_path.is_file():
        try:
            db = load_database(cache_path)
            db.check_compatible(features, cache_path)
            return db
        except DatabaseError as exc:
            log.info("rebuilding %s: %s", cache_path, exc)
    db = build_database_from_mesh(features, mesh, name, config, symmetries=symmetries, mesh_path=mesh_path, progress=progress)
    if cache_path is not None:
        db.save(cache_path)
    return db

