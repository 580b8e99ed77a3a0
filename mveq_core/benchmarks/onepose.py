"""OnePose-LowTexture benchmark in the paper's protocol.

Official layout (OnePose / OnePose++ documentation)::

    lowtexture_test_data/<id>-<objname>-<category>/
        box3d_corners.txt                 8 x 3 corners of the object's box (object frame, m)
        <objname>-1/                      reference sequence: builds the database
            color/<i>.png                 512 x 512 crops
            intrin_ba/<i>.txt             3 x 3 intrinsics of the crop
            poses_ba/<i>.txt              4 x 4 T_cam_obj (m)
            anno_loftr/<i>.json           SfM 2D-3D pairs: keypoints2d [n, 2], assign_matrix [2, k]
        <objname>-2/                      test sequence (every 10th frame is queried)
    sfm_output/outputs_softmax_loftr_loftr/<id>-<objname>-<category>/anno/anno_3d_average.npz
                                           keypoints3d (P, 3) SfM points (m)

The database holds the reference frames' descriptors at the SfM keypoints with their 3D points
(capped at 120,000); queries use a stride-4 grid on each full 512 px crop; accuracy is the share
of frames with rotation error < k degrees and translation error < k cm for k = 1, 3, 5.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..database import DEFAULT_MAX_FEATURES
from ..features import DenseFeatures
from ..io import MveqError, read_image_rgb
from ..metrics.pose import cm_deg_accuracy, query_pose_error
from ..pose import PoseConfig, PoseEstimator
from ..reference_database import ReferenceFrame, build_database_from_frames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OneposeObject:
    name: str  # e.g. "0700-toyrobot-others"
    root: Path
    reference: Path  # <objname>-1
    test: Path  # <objname>-2
    anno3d: Path

    @property
    def short_name(self) -> str:
        return self.name.split("-")[1]


def list_objects(data_root: str | Path, sfm_root: str | Path) -> list[OneposeObject]:
    """Objects of a lowtexture_test_data folder that have both sequences and SfM annotations."""
    data_root, sfm_root = Path(data_root), Path(sfm_root)
    if not data_root.is_dir():
        raise FileNotFoundError(f"{data_root}: OnePose data folder not found (expected lowtexture_test_data/)")
    if not sfm_root.is_dir():
        raise FileNotFoundError(f"{sfm_root}: SfM folder not found (expected sfm_output/outputs_softmax_loftr_loftr/)")
    objects = []
    for obj_dir in sorted(p for p in data_root.iterdir() if p.is_dir()):
        parts = obj_dir.name.split("-")
        if len(parts) < 2:
            continue
        short = parts[1]
        ref, test = obj_dir / f"{short}-1", obj_dir / f"{short}-2"
        anno3d = sfm_root / obj_dir.name / "anno" / "anno_3d_average.npz"
        missing = [str(p) for p in (ref, test, anno3d) if not p.exists()]
        if missing:
            log.warning("skipping %s: missing %s", obj_dir.name, ", ".join(missing))
            continue
        objects.append(OneposeObject(obj_dir.name, obj_dir, ref, test, anno3d))
    if not objects:
        raise MveqError(f"{data_root}: no OnePose objects with <obj>-1, <obj>-2 and SfM annotations")
    return objects


def read_frame_files(seq: Path, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb, K, T_cam_obj) of frame ``stem`` of a sequence folder."""
    rgb = read_image_rgb(seq / "color" / f"{stem}.png")
    K = np.loadtxt(seq / "intrin_ba" / f"{stem}.txt").reshape(3, 3)
    T = np.loadtxt(seq / "poses_ba" / f"{stem}.txt").reshape(4, 4)
    return rgb, K, T


def frame_stems(seq: Path) -> list[str]:
    """Frame names of a sequence, sorted as the official evaluation sorts the colour files."""
    return [p.stem for p in sorted((seq / "color").glob("*.png"))]


