"""Pose accuracy on real camera frames: CAD or reference-video onboarding, crops from GT visible boxes,
a detections file, or none; ADD(-S), cm-deg, match correctness, per object and overall.

The same :class:`~mveq_core.pose.PoseEstimator` as ``mveq pose`` and the ROS node runs every frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..cad_database import CadDatabaseConfig, cached_cad_database
from ..database import ObjectDatabase
from ..features import DenseFeatures
from ..geometry import project_points, transform_points
from ..io import MveqError, write_image_atomic
from ..localize import box_iou
from ..metrics.pose import add_error, adds_error, query_pose_error
from ..pose import PoseConfig, PoseEstimator, PoseResult
from ..pose_tracking import TRACKING, PoseTracker
from ..reference_database import ReferenceCropConfig, ReferenceFrame, build_database_from_frames
from . import CROP_MODES, ONBOARDING
from .detections import detection_mask, frame_key, read_detections
from .realdata import RealFrame, RealObject, RealSet, fill_visible_boxes

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class RealBenchConfig:
    """``onboarding``: ``cad`` (renders of each object's mesh) or ``video`` (a database from the other
    posed frames of the same object: frames alternate between reference and query, in name order).
    ``crops``: ``gt`` (ground-truth visible boxes), ``gt-mask`` (ground-truth visible masks: the
    query is restricted to the mask and, for CAD databases, its background blacked out, as with a
    segmenter's masks in FoundPose's protocol), ``detections`` (a file), ``none`` (the estimator's
    own search of the whole image) or ``localize`` (the database-only localiser, scored as a detector:
    recall at IoU >= 0.5 against the visible box, and false positives on the frames of the other
    sets, whose objects are absent) or ``track`` (tracking mode over the query frames in name order:
    a crop around the previous pose, the whole-image search when there is none; a pose counts only
    in the ``tracking`` state).
    ``correct_px``: a match is correct when its 3D point, projected with the ground-truth pose, lands
    within this many pixels of the query pixel, measured at the estimator's input scale (the GT box
    with the crop margin scaled to ``input_size``). ``overlays``: write a picture per instance.
    ``use_depth``: frames with a depth image (YCB-Video, BOP RGB-D scenes) pass it to the estimator,
    which corrects each pose's distance from it (``PoseConfig.depth_refine``)."""

    onboarding: str = "cad"
    crops: str = "gt"
    correct_px: float = 8.0
    overlays: bool = True
    use_depth: bool = False
    min_visib_fract: float = 0.1  # BOP's rule: fainter instances are not targets

    def __post_init__(self):
        if self.onboarding not in ONBOARDING:
            raise ValueError(f"onboarding must be one of {ONBOARDING}, got {self.onboarding!r}")
        if self.crops not in CROP_MODES:
            raise ValueError(f"crops must be one of {CROP_MODES}, got {self.crops!r}")


def load_frame_detections(path: str | Path) -> dict[tuple[str, str], list[dict]]:
    """Detections keyed by (frame key, object), best score first. Rows are either
    ``{"frame": "lm/000019", "object": "obj_000001", "bbox": [x, y, w, h], "score"}`` or BOP default
    detections ``{"scene_id", "image_id", "category_id", "bbox", "score"}`` (frame key
    ``SET/SSSSSS/IIIIII`` is matched by its scene/image part)."""
    return read_detections(path, frame_key)


def _detection_for(detections, frame: RealFrame, obj: str) -> dict | None:
    """The best-scored detection of ``obj`` in ``frame`` (box, score, segmentation when given)."""
    for key in (frame.key, frame.name):
        rows = detections.get((key, obj))
        if rows:
            return rows[0]
    return None


