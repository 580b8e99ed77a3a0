"""Headless rendering of meshes (pyrender + trimesh): RGB, metric depth and mask at OpenCV poses.

This module is the only place where OpenCV camera poses are turned into OpenGL ones and where
pixel-centre conventions are reconciled: OpenCV puts pixel centres at integers, OpenGL at +0.5.
"""

from __future__ import annotations

import atexit
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import OPENGL_FROM_OPENCV, check_intrinsics, intrinsics_from_values, invert_transform
from .io import MveqError

# Headless by default: EGL (GPU or Mesa llvmpipe). Set PYOPENGL_PLATFORM=osmesa to use OSMesa.
# pyrender imports pyglet (for its viewer); headless pyglet does not look for X11 libraries.
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    os.environ.setdefault("PYGLET_HEADLESS", "1")

log = logging.getLogger(__name__)


def _load_triton_before_mesa() -> None:
    """Mesa's llvmpipe (software EGL/OSMesa) and Triton each load an LLVM; if Mesa's comes first,
    importing Triton later (torchvision and timm do) crashes the process. Loading Triton first is
    safe, so do it before the first GL context when Triton is installed."""
    try:
        import triton  # noqa: F401
    except Exception:
        pass


UNIT_SCALES = {"m": 1.0, "cm": 0.01, "mm": 0.001}


class RenderError(MveqError):
    """Headless OpenGL could not start."""


@dataclass
class RenderOutput:
    """One rendered view: ``rgb`` (H, W, 3) uint8, ``depth`` (H, W) float32 metres (0 = background),
    ``mask`` (H, W) bool."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def load_mesh(path: str | os.PathLike, units: str = "m"):
    """Load any trimesh-readable mesh or scene (.obj with textures, .ply with colours, .glb) in metres.

    Returns a ``trimesh.Trimesh`` or ``trimesh.Scene`` scaled by ``units`` ('m', 'cm', 'mm').
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mesh file not found")
    if units not in UNIT_SCALES:
        raise ValueError(f"units must be one of {sorted(UNIT_SCALES)}, got {units!r}")
    try:
        loaded = trimesh.load(str(path), process=False)
    except Exception as exc:
        raise ValueError(f"{path}: could not load mesh ({type(exc).__name__}: {exc})") from None
    if isinstance(loaded, trimesh.Scene) and len(loaded.geometry) == 0 or getattr(loaded, "is_empty", False):
        raise ValueError(f"{path}: mesh has no geometry")
    scale = UNIT_SCALES[units]
    if scale != 1.0:
        loaded.apply_scale(scale)
    return loaded


def mesh_points(mesh, count: int = 20000, seed: int = 0) -> np.ndarray:
    """Points (N, 3) sampled on the surface of a mesh or scene (for diameters, ADD, VSD)."""
    import trimesh

    geom = mesh.dump(concatenate=True) if isinstance(mesh, trimesh.Scene) else mesh
    points, _ = trimesh.sample.sample_surface(geom, count, seed=seed)
    return np.asarray(points)


def mesh_bounds(mesh) -> np.ndarray:
    """Axis-aligned bounds (2, 3) of a mesh or scene."""
    return np.asarray(mesh.bounds, dtype=np.float64)


def mesh_diameter(mesh) -> float:
    """Largest distance between two vertices (BOP's definition), over the convex hull."""
    import trimesh

    from .geometry import points_diameter

    geom = mesh.dump(concatenate=True) if isinstance(mesh, trimesh.Scene) else mesh
    return points_diameter(np.asarray(geom.vertices))


_CONTEXTS: dict[tuple[int, int, int], object] = {}


def _release_contexts() -> None:
    """Delete the GL contexts while Python is still whole (pyrender's __del__ at interpreter
    shutdown prints errors instead)."""
    for key in list(_CONTEXTS):
        renderer = _CONTEXTS.pop(key)
        if key[0] != os.getpid():
            continue  # a fork parent's context: not ours to delete
        try:
            renderer.delete()
        except Exception:
            pass


atexit.register(_release_contexts)


