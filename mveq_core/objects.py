"""Object view sources rendered on the fly: any mesh (:class:`MeshObject`, e.g. an Objaverse-style
``.glb`` folder or a CAD file) and procedural textured objects, behind one :class:`ObjectViews`
interface (render folders, :mod:`mveq_core.render_folders`, give the same); held-out poses."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .geometry import (
    make_transform,
    random_rotation,
    sphere_viewpoints,
    viewpoint_poses,
)
from .io import MveqError
from .render import View, ViewConfig, render_view

log = logging.getLogger(__name__)


MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


class ObjectViews(Protocol):
    name: str
    extent: float  # largest bounding-box side, metres: the object-normalisation scale

    def num_views(self) -> int: ...

    def pose(self, index: int) -> np.ndarray: ...

    def view(self, index: int, rng: np.random.Generator | None = None) -> View: ...


class MeshObject:
    """A mesh (metres, any origin) rendered on the fly from icosphere viewpoints around its centre."""

    def __init__(self, mesh, name: str, config: ViewConfig = ViewConfig()):
        self.mesh = mesh
        self.name = name
        self.config = config
        lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
        self.centre = (lo + hi) / 2.0
        self.extent = float((hi - lo).max())
        self._directions = sphere_viewpoints(config.views)

    def num_views(self) -> int:
        return len(self._directions)

    def pose(self, index: int, inplane_deg: float = 0.0) -> np.ndarray:
        T = viewpoint_poses(self._directions[index : index + 1], self.config.distance_in_extents * self.extent, inplane_deg)[0]
        return T @ make_transform(np.eye(3), -self.centre)

    def view(self, index: int, rng: np.random.Generator | None = None) -> View:
        inplane = float(rng.uniform(0, 360)) if (rng is not None and self.config.inplane_rotation) else 0.0
        size = self.config.image_size
        return render_view(self.mesh, self.config.intrinsics(), self.pose(index, inplane), (size, size), rng, self.config.random_lighting)

    def view_at(self, T_cam_obj: np.ndarray, rng: np.random.Generator | None = None) -> View:
        size = self.config.image_size
        return render_view(self.mesh, self.config.intrinsics(), T_cam_obj, (size, size), rng, self.config.random_lighting)


def procedural_objects(count: int, seed: int = 0, config: ViewConfig = ViewConfig(), photos: list[np.ndarray] | None = None) -> list[MeshObject]:
    """``count`` procedural textured objects (0.2 m) as on-the-fly sources; ``photos`` (RGB images)
    texture them with crops of real photographs instead of synthetic patterns."""
    from .procedural import procedural_object

    prefix = "photo" if photos else "procedural"
    return [MeshObject(procedural_object(seed + i, photos=photos), f"{prefix}_{seed + i:05d}", config) for i in range(count)]


def mesh_objects(paths: Sequence[str | os.PathLike], config: ViewConfig = ViewConfig(), units: str = "m") -> list[MeshObject]:
    from .render import load_mesh

    return [MeshObject(load_mesh(p, units), Path(p).stem, config) for p in paths]


def find_meshes(directory: str | os.PathLike) -> list[Path]:
    """Mesh files below a folder (Objaverse's ``glbs/000-000/*.glb`` layout included), sorted."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: mesh folder not found")
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in MESH_SUFFIXES and p.is_file())
    if not paths:
        raise MveqError(f"{directory}: no mesh files ({', '.join(MESH_SUFFIXES)}) found")
    return paths


def held_out_pose(obj: MeshObject, rng: np.random.Generator, distance_jitter: float = 0.2) -> np.ndarray:
    """A random viewpoint of ``obj`` (uniform rotation) at the view distance, for held-out checks."""
    R = random_rotation(rng)
    distance = obj.config.distance_in_extents * obj.extent * (1.0 + rng.uniform(-distance_jitter, distance_jitter))
    T = make_transform(R, np.array([0.0, 0.0, distance]))
    return T @ make_transform(np.eye(3), -obj.centre)

