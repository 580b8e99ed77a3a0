"""BOP pose-error functions (VSD, MSSD, MSPD), BOP19 average recall, and the BOP results CSV.

Follows the BOP toolkit (bop_toolkit_lib: pose_error, visibility, pose_matching, score) and the
BOP19 evaluation settings: VSD with delta per dataset (YCB-V: 15 mm), taus 0.05..0.5 of the
diameter, correctness thresholds 0.05..0.5; MSSD thresholds 0.05..0.5 of the diameter; MSPD
thresholds 5..50 px at 640 px image width; continuous symmetries discretised with
``max_sym_disc_step`` 0.01. Units are whatever the inputs use consistently (mveq: metres).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..geometry import project_points, rotation_matrix_axis_angle, transform_points
from ..io import atomic_path

BOP19_THRESHOLDS = [round(0.05 * k, 2) for k in range(1, 11)]  # 0.05 .. 0.50
MSPD_THRESHOLDS = [5 * k for k in range(1, 11)]  # 5 .. 50 px at 640 px width
VSD_TAUS = BOP19_THRESHOLDS
VSD_DELTA_M = {"ycbv": 0.015, "tless": 0.015, "lmo": 0.015, "tudl": 0.015, "icbin": 0.015, "itodd": 0.005, "hb": 0.015}


@dataclass(frozen=True)
class Symmetry:
    """x -> R x + t maps the object onto itself (t in the units of the model)."""

    R: np.ndarray
    t: np.ndarray


def symmetry_transformations(model_info: dict, max_sym_disc_step: float = 0.01, unit_scale: float = 1.0) -> list[Symmetry]:
    """BOP's set of symmetries: identity, ``symmetries_discrete`` (flattened 4x4) and
    ``symmetries_continuous`` (axis, offset) discretised so that no point moves more than
    ``max_sym_disc_step`` of the diameter between steps. ``unit_scale`` converts the offsets and
    translations (BOP: millimetres) to the caller's units."""
    discrete = [Symmetry(np.eye(3), np.zeros(3))]
    for sym in model_info.get("symmetries_discrete", []):
        m = np.asarray(sym, dtype=np.float64).reshape(4, 4)
        discrete.append(Symmetry(m[:3, :3], m[:3, 3] * unit_scale))
    continuous = []
    for sym in model_info.get("symmetries_continuous", []):
        axis = np.asarray(sym["axis"], dtype=np.float64)
        offset = np.asarray(sym.get("offset", [0, 0, 0]), dtype=np.float64) * unit_scale
        steps = int(math.ceil(math.pi / max_sym_disc_step))
        for i in range(steps):
            R = rotation_matrix_axis_angle(axis, i * 2.0 * math.pi / steps)
            continuous.append(Symmetry(R, -R @ offset + offset))
    if not continuous:
        return discrete
    return [Symmetry(c.R @ d.R, c.R @ d.t + c.t) for d in discrete for c in continuous]


