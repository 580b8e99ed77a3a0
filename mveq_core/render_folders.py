"""Render folders written by ``mveq render`` (BOP-style layout, docs/data_formats.md) and read back as
object view sources."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .geometry import (
    make_transform,
)
from .io import MveqError, read_image_raw, read_image_rgb, read_json, write_image_atomic, write_json_atomic
from .objects import MeshObject
from .render import View

log = logging.getLogger(__name__)


RENDER_FORMAT_VERSION = 1


DEPTH_SCALE_MM = 0.1  # BOP convention: depth_mm = png_value * depth_scale


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

