"""YCB-Video in the BOP format: CAD databases, pose estimation on crops, BOP19 CSV and average recalls.

Official BOP layout::

    ycbv/models/models_info.json           per obj_id: diameter (mm), min/size_x.., symmetries_*
    ycbv/models/obj_000001.ply             meshes in millimetres
    ycbv/test_targets_bop19.json           [{"scene_id", "im_id", "obj_id", "inst_count"}, ...]
    ycbv/test/000048/rgb/000001.png
    ycbv/test/000048/depth/000001.png      depth_mm = value * depth_scale
    ycbv/test/000048/scene_camera.json     {"1": {"cam_K": [9], "depth_scale": 0.1}}
    ycbv/test/000048/scene_gt.json         {"1": [{"cam_R_m2c": [9], "cam_t_m2c": [3] (mm), "obj_id"}]}
    ycbv/test/000048/scene_gt_info.json    {"1": [{"bbox_obj": [x, y, w, h], "bbox_visib": [...], "visib_fract"}]}

Detections (optional) use the BOP default-detections JSON: a list of
``{"scene_id", "image_id", "category_id", "bbox": [x, y, w, h], "score", "time"}``, optionally with a
``segmentation`` (COCO run-length mask, as CNOS writes them), which becomes the query's mask.
Everything inside is converted to metres when read.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cad_database import CadDatabaseConfig, cached_cad_database
from ..database import ObjectDatabase
from ..features import DenseFeatures
from ..geometry import make_transform
from ..io import MveqError, read_image_raw, read_image_rgb, read_json
from ..metrics import bop
from ..pose import PoseConfig, PoseEstimator
from ..provenance import write_result_json
from .detections import bop_key, detection_mask, read_detections

log = logging.getLogger(__name__)

MM = 0.001


@dataclass
class BopTarget:
    scene_id: int
    im_id: int
    obj_id: int
    inst_count: int


class BopDataset:
    """Read access to a BOP dataset folder (models, one split's scenes, targets)."""

    def __init__(self, root: str | Path, split: str = "test", targets_file: str | None = "test_targets_bop19.json"):
        """``targets_file``: the challenge's targets under ``root``, or None for a folder without
        one (``targets`` then empty: the caller names its own)."""
        self.root = Path(root)
        self.split = split
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: BOP dataset folder not found")
        self.models_info = {int(k): v for k, v in read_json(self.root / "models" / "models_info.json").items()}
        targets = [] if targets_file is None else read_json(self.root / targets_file)
        try:
            self.targets = [BopTarget(int(t["scene_id"]), int(t["im_id"]), int(t["obj_id"]), int(t.get("inst_count", 1))) for t in targets]
        except (KeyError, TypeError, ValueError) as exc:
            raise MveqError(f"{self.root / targets_file}: malformed target ({exc})") from None
        self._scenes: dict[int, dict] = {}
        self._meshes: dict[int, object] = {}

    def model_path(self, obj_id: int) -> Path:
        return self.root / "models" / f"obj_{obj_id:06d}.ply"

    def mesh(self, obj_id: int):
        """The object's mesh in metres."""
        from ..render import load_mesh

        if obj_id not in self._meshes:
            self._meshes[obj_id] = load_mesh(self.model_path(obj_id), units="mm")
        return self._meshes[obj_id]

    def diameter(self, obj_id: int) -> float:
        return float(self.models_info[obj_id]["diameter"]) * MM

    def symmetries(self, obj_id: int) -> list[bop.Symmetry]:
        return bop.symmetry_transformations(self.models_info[obj_id], 0.01, unit_scale=MM)

    def scene(self, scene_id: int) -> dict:
        if scene_id not in self._scenes:
            folder = self.root / self.split / f"{scene_id:06d}"
            self._scenes[scene_id] = {
                "folder": folder,
                "camera": read_json(folder / "scene_camera.json"),
                "gt": read_json(folder / "scene_gt.json"),
                "gt_info": read_json(folder / "scene_gt_info.json"),
            }
        return self._scenes[scene_id]

    def image(self, scene_id: int, im_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rgb, K, depth in metres) of one image."""
        scene = self.scene(scene_id)
        folder = scene["folder"]
        rgb_path = folder / "rgb" / f"{im_id:06d}.png"
        if not rgb_path.is_file():
            rgb_path = rgb_path.with_suffix(".jpg")
        cam = scene["camera"][str(im_id)]
        K = np.asarray(cam["cam_K"], dtype=np.float64).reshape(3, 3)
        depth = read_image_raw(folder / "depth" / f"{im_id:06d}.png").astype(np.float32) * float(cam.get("depth_scale", 1.0)) * MM
        return read_image_rgb(rgb_path), K, depth

    def ground_truth(self, scene_id: int, im_id: int) -> list[dict]:
        """GT instances of an image: obj_id, T_cam_obj (m), bbox_obj, bbox_visib, visib_fract."""
        scene = self.scene(scene_id)
        out = []
        for gt, info in zip(scene["gt"][str(im_id)], scene["gt_info"][str(im_id)]):
            T = make_transform(np.asarray(gt["cam_R_m2c"], float).reshape(3, 3), np.asarray(gt["cam_t_m2c"], float) * MM)
            out.append({"obj_id": int(gt["obj_id"]), "T_cam_obj": T, "bbox_obj": info.get("bbox_obj"), "bbox_visib": info.get("bbox_visib"), "visib_fract": float(info.get("visib_fract", 1.0))})
        return out


def load_detections(path: str | Path) -> dict[tuple[int, int, int], list[dict]]:
    """BOP default detections grouped by (scene_id, im_id, obj_id), best score first."""
    return read_detections(path, bop_key)


def _xywh_to_box(b) -> list[float]:
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def cad_database(features: DenseFeatures, dataset: BopDataset, obj_id: int, cache_dir: Path | None, config: CadDatabaseConfig, progress: bool) -> ObjectDatabase:
    """A 96-view CAD database of one object, cached as ``cache_dir/obj_XXXXXX.mvdb``."""
    name = f"obj_{obj_id:06d}"
    path = cache_dir / f"{name}.mvdb" if cache_dir else None
    symmetries = [make_transform(s.R, s.t) for s in dataset.symmetries(obj_id)[1:]] if len(dataset.symmetries(obj_id)) < 64 else []
    return cached_cad_database(features, dataset.mesh(obj_id), name, config, path, symmetries, str(dataset.model_path(obj_id)), progress)


def run_ycbv(
    features: DenseFeatures,
    bop_root: str | Path,
    out_dir: str | Path,
    config: PoseConfig = PoseConfig(),
    database_config: CadDatabaseConfig = CadDatabaseConfig(),
    detections: str | Path | None = None,
    max_targets: int | None = None,
    dataset_name: str = "ycbv",
    progress: bool = True,
) -> dict:
    """Estimate every target, write ``<method>_<dataset>-test.csv`` and compute BOP19 recalls."""
    from tqdm import tqdm

    dataset = BopDataset(bop_root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = dataset.targets[:max_targets]
    dets = load_detections(detections) if detections else None
    obj_ids = sorted({t.obj_id for t in targets})
    databases = {o: cad_database(features, dataset, o, out_dir / "databases", database_config, progress) for o in obj_ids}
    estimator = PoseEstimator(features, list(databases.values()), config)

    by_image: dict[tuple[int, int], list[BopTarget]] = defaultdict(list)
    for t in targets:
        by_image[(t.scene_id, t.im_id)].append(t)
    estimates: list[bop.BopEstimate] = []
    raw: dict[tuple[int, int, int], list[tuple[float, np.ndarray]]] = defaultdict(list)
    for (scene_id, im_id), im_targets in tqdm(sorted(by_image.items()), desc="ycbv images", disable=not progress):
        rgb, K, _ = dataset.image(scene_id, im_id)
        gts = dataset.ground_truth(scene_id, im_id)
        t0 = time.perf_counter()
        image_estimates = []
        for target in im_targets:
            name = f"obj_{target.obj_id:06d}"
            if dets is not None:  # a segmenter's mask with its detection (CNOS) is the query mask
                found = dets.get((scene_id, im_id, target.obj_id), [])[: target.inst_count]
                boxes = [_xywh_to_box(d["bbox"]) for d in found]
                masks = [detection_mask(d, rgb.shape[:2], f"{detections}: scene {scene_id} image {im_id} obj {target.obj_id}") for d in found]
            else:
                instances = sorted((g for g in gts if g["obj_id"] == target.obj_id), key=lambda g: g["visib_fract"], reverse=True)[: target.inst_count]
                boxes = [_xywh_to_box(g["bbox_visib"] or g["bbox_obj"]) for g in instances]
                masks = [None] * len(boxes)
            for box, mask in zip(boxes, masks):
                if box[2] - box[0] < 2 or box[3] - box[1] < 2:
                    continue
                result = estimator.estimate(rgb, K, mask=mask, box=box, objects=[name])[name]
                if result.success:
                    image_estimates.append((target.obj_id, result.score, result.T_cam_obj))
        elapsed = time.perf_counter() - t0
        for obj_id, score, T in image_estimates:
            estimates.append(bop.BopEstimate(scene_id, im_id, obj_id, score, T, elapsed))
            raw[(scene_id, im_id, obj_id)].append((score, T))
    csv_path = out_dir / f"mveq_{dataset_name}-test.csv"
    bop.write_bop_csv(csv_path, estimates)
    scores = evaluate_bop19(dataset, targets, raw, dataset_name, progress)
    result = {"benchmark": f"bop19-{dataset_name}", "targets": len(targets), "estimates": len(estimates), "csv": str(csv_path), **scores, "features": features.describe()}
    write_result_json(out_dir / "scores_bop19.json", result, features.device)
    return result


def evaluate_bop19(dataset: BopDataset, targets: list[BopTarget], estimates: dict, dataset_name: str = "ycbv", progress: bool = True) -> dict:
    """AR_VSD, AR_MSSD, AR_MSPD and AR from estimates {(scene, im, obj): [(score, T_cam_obj)]}."""
    from tqdm import tqdm

    from ..render import Renderer

    delta = bop.VSD_DELTA_M.get(dataset_name, 0.015)
    cases: dict[str, list[bop.ImageObjectCase]] = {"mssd": [], "mspd": [], **{f"vsd_{tau}": [] for tau in bop.VSD_TAUS}}
    renderers: dict[tuple[int, int], Renderer] = {}
    for target in tqdm(targets, desc="bop errors", disable=not progress):
        rgb, K, depth = dataset.image(target.scene_id, target.im_id)
        h, w = depth.shape
        gts = [(i, g) for i, g in enumerate(dataset.ground_truth(target.scene_id, target.im_id)) if g["obj_id"] == target.obj_id]
        gt_ids = [i for i, _ in gts]
        valid = bop.valid_targets([g["visib_fract"] for _, g in gts], target.inst_count)
        mesh = dataset.mesh(target.obj_id)
        points = np.asarray(mesh.vertices)
        syms = dataset.symmetries(target.obj_id)
        diameter = dataset.diameter(target.obj_id)
        renderer = renderers.setdefault((w, h), Renderer(w, h))
        gt_depth = {i: renderer.render(mesh, K, g["T_cam_obj"], light_intensity=0).depth for i, g in gts}
        per_type: dict[str, list[bop.Estimate]] = {k: [] for k in cases}
        for score, T in estimates.get((target.scene_id, target.im_id, target.obj_id), []):
            est_depth = renderer.render(mesh, K, T, light_intensity=0).depth
            e = {k: bop.Estimate(score) for k in cases}
            for i, g in gts:
                e["mssd"].errors[i] = bop.mssd(T, g["T_cam_obj"], points, syms) / diameter
                e["mspd"].errors[i] = bop.mspd(T, g["T_cam_obj"], K, points, syms) * 640.0 / w
                for tau, err in zip(bop.VSD_TAUS, bop.vsd(est_depth, gt_depth[i], depth, K, delta, bop.VSD_TAUS, diameter)):
                    e[f"vsd_{tau}"].errors[i] = err
            for k in cases:
                per_type[k].append(e[k])
        for k in cases:
            cases[k].append(bop.ImageObjectCase(gt_ids, valid, per_type[k], target.inst_count))
    ar_mssd = bop.average_recall(cases["mssd"], bop.BOP19_THRESHOLDS)
    ar_mspd = bop.average_recall(cases["mspd"], bop.MSPD_THRESHOLDS)
    ar_vsd = float(np.mean([bop.recall_at(cases[f"vsd_{tau}"], th) for tau in bop.VSD_TAUS for th in bop.BOP19_THRESHOLDS]))
    return {"AR_VSD": ar_vsd, "AR_MSSD": ar_mssd, "AR_MSPD": ar_mspd, "AR": float(np.mean([ar_vsd, ar_mssd, ar_mspd]))}


def format_table(result: dict) -> str:
    keys = ["AR_VSD", "AR_MSSD", "AR_MSPD", "AR"]
    return "  ".join(f"{k:>8}" for k in keys) + "\n" + "  ".join(f"{result[k]:8.3f}" for k in keys) + f"\n({result['targets']} targets, {result['estimates']} estimates; {result['csv']})"