def _config_tag(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


def cad_databases(features: DenseFeatures, real: RealSet, names: Sequence[str], config: CadDatabaseConfig, cache: Path | None, progress: bool) -> dict[str, ObjectDatabase]:
    """CAD databases of the named objects (cached by features, object and settings)."""
    out = {}
    for name in names:
        obj = real.objects[name]
        if obj.mesh_path is None:
            log.info("%s/%s: no mesh, no CAD database", real.name, name)
            continue
        tag = _config_tag(asdict(config), str(obj.mesh_path), obj.mesh_units)
        path = None if cache is None else cache / f"{real.name}_{name}_{features.identity()}_{tag}.mvdb"
        out[name] = cached_cad_database(features, obj.mesh(), name, config, path, mesh_path=str(obj.mesh_path), progress=progress)
    return out


def split_reference_query(real: RealSet) -> tuple[dict[str, list[tuple[RealFrame, int]]], set[tuple[str, str]]]:
    """Per object, its annotated frames in name order; even positions are references, odd ones
    queries. Returns ({object: [(frame, annotation index)] references}, {(frame key, object)} queries)."""
    seen: dict[str, list[tuple[RealFrame, int]]] = defaultdict(list)
    for frame in real.frames:
        for k, ann in enumerate(frame.annotations):
            seen[ann.object].append((frame, k))
    references, queries = {}, set()
    for obj, items in seen.items():
        if len(items) < 2:
            continue
        references[obj] = items[0::2]
        queries.update((f.key, obj) for f, _ in items[1::2])
    return references, queries


def video_databases(features: DenseFeatures, real: RealSet, references: dict[str, list[tuple[RealFrame, int]]], crop: ReferenceCropConfig, progress: bool) -> dict[str, ObjectDatabase]:
    """Reference-video databases: depth + mask where the frames have them, else the mesh (visible
    pixels only, other annotated objects as occluders)."""
    out = {}
    for name, items in references.items():
        obj = real.objects[name]
        frames = []
        for frame, k in items:
            ann = frame.annotations[k]
            ref = ReferenceFrame(frame.rgb, frame.K, ann.T_cam_obj, name=frame.key)
            if frame.depth is not None and ann.mask is not None:
                ref.depth, ref.mask = frame.depth, ann.mask
            else:
                ref.depth = frame.depth
                ref.occluders = [(real.objects[o.object].mesh(), o.T_cam_obj) for j, o in enumerate(frame.annotations) if j != k and real.objects[o.object].mesh() is not None]
            frames.append(ref)
        use_depth = all(f.depth is not None and f.mask is not None for f in frames)
        if not use_depth and obj.mesh() is None:
            log.info("%s/%s: reference frames lack depth+mask and there is no mesh: skipped", real.name, name)
            continue
        db = build_database_from_frames(features, frames, name, points="depth" if use_depth else "mesh", mesh=None if use_depth else obj.mesh(), progress=progress, crop=crop, mesh_path=None if obj.mesh_path is None else str(obj.mesh_path))
        if use_depth:
            lo, hi = obj.points.min(0), obj.points.max(0)
            db.meta.bbox = [lo.tolist(), hi.tolist()]
            db.meta.diameter = obj.diameter
        out[name] = db
    return out


def match_correctness(result: PoseResult, T_gt: np.ndarray, K: np.ndarray, scale: float, threshold_px: float) -> tuple[int, float]:
    """(number, share) of matches whose 3D point projects within ``threshold_px`` (at ``scale``
    input pixels per image pixel) of its query pixel under the ground-truth pose."""
    if len(result.matches_xy) == 0:
        return 0, 0.0
    cam = transform_points(T_gt, result.matches_xyz)
    front = cam[:, 2] > 1e-6
    err = np.full(len(cam), np.inf)
    err[front] = np.linalg.norm(project_points(cam[front], K) - result.matches_xy[front], axis=1) * scale
    correct = int((err < threshold_px).sum())
    return correct, correct / len(cam)


def evaluate_instance(result: PoseResult, obj: RealObject, T_gt: np.ndarray) -> dict:
    """Pose errors of one estimate: rotation (deg), translation (cm), ADD and ADD-S (m), thresholds."""
    rot, trans_cm = query_pose_error(result.T_cam_obj if result.success else None, T_gt)
    row = {"rotation_error_deg": rot, "translation_error_cm": trans_cm, "add": float("inf"), "adds": float("inf")}
    if result.success:
        points = obj.points if len(obj.points) <= 5000 else obj.points[np.random.default_rng(0).choice(len(obj.points), 5000, replace=False)]
        row["add"] = add_error(result.T_cam_obj, T_gt, points)
        row["adds"] = adds_error(result.T_cam_obj, T_gt, points)
    d = obj.diameter
    row["add_or_adds_ok"] = bool((row["adds"] if obj.symmetric else row["add"]) < 0.1 * d)
    row["adds_ok"] = bool(row["adds"] < 0.1 * d)
    row["cm5_deg5"] = bool(rot < 5 and trans_cm < 5)
    row["cm10_deg10"] = bool(rot < 10 and trans_cm < 10)
    return row


def _finite_median(values) -> float | None:
    v = np.asarray(values, float)
    if v.size == 0:
        return None
    m = float(np.median(v))  # failures count as infinitely wrong, as in OnePose's protocol
    return m if np.isfinite(m) else None


def summarise(rows: Sequence[dict]) -> dict:
    """Recalls over the target instances (visible enough), medians, counts, seconds per frame."""
    targets = [r for r in rows if r["target"]]
    n = len(targets)

    def share(key):
        return float(np.mean([r[key] for r in targets])) if n else None

    frames = {r["frame"]: r["frame_seconds"] for r in rows}
    return {
        "instances": n,
        "not_visible": sum(1 for r in rows if not r["target"]),
        "no_pose": sum(1 for r in targets if not r["success"]),
        "add_s_0.1d": share("add_or_adds_ok"),
        "adds_0.1d": share("adds_ok"),
        "5cm_5deg": share("cm5_deg5"),
        "10cm_10deg": share("cm10_deg10"),
        "median_rotation_error_deg": _finite_median([r["rotation_error_deg"] for r in targets]),
        "median_translation_error_cm": _finite_median([r["translation_error_cm"] for r in targets]),
        "median_correct_match_share": _finite_median([r["correct_match_share"] for r in targets]),
        "median_correct_matches": _finite_median([r["correct_matches"] for r in targets]),
        "median_matches": _finite_median([r["num_matches"] for r in targets]),
        "seconds_per_frame": float(np.mean(list(frames.values()))) if frames else None,
        "detection_recall_iou50": share("detected") if n and "detected" in targets[0] else None,
    }


def _overlay(frame: RealFrame, result: PoseResult, T_gt: np.ndarray, bbox: np.ndarray, box, label: str) -> np.ndarray:
    import cv2

    from ..viz import draw_matches, draw_pose

    image = draw_matches(frame.rgb, result.matches_xy, result.inliers)
    image = draw_pose(image, frame.K, T_gt, bbox, color=(255, 255, 255))
    if result.success:
        image = draw_pose(image, frame.K, result.T_cam_obj, bbox, label=label)
    else:
        image = draw_pose(image, frame.K, T_gt, bbox, color=(255, 255, 255), label=label)
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 200, 0), 1)
    long_side = max(image.shape[:2])
    if long_side > 960:
        s = 960 / long_side
        image = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)), interpolation=cv2.INTER_AREA)
    return image