def _offscreen_context(width: int, height: int):
    """One pyrender OffscreenRenderer per process and size, kept for the life of the process.

    Deleting a pyrender EGL renderer terminates the EGL display that every other context of the
    process shares, so contexts are never deleted; fork children make their own.
    """
    key = (os.getpid(), width, height)
    if key not in _CONTEXTS:
        _load_triton_before_mesa()
        try:
            import pyrender

            _CONTEXTS[key] = pyrender.OffscreenRenderer(width, height)
        except Exception as exc:  # OpenGL import or context creation fails without libEGL/libOSMesa
            raise RenderError(_platform_help(exc)) from None
    return _CONTEXTS[key]


class Renderer:
    """Renders meshes at a fixed image size; reuse it for many views.

    Not thread-safe: use one per thread/process. The GL context behind it is shared by all
    renderers of the same size in the process.
    """

    def __init__(self, width: int, height: int):
        self.width, self.height = int(width), int(height)
        self._renderer = _offscreen_context(self.width, self.height)
        self._scene_cache: dict[int, object] = {}

    def close(self) -> None:
        self._scene_cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _scene_for(self, mesh):
        import pyrender
        import trimesh

        key = id(mesh)
        cached = self._scene_cache.get(key)
        if cached is not None and cached[0] is mesh:
            return cached[1]
        scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[1.0, 1.0, 1.0])
        if isinstance(mesh, trimesh.Scene):
            for node_name in mesh.graph.nodes_geometry:
                transform, geom_name = mesh.graph[node_name]
                scene.add(pyrender.Mesh.from_trimesh(mesh.geometry[geom_name], smooth=False), pose=transform)
        else:
            scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
        if len(self._scene_cache) > 8:
            self._scene_cache.clear()
        self._scene_cache[key] = (mesh, scene)
        return scene

    def render(
        self,
        mesh,
        K: np.ndarray,
        T_cam_obj: np.ndarray,
        ambient: float = 0.6,
        light_intensity: float = 2.0,
        light_direction_cam: np.ndarray | None = None,
        znear: float | None = None,
        zfar: float | None = None,
        flat: bool = False,
    ) -> RenderOutput:
        """Render ``mesh`` (from :func:`load_mesh`, metres) seen with intrinsics ``K`` at ``T_cam_obj``.

        Lighting: ambient light of strength ``ambient`` and one directional light of
        ``light_intensity`` travelling along ``light_direction_cam`` (OpenCV camera frame; default
        (0, 0, 1): a headlight). ``flat`` renders the colours without any lighting (e.g. vertex
        colours that encode object coordinates).
        """
        import pyrender

        K = check_intrinsics(K)
        scene = self._scene_for(mesh)
        if znear is None or zfar is None:
            # Clip planes hugging the object keep the depth buffer's precision (0.01 mm, not 0.1 mm).
            lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
            centre_z = float((T_cam_obj[:3, :3] @ ((lo + hi) / 2) + T_cam_obj[:3, 3])[2])
            radius = float(np.linalg.norm(hi - lo)) / 2
            znear = znear or max(1e-3, 0.9 * (centre_z - radius))
            zfar = zfar or max(znear * 2, 1.1 * (centre_z + radius))
        scene.ambient_light = np.full(3, ambient)
        # OpenCV pixel centres are at integers, OpenGL's at +0.5: shift the principal point.
        camera = pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2] + 0.5, K[1, 2] + 0.5, znear=znear, zfar=zfar)
        camera_pose_gl = invert_transform(T_cam_obj) @ OPENGL_FROM_OPENCV  # camera-to-object, OpenGL axes
        cam_node = scene.add(camera, pose=camera_pose_gl)
        light_node = None
        if light_intensity > 0:
            direction = np.array([0.0, 0.0, 1.0]) if light_direction_cam is None else np.asarray(light_direction_cam, float)
            # pyrender lights shine along their node's -z axis.
            light_pose = invert_transform(T_cam_obj) @ _pose_with_z_axis(-direction)
            light_node = scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=light_intensity), pose=light_pose)
        try:
            flags = pyrender.RenderFlags.FLAT if flat else pyrender.RenderFlags.NONE
            color, depth = self._renderer.render(scene, flags=flags)
        finally:
            scene.remove_node(cam_node)
            if light_node is not None:
                scene.remove_node(light_node)
        depth = depth.astype(np.float32)
        return RenderOutput(rgb=np.ascontiguousarray(color[..., :3]), depth=depth, mask=depth > 0)