def _pose_points(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    return transform_points(T, points)


def _gt_sym(T_gt: np.ndarray, sym: Symmetry) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = T_gt[:3, :3] @ sym.R
    T[:3, 3] = T_gt[:3, :3] @ sym.t + T_gt[:3, 3]
    return T


def mssd(T_est: np.ndarray, T_gt: np.ndarray, points: np.ndarray, symmetries: Sequence[Symmetry]) -> float:
    """Maximum symmetry-aware surface distance."""
    est = _pose_points(T_est, points)
    return min(float(np.linalg.norm(est - _pose_points(_gt_sym(T_gt, s), points), axis=1).max()) for s in symmetries)


def mspd(T_est: np.ndarray, T_gt: np.ndarray, K: np.ndarray, points: np.ndarray, symmetries: Sequence[Symmetry]) -> float:
    """Maximum symmetry-aware projection distance, pixels."""
    est = project_points(_pose_points(T_est, points), K)
    return min(float(np.linalg.norm(est - project_points(_pose_points(_gt_sym(T_gt, s), points), K), axis=1).max()) for s in symmetries)


def distance_image(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Distance from the camera centre per pixel from a z-depth image (BOP's dist image)."""
    h, w = depth.shape
    xs = (np.arange(w) - K[0, 2]) / K[0, 0]
    ys = (np.arange(h) - K[1, 2]) / K[1, 1]
    return depth * np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2 + 1.0)


def _visibility(dist_test: np.ndarray, dist_model: np.ndarray, delta: float) -> np.ndarray:
    # BOP19 mode: visible where the model is not behind the test surface by more than delta, or
    # where the test depth is missing.
    diff = dist_model - dist_test
    return np.logical_and(np.logical_or(diff <= delta, dist_test == 0), dist_model > 0)


def vsd(
    depth_est: np.ndarray,
    depth_gt: np.ndarray,
    depth_test: np.ndarray,
    K: np.ndarray,
    delta: float,
    taus: Sequence[float],
    diameter: float,
    normalized_by_diameter: bool = True,
) -> list[float]:
    """Visible surface discrepancy for each tau (step cost), from rendered model depths at the
    estimated and ground-truth poses and the test image's depth (0 = missing)."""
    dist_test = distance_image(depth_test, K)
    dist_gt = distance_image(depth_gt, K)
    dist_est = distance_image(depth_est, K)
    visib_gt = _visibility(dist_test, dist_gt, delta)
    visib_est = np.logical_or(_visibility(dist_test, dist_est, delta), np.logical_and(visib_gt, dist_est > 0))
    inter = np.logical_and(visib_gt, visib_est)
    union_count = int(np.logical_or(visib_gt, visib_est).sum())
    if union_count == 0:
        return [1.0] * len(taus)
    complement = union_count - int(inter.sum())
    dists = np.abs(dist_gt[inter] - dist_est[inter])
    if normalized_by_diameter:
        dists = dists / diameter
    return [float(((dists >= tau).sum() + complement) / union_count) for tau in taus]


# ------------------------------------------------------------------------------------------------
# Matching estimates to ground truth and average recall


@dataclass
class Estimate:
    """One pose estimate: ``errors`` maps a GT index (in its image) to the error (per error type key)."""

    score: float
    errors: dict[int, float] = field(default_factory=dict)


@dataclass
class ImageObjectCase:
    """The GT instances of one object in one image and the estimates for it.

    ``valid`` marks the GT instances that are targets (the ``inst_count`` most visible ones).
    """

    gt_ids: list[int]
    valid: list[bool]
    estimates: list[Estimate]
    n_top: int


def valid_targets(visib_fracts: Sequence[float], inst_count: int) -> list[bool]:
    """BOP19 (visib_gt_min = -1): the ``inst_count`` instances with the largest visible fraction."""
    order = sorted(range(len(visib_fracts)), key=lambda i: visib_fracts[i], reverse=True)
    valid = [False] * len(visib_fracts)
    for i in order[:inst_count]:
        valid[i] = True
    return valid


def recall_at(cases: Sequence[ImageObjectCase], threshold: float) -> float:
    """Recall at one correctness threshold: greedy matching of estimates (by decreasing score,
    top ``n_top``) to unmatched valid GT instances whose error is below the threshold."""
    targets = sum(sum(c.valid) for c in cases)
    if targets == 0:
        return 0.0
    hits = 0
    for case in cases:
        estimates = sorted(case.estimates, key=lambda e: e.score, reverse=True)
        if case.n_top > 0:
            estimates = estimates[: case.n_top]
        matched: set[int] = set()
        for est in estimates:
            best, best_err = -1, threshold
            for gt_id, valid in zip(case.gt_ids, case.valid):
                err = est.errors.get(gt_id)
                if valid and gt_id not in matched and err is not None and err < best_err:
                    best, best_err = gt_id, err
            if best >= 0:
                matched.add(best)
                hits += 1
    return hits / targets


def average_recall(cases: Sequence[ImageObjectCase], thresholds: Sequence[float]) -> float:
    """Mean recall over correctness thresholds."""
    return float(np.mean([recall_at(cases, t) for t in thresholds]))


# ------------------------------------------------------------------------------------------------
# BOP results CSV


@dataclass
class BopEstimate:
    """A row of a BOP19 results file. ``T_cam_obj`` in metres (written in millimetres)."""

    scene_id: int
    im_id: int
    obj_id: int
    score: float
    T_cam_obj: np.ndarray
    time_s: float = -1.0


def write_bop_csv(path: str | os.PathLike, estimates: Sequence[BopEstimate]) -> None:
    """``scene_id,im_id,obj_id,score,R,t,time``: R row-major (9 values), t in mm, time in seconds
    (the same for every estimate of an image; -1 when unknown). Written atomically."""
    lines = ["scene_id,im_id,obj_id,score,R,t,time"]
    for e in estimates:
        R = " ".join(f"{v:.8f}" for v in np.asarray(e.T_cam_obj)[:3, :3].reshape(-1))
        t = " ".join(f"{v:.4f}" for v in np.asarray(e.T_cam_obj)[:3, 3] * 1000.0)
        lines.append(f"{e.scene_id},{e.im_id},{e.obj_id},{e.score:.6f},{R},{t},{e.time_s:.4f}")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def read_bop_csv(path: str | os.PathLike) -> list[BopEstimate]:
    """Read a BOP19 results file (t in mm) into :class:`BopEstimate` rows (metres)."""
    rows = []
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header[:6] != ["scene_id", "im_id", "obj_id", "score", "R", "t"]:
            raise ValueError(f"{path}: not a BOP19 results file (header {header})")
        for line_no, line in enumerate(f, start=2):
            if not line.strip():
                continue
            parts = line.strip().split(",")
            try:
                R = np.array(parts[4].split(), float).reshape(3, 3)
                t = np.array(parts[5].split(), float).reshape(3) / 1000.0
            except ValueError:
                raise ValueError(f"{path}:{line_no}: malformed R or t") from None
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = R, t
            rows.append(BopEstimate(int(parts[0]), int(parts[1]), int(parts[2]), float(parts[3]), T, float(parts[6]) if len(parts) > 6 else -1.0))
    return rows


DepthRenderer = Callable[[np.ndarray], np.ndarray]
