"""Per-frame latency of the pose pipeline against the paper's reference protocol, in one run.

Rendered 640 x 480 queries of one object (known poses), one CAD database. For each PnP back-end:
``box`` mode (a box from a detector or the tracker: one pass, the camera-rate path) and ``search``
mode (no box: the default whole-image search). The reference protocol runs the paper's evaluation
steps on the same frames: the whole image at the paper's resolution (grid = image / 8, fp32), the
full similarity matrix at once (both directions), OpenCV EPnP RANSAC with 10,000 iterations.
Per stage: median and p95 milliseconds after warm-up; peak GPU memory; pose success (< 5°, < 5 cm).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Sequence

import numpy as np
import torch

from ..metrics.pose import query_pose_error
from ..pose import PoseConfig, PoseEstimator
from .rendered_pose import Query


def _mode_stats(estimator: PoseEstimator, name: str, queries: Sequence[Query], warmup: int, with_box: bool) -> dict:
    from ..crop import mask_box

    device = estimator.features.device
    boxes = [mask_box(q.mask) if with_box else None for q in queries]
    for q, box in zip(queries[:warmup], boxes[:warmup]):
        estimator.estimate(q.rgb, q.K, box=box, objects=[name])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    stages: dict[str, list[float]] = {}
    wall, ok = [], []
    for q, box in zip(queries[warmup:], boxes[warmup:]):
        t0 = time.perf_counter()
        result = estimator.estimate(q.rgb, q.K, box=box, objects=[name])[name]
        wall.append((time.perf_counter() - t0) * 1e3)
        for stage, ms in result.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
        if result.success:
            rot, trans = query_pose_error(result.T_cam_obj, q.T_cam_obj)
            ok.append(rot < 5.0 and trans < 5.0)  # degrees, centimetres
        else:
            ok.append(False)
    return {
        "frames": len(wall),
        "median_ms": {k: float(np.median(v)) for k, v in stages.items()} | {"wall": float(np.median(wall))},
        "p95_ms": {k: float(np.percentile(v, 95)) for k, v in stages.items()} | {"wall": float(np.percentile(wall, 95))},
        "success_5deg_5cm": float(np.mean(ok)) if ok else None,
        "peak_gpu_memory_mib": float(torch.cuda.max_memory_allocated(device) / 2**20) if device.type == "cuda" else None,
    }


def reference_config(base: PoseConfig) -> PoseConfig:
    """The paper's evaluation steps in this code: whole image, no resize (the features' grid = image
    / 8 rule), one similarity block for the whole database, OpenCV EPnP RANSAC 10K, one pass."""
    return replace(base, input_size=None, refine_with_crop=False, search="two-pass", max_elements=2**62, matching="blocked", retrieval_views=0,
                   pnp=replace(base.pnp, backend="opencv", iterations=10_000, threshold_px=8.0))


def run_latency(features, reference_features, db, queries: Sequence[Query], backends: Sequence[str], base: PoseConfig = PoseConfig(), warmup: int = 5,
                reference_frames: int | None = None, lazy_graphs: bool = False) -> dict:
    """Runs every mode over ``queries`` (the first ``warmup`` untimed); ``reference_features``:
    the same backbone in fp32 for the reference protocol (None to skip it). ``lazy_graphs``: with
    CUDA graphs, forget the graphs the estimator captured for every crop size when it loaded the
    database, so that sizes are captured as frames bring them (the behaviour before session 13)."""
    if len(queries) <= warmup:
        raise ValueError(f"need more than {warmup} queries (the first {warmup} only warm up), got {len(queries)}")
    report = {"benchmark": "latency", "features": features.describe(), "database_features": len(db), "frames": len(queries) - warmup, "warmup": warmup, "lazy_graphs": lazy_graphs, "runs": {}}
    for backend in backends:
        config = replace(base, pnp=replace(base.pnp, backend=backend))
        estimator = PoseEstimator(features, [db], config)
        if lazy_graphs:
            features.clear_graphs()
        report["runs"][f"{backend} box"] = _mode_stats(estimator, db.name, queries, warmup, True)
        report["runs"][f"{backend} search"] = _mode_stats(estimator, db.name, queries, warmup, False)
    if reference_features is not None:
        ref = PoseEstimator(reference_features, [db], reference_config(base))
        n = len(queries) if reference_frames is None else min(len(queries), warmup + reference_frames)
        report["runs"]["reference protocol"] = _mode_stats(ref, db.name, queries[:n], warmup, False)
        ref_total = report["runs"]["reference protocol"]["median_ms"]["wall"]
        report["speedup_vs_reference"] = {k: ref_total / v["median_ms"]["wall"] for k, v in report["runs"].items() if k != "reference protocol"}
    return report


def format_table(report: dict) -> str:
    lines = [f"latency per 640x480 frame ({report['features']}; {report['database_features']} database features; {report['frames']} frames after {report['warmup']} warm-up)",
             f"{'mode':22} {'preproc':>8} {'features':>9} {'matching':>9} {'pnp':>8} {'total':>8} {'p95':>8} {'success':>8} {'peak MiB':>9}"]
    for key, run in report["runs"].items():
        m = run["median_ms"]
        mem = "-" if run["peak_gpu_memory_mib"] is None else f"{run['peak_gpu_memory_mib']:.0f}"
        succ = "-" if run["success_5deg_5cm"] is None else f"{100 * run['success_5deg_5cm']:.0f} %"
        lines.append(f"{key:22} {m.get('preprocess', 0):8.1f} {m.get('features', 0):9.1f} {m.get('matching', 0):9.1f} {m.get('pnp', 0):8.1f} {m['wall']:8.1f} {run['p95_ms']['wall']:8.1f} {succ:>8} {mem:>9}")
    for key, ratio in report.get("speedup_vs_reference", {}).items():
        lines.append(f"speed-up of {key} over the reference protocol: {ratio:.1f}x")
    return "\n".join(lines)
