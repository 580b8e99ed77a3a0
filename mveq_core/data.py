"""Multiview training and evaluation data: object view sources, render folders, pair sampling, augmentation.

Three sources give the same :class:`ObjectViews` interface:

- :class:`RenderedObject`: a folder written by ``mveq render`` (BOP-style layout, docs/data_formats.md);
- :class:`MeshObject`: any mesh (an Objaverse-style ``.glb`` folder, a CAD file), rendered on the fly;
- procedural textured objects (:mod:`mveq_core.procedural`), rendered on the fly.

:class:`PairSampler` draws two views of one object under ``max_view_angle_deg`` apart and samples
``points_per_view`` object pixels of each with their object coordinates in *object-normalised*
units (the largest bounding-box side is 1), as the paper's loss thresholds expect.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .correspondences import dense_correspondences
from .geometry import (
    depth_to_object_points,
    intrinsics_from_values,
    make_transform,
    random_rotation,
    sphere_viewpoints,
    view_angle_deg,
    viewpoint_poses,
)
from .io import MveqError, read_image_raw, read_image_rgb, read_json, write_image_atomic, write_json_atomic

log = logging.getLogger(__name__)

RENDER_FORMAT_VERSION = 1
DEPTH_SCALE_MM = 0.1  # BOP convention: depth_mm = png_value * depth_scale
MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply", ".stl", ".off")


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


class ObjectViews(Protocol):
    name: str
    extent: float  # largest bounding-box side, metres: the object-normalisation scale

    def num_views(self) -> int: ...

    def pose(self, index: int) -> np.ndarray: ...

    def view(self, index: int, rng: np.random.Generator | None = None) -> View: ...


# ------------------------------------------------------------------------------------------------
# Rendering on the fly

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


OPENCV_SAMPLE_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
# Natural photographs among OpenCV's sample images (Debian package opencv-doc), split so that
# training textures never appear in held-out evaluation objects. graf1/graf3 are kept apart for the
# homography check.
OPENCV_PHOTOS = {
    "train": ["aero1.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "building.jpg", "fruits.jpg", "home.jpg",
              "leuvenA.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg", "aloeL.jpg"],
    "heldout": ["butterfly.jpg", "starry_night.jpg", "smarties.png", "HappyFish.jpg", "box_in_scene.png", "licenseplate_motion.jpg"],
}


def opencv_sample_photos(split: str = "train", root: Path = OPENCV_SAMPLE_DATA) -> list[np.ndarray]:
    """The train or held-out photographs of :data:`OPENCV_PHOTOS` (needs Debian's opencv-doc)."""
    names = OPENCV_PHOTOS[split]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: missing {', '.join(missing)}; install Debian's opencv-doc")
    return [read_image_rgb(root / n) for n in names]


def load_photos(spec: str | None) -> list[np.ndarray] | None:
    """Photos named by ``spec``: None, ``"opencv:train"``/``"opencv:heldout"``, or an image folder."""
    if not spec:
        return None
    if spec.startswith("opencv:"):
        return opencv_sample_photos(spec.split(":", 1)[1])
    return read_image_folder(spec)


def read_image_folder(folder: str | os.PathLike, limit: int | None = None) -> list[np.ndarray]:
    """RGB images (.png/.jpg) of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:limit]
    if not paths:
        raise MveqError(f"{folder}: no .png/.jpg images")
    return [read_image_rgb(p) for p in paths]


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


# ------------------------------------------------------------------------------------------------
# Render folders (written by ``mveq render``)


def write_render_folder(out_dir: str | os.PathLike, obj: MeshObject, seed: int = 0, progress: bool = True) -> Path:
    """Render all viewpoints of ``obj`` into ``out_dir/<name>/`` (layout in docs/data_formats.md)."""
    from tqdm import tqdm

    folder = Path(out_dir) / obj.name
    for sub in ("rgb", "depth", "mask"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cameras, gts = {}, {}
    for i in tqdm(range(obj.num_views()), desc=f"render {obj.name}", disable=not progress, leave=False):
        view = obj.view(i, rng)
        write_image_atomic(folder / "rgb" / f"{i:06d}.png", view.rgb)
        depth_png = np.clip(np.round(view.depth * 1000.0 / DEPTH_SCALE_MM), 0, 65535).astype(np.uint16)
        write_image_atomic(folder / "depth" / f"{i:06d}.png", depth_png)
        write_image_atomic(folder / "mask" / f"{i:06d}.png", view.mask.astype(np.uint8) * 255)
        cameras[str(i)] = {"cam_K": view.K.reshape(-1).tolist(), "depth_scale": DEPTH_SCALE_MM}
        gts[str(i)] = [{"cam_R_m2c": view.T_cam_obj[:3, :3].reshape(-1).tolist(), "cam_t_m2c": (view.T_cam_obj[:3, 3] * 1000.0).tolist(), "obj_id": 1}]
    write_json_atomic(folder / "scene_camera.json", cameras)
    write_json_atomic(folder / "scene_gt.json", gts)
    write_json_atomic(
        folder / "object.json",
        {"format_version": RENDER_FORMAT_VERSION, "name": obj.name, "units": "m", "extent": obj.extent, "bbox_centre": obj.centre.tolist(), "views": obj.num_views()},
    )
    return folder


class RenderedObject:
    """Views read from a render folder. Images are loaded on demand."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        meta = read_json(self.folder / "object.json")
        if meta.get("format_version") != RENDER_FORMAT_VERSION:
            raise MveqError(f"{self.folder / 'object.json'}: unsupported format_version {meta.get('format_version')!r}")
        self.name = str(meta.get("name", self.folder.name))
        self.extent = float(meta["extent"])
        cameras = read_json(self.folder / "scene_camera.json")
        gts = read_json(self.folder / "scene_gt.json")
        self._ids = sorted(int(k) for k in cameras)
        try:
            self._K = {i: np.asarray(cameras[str(i)]["cam_K"], dtype=np.float64).reshape(3, 3) for i in self._ids}
            self._depth_scale = {i: float(cameras[str(i)].get("depth_scale", 1.0)) for i in self._ids}
            self._T = {
                i: make_transform(np.asarray(gts[str(i)][0]["cam_R_m2c"], float).reshape(3, 3), np.asarray(gts[str(i)][0]["cam_t_m2c"], float) / 1000.0)
                for i in self._ids
            }
        except (KeyError, IndexError, ValueError) as exc:
            raise MveqError(f"{self.folder}: scene_camera.json/scene_gt.json missing a field ({exc})") from None

    def num_views(self) -> int:
        return len(self._ids)

    def pose(self, index: int) -> np.ndarray:
        return self._T[self._ids[index]]

    def view(self, index: int, rng: np.random.Generator | None = None) -> View:
        i = self._ids[index]
        rgb = read_image_rgb(self.folder / "rgb" / f"{i:06d}.png")
        depth = read_image_raw(self.folder / "depth" / f"{i:06d}.png").astype(np.float32) * self._depth_scale[i] / 1000.0
        mask_path = self.folder / "mask" / f"{i:06d}.png"
        mask = read_image_raw(mask_path) > 0 if mask_path.is_file() else depth > 0
        return View(rgb, depth, mask & (depth > 0), self._K[i], self._T[i])


def open_render_folders(root: str | os.PathLike) -> list[RenderedObject]:
    """One render folder, or a folder of them."""
    root = Path(root)
    if (root / "object.json").is_file():
        return [RenderedObject(root)]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: render folder not found")
    objects = [RenderedObject(p) for p in sorted(root.iterdir()) if (p / "object.json").is_file()]
    if not objects:
        raise MveqError(f"{root}: no render folders (with object.json) inside; write them with `mveq render`")
    return objects


# ------------------------------------------------------------------------------------------------
# Pairs for training


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
        self._backgrounds = _load_backgrounds(config.background)

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


def _load_backgrounds(background: str) -> list[np.ndarray] | None:
    if background in ("black", "random"):
        return None
    if not background.startswith("opencv:") and not Path(background).is_dir():
        raise FileNotFoundError(f"{background}: background image folder not found (or use 'random' / 'black')")
    return load_photos(background)


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


def held_out_pose(obj: MeshObject, rng: np.random.Generator, distance_jitter: float = 0.2) -> np.ndarray:
    """A random viewpoint of ``obj`` (uniform rotation) at the view distance, for held-out checks."""
    R = random_rotation(rng)
    distance = obj.config.distance_in_extents * obj.extent * (1.0 + rng.uniform(-distance_jitter, distance_jitter))
    T = make_transform(R, np.array([0.0, 0.0, distance]))
    return T @ make_transform(np.eye(3), -obj.centre)