def _pose_with_z_axis(direction: np.ndarray) -> np.ndarray:
    """A rotation-only pose whose +z axis points along ``direction``."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], axis=1)
    return T


def _platform_help(exc: Exception) -> str:
    platform = os.environ.get("PYOPENGL_PLATFORM", "(unset)")
    return (
        f"headless OpenGL rendering failed with PYOPENGL_PLATFORM={platform} ({type(exc).__name__}: {exc}). "
        "Install EGL (Debian: libegl1 libgl1-mesa-dri) or OSMesa (libosmesa6) and set "
        "PYOPENGL_PLATFORM=egl or osmesa before starting Python."
    )


def composite(rgb: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Paste the rendered object (``mask``) over ``background`` (H, W, 3) uint8."""
    out = background.copy()
    out[mask] = rgb[mask]
    return out


def random_background(height: int, width: int, rng: np.random.Generator, images: list[np.ndarray] | None = None) -> np.ndarray:
    """A random background: a crop of one of ``images`` when given, else colour noise or gradients."""
    import cv2

    if images:
        image = images[int(rng.integers(len(images)))]
        scale = max(height / image.shape[0], width / image.shape[1]) * rng.uniform(1.0, 1.5)
        resized = cv2.resize(image, (int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale))))
        y = int(rng.integers(0, resized.shape[0] - height + 1))
        x = int(rng.integers(0, resized.shape[1] - width + 1))
        return np.ascontiguousarray(resized[y : y + height, x : x + width])
    kind = rng.integers(3)
    if kind == 0:
        return np.broadcast_to(rng.integers(0, 256, size=3, dtype=np.uint8), (height, width, 3)).copy()
    if kind == 1:
        small = rng.integers(0, 256, size=(max(2, height // 32), max(2, width // 32), 3)).astype(np.uint8)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = rng.integers(0, 256, size=(height, width, 3)).astype(np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), sigmaX=float(rng.uniform(0.5, 4.0)))


@dataclass(frozen=True)
class ViewConfig:
    """How views of an object are made.

    Defaults follow the paper's renders: 512 px, focal length 560 px per 512 px of image (35 mm lens
    on a 32 mm sensor), camera 2 object-extents from the centre, 42 icosphere viewpoints.
    """

    image_size: int = 512
    focal_per_pixel: float = 560.0 / 512.0
    distance_in_extents: float = 2.0
    views: int = 42
    inplane_rotation: bool = True
    random_lighting: bool = True

    def intrinsics(self) -> np.ndarray:
        f = self.focal_per_pixel * self.image_size
        c = (self.image_size - 1) / 2.0
        return intrinsics_from_values(f, f, c, c)


@dataclass
class View:
    """One view: ``rgb`` (H, W, 3) uint8 (background black), ``depth`` (H, W) metres, ``mask`` (H, W)
    bool, ``K`` (3, 3), ``T_cam_obj`` (4, 4) metres."""

    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    T_cam_obj: np.ndarray
    photo: bool = False  # a real photo: keep its background (the mask marks the object's pixels)


_RENDERERS: dict[tuple[int, int, int], object] = {}


def shared_renderer(width: int, height: int):
    """One renderer (with its scene cache) per process and size."""
    from .render import Renderer

    key = (os.getpid(), width, height)
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(width, height)
    return _RENDERERS[key]


def render_view(mesh, K: np.ndarray, T_cam_obj: np.ndarray, size: tuple[int, int], rng: np.random.Generator | None, random_lighting: bool, flat: bool = False) -> View:
    """Render one view (size = (H, W)); random lighting from ``rng``, or none at all with ``flat``."""
    renderer = shared_renderer(size[1], size[0])
    if flat:
        out = renderer.render(mesh, K, T_cam_obj, flat=True)
    elif rng is not None and random_lighting:
        direction = rng.normal(size=3)
        direction[2] = abs(direction[2]) + 0.5  # light from the camera's side
        out = renderer.render(mesh, K, T_cam_obj, ambient=float(rng.uniform(0.3, 0.8)), light_intensity=float(rng.uniform(0.5, 3.0)), light_direction_cam=direction)
    else:
        out = renderer.render(mesh, K, T_cam_obj)
    return View(out.rgb, out.depth, out.mask, K, T_cam_obj)

