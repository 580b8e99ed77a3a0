"""Robust-PnP accuracy and speed on synthetic correspondence sets with a known pose.

Object points fill a 20 cm box 0.5-1.0 m in front of a 640 x 480 camera (f = 600 px); inliers are
their projections plus Gaussian pixel noise, outliers uniform pixels. Success: rotation error < 1°
and translation error < 1 cm. Every back-end sees the same sets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..geometry import make_transform, project_points, random_rotation, rotation_error_deg, transform_points
from ..pnp import PnPConfig, solve_pnp

K = np.array([[600.0, 0.0, 319.5], [0.0, 600.0, 239.5], [0.0, 0.0, 1.0]])


@dataclass
class CorrespondenceSet:
    xyz: np.ndarray
    xy: np.ndarray
    T: np.ndarray


def make_set(n: int, outlier_ratio: float, noise_px: float, rng: np.random.Generator) -> CorrespondenceSet:
    """``n`` correspondences, ``outlier_ratio`` of them random, the rest exact + ``noise_px`` noise."""
    R = random_rotation(rng)
    T = make_transform(R, [rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(0.5, 1.0)])
    xyz = rng.uniform(-0.1, 0.1, (n, 3))
    xy = project_points(transform_points(T, xyz), K) + rng.normal(0.0, noise_px, (n, 2))
    m = int(round(outlier_ratio * n))
    xy[:m] = rng.uniform([0, 0], [640, 480], (m, 2))
    return CorrespondenceSet(xyz, xy, T)


def evaluate(backend: str, sets: Sequence[CorrespondenceSet], config: PnPConfig, device=None) -> dict:
    rot, trans, times = [], [], []
    for s in sets:
        t0 = time.perf_counter()
        result = solve_pnp(s.xyz, s.xy, K, PnPConfig(**{**config.__dict__, "backend": backend, "min_inliers": 4, "min_inlier_ratio": 0.0}), device=device)
        times.append((time.perf_counter() - t0) * 1e3)
        if result.T_cam_obj is None:
            rot.append(float("inf"))
            trans.append(float("inf"))
        else:
            rot.append(rotation_error_deg(result.T_cam_obj[:3, :3], s.T[:3, :3]))
            trans.append(float(np.linalg.norm(result.T_cam_obj[:3, 3] - s.T[:3, 3]) * 100))
    rot, trans = np.asarray(rot), np.asarray(trans)
    return {
        "success": float(np.mean((rot < 1.0) & (trans < 1.0))),
        "median_rotation_error_deg": float(np.median(rot)),
        "median_translation_error_cm": float(np.median(trans)),
        "median_ms": float(np.median(times)),
    }


def run_pnp_accuracy(
    backends: Sequence[str] = ("opencv", "poselib", "gpu"),
    sizes: Sequence[int] = (100, 1000, 10000),
    outlier_ratios: Sequence[float] = (0.1, 0.5, 0.8, 0.9, 0.95),
    noises: Sequence[float] = (0.5, 1.0, 2.0),
    trials: int = 5,
    config: PnPConfig = PnPConfig(),
    device=None,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    from tqdm import tqdm

    rows = []
    grid = [(n, o, s) for n in sizes for o in outlier_ratios for s in noises]
    for n, outliers, noise in tqdm(grid, desc="pnp sets", disable=not progress):
        rng = np.random.default_rng([seed, n, int(outliers * 100), int(noise * 10)])
        sets = [make_set(n, outliers, noise, rng) for _ in range(trials)]
        for backend in backends:
            if backend == "gpu":
                evaluate(backend, sets[:1], config, device)  # warm-up: kernels and allocator
            rows.append({"backend": backend, "correspondences": n, "outlier_ratio": outliers, "noise_px": noise, "trials": trials, **evaluate(backend, sets, config, device)})
    return {"benchmark": "pnp-accuracy", "config": config.__dict__, "device": str(device), "rows": rows}


def format_table(result: dict) -> str:
    lines = [f"{'N':>6} {'outl':>5} {'noise':>5} {'backend':>8} {'success':>7} {'rot°':>7} {'cm':>7} {'ms':>8}"]
    for r in result["rows"]:
        lines.append(
            f"{r['correspondences']:6d} {r['outlier_ratio']:5.2f} {r['noise_px']:5.1f} {r['backend']:>8} {100 * r['success']:6.0f}% "
            f"{r['median_rotation_error_deg']:7.3f} {r['median_translation_error_cm']:7.3f} {r['median_ms']:8.1f}"
        )
    return "\n".join(lines)