def run_real(
    features: DenseFeatures,
    sets: Sequence[RealSet],
    out_dir: str | Path,
    pose_config: PoseConfig = PoseConfig(),
    bench: RealBenchConfig = RealBenchConfig(),
    cad_config: CadDatabaseConfig = CadDatabaseConfig(),
    reference_crop: ReferenceCropConfig | None = None,
    detections: str | Path | None = None,
    progress: bool = True,
    database_cache: str | Path | None = None,
) -> dict:
    """Estimate every annotated instance of every set; rows, per-object and overall summaries.
    CAD databases are cached in ``database_cache`` (default ``out_dir/databases``)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    dets = load_frame_detections(detections) if bench.crops == "detections" else None
    if bench.crops == "detections" and detections is None:
        raise MveqError("crops=detections needs a detections file (--detections)")
    reference_crop = reference_crop or ReferenceCropConfig.of_pose(pose_config)
    rows: list[dict] = []
    databases_info = {}
    all_databases: dict[str, dict[str, ObjectDatabase]] = {}
    for real in sets:
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects, masks=bench.crops == "gt-mask")
        queries = None
        if bench.onboarding == "cad":
            names = sorted({a.object for f in real.frames for a in f.annotations})
            databases = cad_databases(features, real, names, cad_config, Path(database_cache) if database_cache else out_dir / "databases", progress)
        else:
            references, queries = split_reference_query(real)
            databases = video_databases(features, real, references, reference_crop, progress)
        databases_info[real.name] = {n: {"features": len(db), "views": db.meta.views, "source": db.meta.source} for n, db in databases.items()}
        if not databases:
            log.warning("%s: no databases (%s onboarding): nothing to evaluate", real.name, bench.onboarding)
            continue
        estimator = PoseEstimator(features, list(databases.values()), pose_config)
        if bench.onboarding == "cad" and pose_config.render_refine > 0:
            for n in databases:
                estimator.set_mesh(n, real.objects[n].mesh(), cad_config.flat_shading)
        all_databases[real.name] = databases
        tracker = PoseTracker(estimator) if bench.crops == "track" else None
        for frame in tqdm(real.frames, desc=f"{real.name} frames", disable=not progress):
            frame_rows = []
            t_frame = time.perf_counter()
            found = estimator.localize(frame.rgb, frame.K) if bench.crops == "localize" else {}
            is_query = queries is None or any((frame.key, a.object) in queries for a in frame.annotations)
            depth = frame.depth if bench.use_depth else None
            tracked = tracker.update(frame.rgb, frame.K, depth=depth) if tracker is not None and is_query else {}
            for ann in frame.annotations:
                if ann.object not in databases or (queries is not None and (frame.key, ann.object) not in queries):
                    continue
                obj = real.objects[ann.object]
                target = ann.box is not None and ann.visib_fract >= bench.min_visib_fract
                row = {"set": real.name, "frame": frame.key, "object": ann.object, "symmetric": obj.symmetric, "diameter_m": obj.diameter, "target": target, "gt_box": ann.box}
                det_row = _detection_for(dets, frame, ann.object) if bench.crops == "detections" else None
                box = ann.box if bench.crops in ("gt", "gt-mask") else (det_row["box"] if det_row is not None else None)
                if bench.crops == "localize":
                    det = found[ann.object]
                    row.update(detected=bool(det.present and box_iou(det.box, ann.box) >= 0.5), detection_iou=box_iou(det.box, ann.box), detection_score=det.score, detection_box=det.box)
                    result = estimator.correct_with_depth(det.pose, depth) if det.present and target else PoseResult.failure(ann.object, "not visible" if not target else f"not found (score {det.score:.2f})")
                elif bench.crops == "track":
                    state = tracked[ann.object]
                    row["track_state"] = state.state
                    result = state.result if state.state == TRACKING else PoseResult.failure(ann.object, f"{state.state}: {state.result.reason}", state.result.timings_ms)
                elif not target or (bench.crops != "none" and box is None):
                    reason = "not visible" if not target else "no detection"
                    result = PoseResult.failure(ann.object, reason)
                else:
                    # a segmenter's mask with its detection (CNOS, SAM): used as the query mask, as gt-mask's
                    mask = ann.mask if bench.crops == "gt-mask" else (detection_mask(det_row, frame.rgb.shape[:2], f"{detections}: {frame.key}/{ann.object}") if det_row is not None else None)
                    if bench.crops == "gt-mask" and mask is None:
                        raise MveqError(f"{real.name}/{frame.key}/{ann.object}: --crops gt-mask but the set has no mask for it (no mask file and no mesh to render one)")
                    result = estimator.estimate(frame.rgb, frame.K, mask=mask, box=box, objects=[ann.object], depth=depth)[ann.object]
                row.update(evaluate_instance(result, obj, ann.T_cam_obj))
                scale = 0.0
                if ann.box is not None:
                    bw, bh = ann.box[2] - ann.box[0], ann.box[3] - ann.box[1]
                    scale = (pose_config.input_size or max(bw, bh)) / ((1 + 2 * pose_config.crop_margin) * max(bw, bh, 1e-6))
                correct, share = match_correctness(result, ann.T_cam_obj, frame.K, scale, bench.correct_px)
                row.update({
                    "success": result.success, "reason": result.reason, "num_matches": result.num_matches, "num_inliers": result.num_inliers,
                    "correct_matches": correct, "correct_match_share": share, "score": result.score, "crop_box": box,
                    "T_est": None if result.T_cam_obj is None else result.T_cam_obj.tolist(), "T_gt": ann.T_cam_obj.tolist(),
                    "ms": result.timings_ms.get("total"),
                    "depth_correction": None if result.depth_correction is None else asdict(result.depth_correction),
                    "box_fit": None if result.box_fit is None else asdict(result.box_fit),
                    "hypotheses": result.hypotheses,
                })  # fmt: skip
                if bench.overlays:
                    label = f"{ann.object} {'ok' if row['add_or_adds_ok'] else 'wrong' if result.success else 'no pose'} {correct}/{result.num_matches} correct"
                    safe = frame.key.replace("/", "_")
                    write_image_atomic(out_dir / "overlays" / f"{safe}_{ann.object}.jpg", _overlay(frame, result, ann.T_cam_obj, np.asarray(databases[ann.object].meta.bbox), box, label))
                frame_rows.append(row)
            elapsed = time.perf_counter() - t_frame
            for row in frame_rows:
                row["frame_seconds"] = elapsed
            rows.extend(frame_rows)
    absent = absent_detections(features, sets, all_databases, pose_config, progress) if bench.crops == "localize" else None
    per_object = defaultdict(list)
    for r in rows:
        per_object[f"{r['set']}/{r['object']}"].append(r)
    per_set = defaultdict(list)
    for r in rows:
        per_set[r["set"]].append(r)
    return {
        "benchmark": "real-pose",
        "onboarding": bench.onboarding,
        "crops": bench.crops,
        "features": features.describe(),
        "pose_config": asdict(pose_config),
        "bench_config": asdict(bench),
        "cad_config": asdict(cad_config) if bench.onboarding == "cad" else None,
        "reference_crop": asdict(reference_crop) if bench.onboarding == "video" else None,
        "databases": databases_info,
        "absent_objects": absent,
        "overall": summarise(rows),
        "per_set": {k: summarise(v) for k, v in sorted(per_set.items())},
        "per_object": {k: summarise(v) for k, v in sorted(per_object.items())},
        "rows": rows,
    }


def absent_detections(features: DenseFeatures, sets: Sequence[RealSet], databases: dict[str, dict[str, ObjectDatabase]], pose_config: PoseConfig, progress: bool) -> dict | None:
    """The localiser on each set's frames with the other sets' databases (objects that are not in
    those frames): how often it reports an absent object as present."""
    from tqdm import tqdm

    checks, false_positives, scores = 0, [], []
    for real in sets:
        others = [db for name, dbs in databases.items() if name != real.name for db in dbs.values()]
        if not others:
            continue
        estimator = PoseEstimator(features, others, pose_config)
        for frame in tqdm(real.frames, desc=f"{real.name} absent objects", disable=not progress):
            for name, det in estimator.localize(frame.rgb, frame.K).items():
                checks += 1
                scores.append(det.score)
                if det.present:
                    false_positives.append({"frame": frame.key, "object": name, "score": det.score, "box": det.box})
    if checks == 0:
        return None
    return {"checks": checks, "false_positives": len(false_positives), "false_positive_rate": len(false_positives) / checks, "median_score": float(np.median(scores)), "max_score": float(np.max(scores)), "scores": scores, "items": false_positives}


def _pct(v) -> str:
    return "   -" if v is None else f"{100 * v:4.0f}"


def format_table(result: dict) -> str:
    head = f"real-image pose, {result['onboarding']} onboarding, crops={result['crops']} ({result['features']})"
    lines = [head, f"{'set/object':28} {'n':>3} {'ADD(-S)':>7} {'ADD-S':>5} {'5cm5°':>5} {'10cm10°':>7} {'rot°':>6} {'cm':>6} {'corr%':>5} {'nopose':>6} {'s/frame':>7}"]

    def line(name, s):
        rot = "inf" if s["median_rotation_error_deg"] is None else f"{s['median_rotation_error_deg']:.1f}"
        cm = "inf" if s["median_translation_error_cm"] is None else f"{s['median_translation_error_cm']:.1f}"
        spf = "-" if s["seconds_per_frame"] is None else f"{s['seconds_per_frame']:.2f}"
        return f"{name:28} {s['instances']:3d} {_pct(s['add_s_0.1d']):>7} {_pct(s['adds_0.1d']):>5} {_pct(s['5cm_5deg']):>5} {_pct(s['10cm_10deg']):>7} {rot:>6} {cm:>6} {_pct(s['median_correct_match_share']):>5} {s['no_pose']:6d} {spf:>7}"

    for name, s in result["per_set"].items():
        lines.append(line(name, s))
    lines.append(line("overall", result["overall"]))
    if result["overall"].get("detection_recall_iou50") is not None:
        lines.append(f"localisation: recall at IoU >= 0.5 {_pct(result['overall']['detection_recall_iou50']).strip()} %")
    absent = result.get("absent_objects")
    if absent:
        lines.append(f"absent objects: {absent['false_positives']} false positives in {absent['checks']} checks (highest score {absent['max_score']:.2f})")
    return "\n".join(lines)