def sequence_frames(seq: Path, points: str, sfm_anno3d: str | None = None, depth_scale: float = 0.001, step: int = 1) -> Iterator[ReferenceFrame]:
    """Posed frames of a sequence in the OnePose layout (``color/``, ``intrin_ba/``, ``poses_ba/``),
    every ``step``-th, with their 3D points' source: ``depth`` (``depth/`` PNGs x ``depth_scale``
    metres, ``mask/`` when present), ``sfm`` (``anno_loftr/`` 2D-3D assignments into the OnePose++
    ``sfm_anno3d`` keypoints; frames without annotation are skipped) or ``mesh`` (points come later)."""
    from ..io import read_image_raw

    keypoints3d = np.load(sfm_anno3d)["keypoints3d"] if points == "sfm" else None
    for stem in frame_stems(seq)[::step]:
        rgb, K, T = read_frame_files(seq, stem)
        frame = ReferenceFrame(rgb, K, T, name=stem)
        if points == "depth":
            frame.depth = read_image_raw(seq / "depth" / f"{stem}.png").astype(np.float32) * depth_scale
            mask_path = seq / "mask" / f"{stem}.png"
            if mask_path.is_file():
                frame.mask = read_image_raw(mask_path) > 0
        elif points == "sfm":
            anno_path = seq / "anno_loftr" / f"{stem}.json"
            if not anno_path.is_file():
                continue
            anno = json.loads(anno_path.read_text())
            kp2d = np.asarray(anno["keypoints2d"], dtype=np.float64).reshape(-1, 2)
            assign = np.asarray(anno["assign_matrix"], dtype=np.int64).reshape(2, -1)
            frame.xy, frame.xyz = kp2d[assign[0]], keypoints3d[assign[1]]
        yield frame


def reference_frames(obj: OneposeObject) -> Iterator[ReferenceFrame]:
    """The reference sequence's frames with their SfM 2D-3D pairs (OnePose++ anno_loftr)."""
    keypoints3d = np.load(obj.anno3d)["keypoints3d"]
    for json_path in sorted((obj.reference / "anno_loftr").glob("*.json")):
        anno = json.loads(json_path.read_text())
        kp2d = np.asarray(anno["keypoints2d"], dtype=np.float64).reshape(-1, 2)
        assign = np.asarray(anno["assign_matrix"], dtype=np.int64).reshape(2, -1)
        rgb, K, T = read_frame_files(obj.reference, json_path.stem)
        yield ReferenceFrame(rgb, K, T, xy=kp2d[assign[0]], xyz=keypoints3d[assign[1]], name=json_path.stem)


def run_onepose(
    features: DenseFeatures,
    data_root: str | Path,
    sfm_root: str | Path,
    config: PoseConfig = PoseConfig(),
    max_objects: int | None = None,
    frame_step: int = 10,
    max_features: int = DEFAULT_MAX_FEATURES,
    progress: bool = True,
) -> dict:
    """Per-object and mean 1/3/5 cm-deg accuracy (and the per-frame errors)."""
    from tqdm import tqdm

    objects = list_objects(data_root, sfm_root)[:max_objects]
    per_object, frames_out = {}, {}
    for obj in objects:
        n_ref = len(list((obj.reference / "anno_loftr").glob("*.json")))
        db = build_database_from_frames(features, reference_frames(obj), obj.name, points="sfm", max_features=max_features, progress=progress, total=n_ref)
        estimator = PoseEstimator(features, [db], config)
        r_errs, t_errs, rows = [], [], []
        for stem in tqdm(frame_stems(obj.test)[::frame_step], desc=f"query {obj.short_name}", disable=not progress):
            rgb, K, T_gt = read_frame_files(obj.test, stem)
            result = estimator.estimate(rgb, K)[obj.name]
            r_err, t_err = query_pose_error(result.T_cam_obj, T_gt)
            r_errs.append(r_err)
            t_errs.append(t_err)
            rows.append({"frame": stem, "rotation_error_deg": r_err, "translation_error_cm": t_err, "inliers": result.num_inliers, "ms": result.timings_ms.get("total")})
        per_object[obj.name] = {**cm_deg_accuracy(r_errs, t_errs), "frames": len(rows), "database_size": len(db)}
        frames_out[obj.name] = rows
    keys = ["1cm-1deg", "3cm-3deg", "5cm-5deg"]
    mean = {k: float(np.mean([v[k] for v in per_object.values()])) for k in keys}
    return {"benchmark": "onepose-lowtexture", "per_object": per_object, "mean": mean, "frames": frames_out, "features": features.describe()}


def format_table(result: dict) -> str:
    keys = ["1cm-1deg", "3cm-3deg", "5cm-5deg"]
    width = max([4] + [len(n) for n in result["per_object"]])
    lines = [f"{'object':<{width}}  " + "  ".join(f"{k:>9}" for k in keys) + "  frames"]
    for name, row in result["per_object"].items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row[k] * 100:8.1f}%" for k in keys) + f"  {row['frames']:6d}")
    lines.append(f"{'mean':<{width}}  " + "  ".join(f"{result['mean'][k] * 100:8.1f}%" for k in keys))
    return "\n".join(lines)
