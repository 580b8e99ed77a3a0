"""Official BOP datasets or single scenes (``scene_gt.json``, ``scene_camera.json`` or a ``camera.json``,
``scene_gt_info.json`` and ``mask_visib/`` when present, ``models/`` in mm) read into
:class:`~.realdata.RealSet`."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..geometry import check_intrinsics, make_transform
from ..io import MveqError, read_image_raw, read_image_rgb, read_json

log = logging.getLogger(__name__)

from .realdata import MM, Annotation, RealFrame, RealObject, RealSet, mesh_object, symmetric_names


def _find_models(start: Path, models: Path | None) -> Path:
    if models is not None:
        if not (models / "models_info.json").is_file():
            raise FileNotFoundError(f"{models / 'models_info.json'}: not found (--models must be a BOP models/ folder)")
        return models
    for folder in (start, *start.parents):
        if (folder / "models" / "models_info.json").is_file():
            return folder / "models"
    raise FileNotFoundError(f"{start}: no models/models_info.json here or above (pass --models DIR)")


def _scene_folders(root: Path, scenes: list[int] | None, split: str) -> list[Path]:
    if (root / "scene_gt.json").is_file():
        return [root]
    split_dir = root / split
    if not split_dir.is_dir():
        raise FileNotFoundError(f"{root}: neither a BOP scene (scene_gt.json) nor a dataset with a {split}/ split folder")
    folders = sorted(p for p in split_dir.iterdir() if (p / "scene_gt.json").is_file())
    if scenes is not None:
        wanted = {int(s) for s in scenes}
        missing = wanted - {int(p.name) for p in folders if p.name.isdigit()}
        if missing:
            raise FileNotFoundError(f"{split_dir}: scenes {sorted(missing)} not found")
        folders = [p for p in folders if p.name.isdigit() and int(p.name) in wanted]
    if not folders:
        raise FileNotFoundError(f"{split_dir}: no scene folders with scene_gt.json")
    return folders


def _scene_cameras(scene: Path) -> dict[str, dict]:
    if (scene / "scene_camera.json").is_file():
        return read_json(scene / "scene_camera.json")
    for folder in (scene, *scene.parents):
        cam = folder / "camera.json"
        if cam.is_file():
            c = read_json(cam)
            try:
                K = [c["fx"], 0.0, c["cx"], 0.0, c["fy"], c["cy"], 0.0, 0.0, 1.0]
            except KeyError as exc:
                raise MveqError(f"{cam}: missing field {exc}") from None
            return {"*": {"cam_K": K, "depth_scale": c.get("depth_scale", 1.0)}}
    raise FileNotFoundError(f"{scene / 'scene_camera.json'}: not found (and no camera.json here or above)")


def bop_splits(root: str | Path) -> list[str]:
    """The split folders of a BOP dataset at ``root`` that hold scenes (``test``, ``train_real``, ...);
    ``["."]`` when ``root`` is itself a scene; empty when it is no BOP folder."""
    root = Path(root)
    if (root / "scene_gt.json").is_file():
        return ["."]
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any((q / "scene_gt.json").is_file() for q in p.iterdir() if q.is_dir()))


def load_bop(root: str | Path, scenes: list[int] | None = None, split: str = "test", models: str | Path | None = None, max_frames: int | None = None, frame_step: int = 1) -> RealSet:
    """Frames of BOP scenes (every annotated instance) and the dataset's objects (metres)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: BOP folder not found")
    scene_dirs = _scene_folders(root, scenes, split)
    models_dir = _find_models(scene_dirs[0], Path(models) if models else None)
    models_info = read_json(models_dir / "models_info.json")
    set_name = models_dir.parent.name if models_dir.parent != scene_dirs[0] else root.name
    symmetric = symmetric_names(models_dir, set_name, models_info)
    objects: dict[str, RealObject] = {}
    frames: list[RealFrame] = []
    for scene in scene_dirs:
        gt = read_json(scene / "scene_gt.json")
        cameras = _scene_cameras(scene)
        gt_info = read_json(scene / "scene_gt_info.json") if (scene / "scene_gt_info.json").is_file() else None
        for im_key in sorted(gt, key=int)[::frame_step]:
            if max_frames is not None and len(frames) >= max_frames:
                break
            cam = cameras.get(im_key, cameras.get("*"))
            if cam is None:
                raise MveqError(f"{scene / 'scene_camera.json'}: no camera for image {im_key}")
            K = check_intrinsics(np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3), f"{scene.name}/{im_key} cam_K")
            image_path = next((scene / d / f"{int(im_key):06d}{e}" for d in ("rgb", "gray") for e in (".png", ".jpg", ".tif") if (scene / d / f"{int(im_key):06d}{e}").is_file()), None)
            if image_path is None:
                raise FileNotFoundError(f"{scene / 'rgb' / f'{int(im_key):06d}.png'}: image of frame {im_key} not found")
            depth_path = scene / "depth" / f"{int(im_key):06d}.png"
            depth = read_image_raw(depth_path).astype(np.float32) * float(cam.get("depth_scale", 1.0)) * MM if depth_path.is_file() else None
            annotations = []
            infos = gt_info.get(im_key) if gt_info is not None else None
            for k, inst in enumerate(gt[im_key]):
                try:
                    obj = f"obj_{int(inst['obj_id']):06d}"
                    T = make_transform(np.asarray(inst["cam_R_m2c"], float).reshape(3, 3), np.asarray(inst["cam_t_m2c"], float) * MM)
                except (KeyError, ValueError, TypeError) as exc:
                    raise MveqError(f"{scene / 'scene_gt.json'}: image {im_key} instance {k}: bad field ({exc})") from None
                if obj not in objects:
                    path = models_dir / f"{obj}.ply"
                    if not path.is_file():
                        raise FileNotFoundError(f"{path}: model of {obj} not found")
                    objects[obj] = mesh_object(obj, path, obj in symmetric, models_info.get(str(int(obj[4:])), {}).get("diameter"))
                box, visib = None, 1.0
                if infos is not None and k < len(infos):
                    bb = infos[k].get("bbox_visib")
                    visib = float(infos[k].get("visib_fract", 1.0))
                    box = [bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]] if bb and bb[2] > 0 and bb[3] > 0 else None
                mask_path = scene / "mask_visib" / f"{int(im_key):06d}_{k:06d}.png"
                mask = read_image_raw(mask_path) > 0 if mask_path.is_file() else None
                annotations.append(Annotation(obj, T, box, mask, visib))
            frames.append(RealFrame(set_name, f"{scene.name}/{int(im_key):06d}", read_image_rgb(image_path), K, annotations, depth))
    return RealSet(set_name, frames, objects)

