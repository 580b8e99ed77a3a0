"""Pose accuracy on rendered objects: held-out camera poses over backgrounds, known ground truth.

Used for the adapter's before/after table (docs/models.md) and by ``mveq demo``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..cad_database import CadDatabaseConfig, build_database_from_mesh
from ..database import ObjectDatabase
from ..features import DenseFeatures
from ..geometry import intrinsics_from_values, make_transform, random_rotation
from ..metrics.pose import cm_deg_accuracy, query_pose_error
from ..pose import PoseConfig, PoseEstimator, PoseResult
from ..render import composite, random_background, render_view


@dataclass(frozen=True)
class QueryConfig:
    """Query images: a 640 x 480 camera (f = 600 px), the object 3-5 extents away at a uniformly
    random orientation, shifted off-centre, lit at random, over a random background."""

    count: int = 10
    width: int = 640
    height: int = 480
    focal: float = 600.0
    distance_in_extents: tuple[float, float] = (3.0, 5.0)
    seed: int = 0


@dataclass
class Query:
    rgb: np.ndarray
    K: np.ndarray
    T_cam_obj: np.ndarray
    mask: np.ndarray


def render_queries(mesh, config: QueryConfig = QueryConfig(), backgrounds: list[np.ndarray] | None = None) -> list[Query]:
    rng = np.random.default_rng(config.seed)
    K = intrinsics_from_values(config.focal, config.focal, (config.width - 1) / 2, (config.height - 1) / 2)
    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    centre, extent = (lo + hi) / 2, float((hi - lo).max())
    queries = []
    for _ in range(config.count):
        z = extent * rng.uniform(*config.distance_in_extents)
        offset = rng.uniform(-0.15, 0.15, 2) * z * np.array([config.width, config.height]) / config.focal
        T = make_transform(random_rotation(rng), np.array([offset[0], offset[1], z])) @ make_transform(np.eye(3), -centre)
        view = render_view(mesh, K, T, (config.height, config.width), rng, True)
        rgb = composite(view.rgb, view.mask, random_background(config.height, config.width, rng, backgrounds))
        queries.append(Query(rgb, K, T, view.mask))
    return queries


def evaluate_queries(estimator: PoseEstimator, name: str, queries: Sequence[Query]) -> tuple[list[dict], list[PoseResult]]:
    rows, results = [], []
    for i, q in enumerate(queries):
        result = estimator.estimate(q.rgb, q.K, objects=[name])[name]
        rot, trans_cm = query_pose_error(result.T_cam_obj, q.T_cam_obj)
        rows.append({"query": i, "rotation_error_deg": rot, "translation_error_mm": trans_cm * 10.0, "inliers": result.num_inliers, "matches": result.num_matches, "ms": result.timings_ms.get("total", float("nan")), "success": result.success})
        results.append(result)
    return rows, results


def summarise(rows: Sequence[dict]) -> dict:
    rot = np.array([r["rotation_error_deg"] for r in rows])
    trans_mm = np.array([r["translation_error_mm"] for r in rows])
    return {
        "median_rotation_error_deg": float(np.median(rot)),
        "median_translation_error_mm": float(np.median(trans_mm)),
        **cm_deg_accuracy(rot, trans_mm / 10.0),
        "no_pose": int(sum(not r["success"] for r in rows)),
        "queries": len(rows),
    }


def run_rendered_pose(
    features: DenseFeatures,
    objects: Sequence[tuple[str, object]],
    pose_config: PoseConfig = PoseConfig(),
    database_config: CadDatabaseConfig = CadDatabaseConfig(),
    query_config: QueryConfig = QueryConfig(),
    backgrounds: list[np.ndarray] | None = None,
    progress: bool = True,
) -> dict:
    """For each (name, mesh): CAD database, rendered held-out queries, errors; per object and mean."""
    per_object, all_rows = {}, []
    for k, (name, mesh) in enumerate(objects):
        db: ObjectDatabase = build_database_from_mesh(features, mesh, name, database_config, progress=progress)
        estimator = PoseEstimator(features, [db], pose_config)
        rows, _ = evaluate_queries(estimator, name, render_queries(mesh, QueryConfig(**{**query_config.__dict__, "seed": query_config.seed + k}), backgrounds))
        per_object[name] = summarise(rows)
        all_rows += rows
    return {"benchmark": "rendered-pose", "per_object": per_object, "overall": summarise(all_rows), "features": features.describe()}


def format_rows(rows: Sequence[dict]) -> str:
    lines = [f"{'query':>5}  {'rot (deg)':>9}  {'trans (mm)':>10}  {'inliers':>7}  {'ms':>7}"]
    for r in rows:
        rot = "no pose" if math.isinf(r["rotation_error_deg"]) else f"{r['rotation_error_deg']:9.2f}"
        trans = "" if math.isinf(r["translation_error_mm"]) else f"{r['translation_error_mm']:10.1f}"
        lines.append(f"{r['query']:5d}  {rot:>9}  {trans:>10}  {r['inliers']:7d}  {r['ms']:7.0f}")
    return "\n".join(lines)




def speed_benchmark(estimator: PoseEstimator, name: str, queries: Sequence[Query], warmup: int = 2) -> dict:
    """Median and 90th-percentile milliseconds per stage over ``queries`` after the first
    ``warmup`` of them, which run untimed (kernels, allocator, caches)."""
    if len(queries) <= warmup:
        raise ValueError(f"speed_benchmark needs more than {warmup} queries (the first {warmup} only warm up), got {len(queries)}")
    for q in queries[:warmup]:
        estimator.estimate(q.rgb, q.K, objects=[name])
    stages: dict[str, list[float]] = {}
    inliers = []
    for q in queries[warmup:]:
        result = estimator.estimate(q.rgb, q.K, objects=[name])[name]
        inliers.append(result.inlier_ratio)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    return {
        "frames": len(queries) - warmup,
        "median_ms": {k: float(np.median(v)) for k, v in stages.items()},
        "p90_ms": {k: float(np.percentile(v, 90)) for k, v in stages.items()},
        "median_inlier_ratio": float(np.median(inliers)),
    }
