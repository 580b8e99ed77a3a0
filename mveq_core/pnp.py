"""Robust PnP behind one function: OpenCV EPnP RANSAC (the paper's), poselib LO-RANSAC or batched P3P
RANSAC in torch (``gpu``: CUDA or CPU, :mod:`mveq_core.pnp_gpu`). The default ``auto`` is ``gpu``
where the caller's device is CUDA and poselib elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import check_intrinsics, make_transform, project_points, transform_points
from .settings import option, require

BACKENDS = ("auto", "poselib", "opencv", "gpu")


@dataclass(frozen=True)
class PnPConfig:
    """RANSAC settings; defaults are the paper's (10,000 iterations, 8 px) with more accurate back-ends
    than the paper's EPnP RANSAC (``opencv``): ``auto`` = ``gpu`` (batched P3P + local optimisation
    in torch, one CUDA graph) on CUDA, poselib (LO-RANSAC + non-linear refinement) on the CPU. The
    two were equal on the real-image benchmark (docs/benchmarks.md, issue 11); gpu is 4-8 ms per
    call on an H200 at any outlier ratio, poselib 2-1,900 ms on the CPU."""

    backend: str = option("auto", "PnP back-end: auto = gpu on CUDA, poselib on the CPU; opencv = the paper's EPnP RANSAC; gpu = batched P3P RANSAC in torch",
                          cli="--backend", ros="pnp_backend", choices=BACKENDS)
    iterations: int = option(10_000, "RANSAC iterations", cli="--ransac-iters", ros="ransac_iterations")
    threshold_px: float = option(8.0, "RANSAC inlier threshold, pixels", cli="--threshold", ros="ransac_threshold")
    confidence: float = 0.9999
    min_inliers: int = option(12, "fewer inliers: no pose", cli="--min-inliers", ros="min_inliers")
    # Chance consensus among thousands of wrong matches reaches a few dozen inliers but stays under
    # 1% of the matches; real detections sit far above 3%.
    min_inlier_ratio: float = option(0.03, "a lower inlier ratio: no pose", cli="--min-inlier-ratio", ros="min_inlier_ratio")
    seed: int = 0
    compile: bool = option(False, "gpu back-end on CUDA: torch.compile the search into fewer, fused kernels (compiled once per process, about a minute, on its first call)",
                           cli="--pnp-compile", ros="pnp_compile")

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown PnP back-end {self.backend!r}; choose from {BACKENDS}")
        require(self, "iterations", self.iterations > 0)
        require(self, "threshold_px", self.threshold_px > 0)
        require(self, "min_inliers", self.min_inliers > 0)
        require(self, "min_inlier_ratio", 0 <= self.min_inlier_ratio <= 1, "must be in [0, 1]")


@dataclass
class PnPResult:
    """``T_cam_obj`` (4, 4) metres or None; ``inliers`` (M,) bool over the input correspondences."""

    success: bool
    T_cam_obj: np.ndarray | None
    inliers: np.ndarray
    num_inliers: int
    inlier_ratio: float
    reprojection_error: float  # mean over inliers, pixels
    reason: str = ""


def _failure(n: int, reason: str) -> PnPResult:
    return PnPResult(False, None, np.zeros(n, bool), 0, 0.0, float("nan"), reason)


def undistort_pixels(xy: np.ndarray, K: np.ndarray, dist_coeffs: np.ndarray | None) -> np.ndarray:
    """Remove lens distortion from pixels (OpenCV model); they stay in pixels of the same K."""
    if dist_coeffs is None or not np.any(dist_coeffs):
        return xy
    import cv2

    return cv2.undistortPoints(xy.reshape(-1, 1, 2).astype(np.float64), K, np.asarray(dist_coeffs, np.float64), P=K).reshape(-1, 2)


def solve_pnp(xyz: np.ndarray, xy: np.ndarray, K: np.ndarray, config: PnPConfig = PnPConfig(), dist_coeffs: np.ndarray | None = None, device=None) -> PnPResult:
    """Pose from 2D-3D correspondences with outliers.

    Args:
        xyz: (M, 3) object points, metres. xy: (M, 2) pixels. K: (3, 3).
        dist_coeffs: OpenCV distortion coefficients of the image the pixels come from, or None.
        device: where the ``gpu`` back-end runs (default: CUDA when available, else the CPU).

    Returns a :class:`PnPResult`; ``success`` is False (not an exception) when there are fewer than
    4 correspondences, fewer than ``config.min_inliers`` inliers, or an inlier ratio under
    ``config.min_inlier_ratio``.
    """
    K = check_intrinsics(K)
    xyz = np.asarray(xyz, np.float64).reshape(-1, 3)
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    if len(xyz) != len(xy):
        raise ValueError(f"xyz has {len(xyz)} points but xy has {len(xy)}")
    n = len(xy)
    if n < 4:
        return _failure(n, f"only {n} correspondences (PnP needs at least 4)")
    xy = undistort_pixels(xy, K, dist_coeffs)
    backend = resolve_backend(config.backend, device)
    if backend == "poselib":
        T = _poselib(xyz, xy, K, config)
    elif backend == "gpu":
        T = _torch(xyz, xy, K, config, device)
    else:
        T = _opencv(xyz, xy, K, config)
    if T is None:
        return _failure(n, "RANSAC found no pose")
    z = transform_points(T, xyz)[:, 2]
    errors = np.full(n, np.inf)
    front = z > 1e-6
    errors[front] = np.linalg.norm(project_points(transform_points(T, xyz[front]), K) - xy[front], axis=1)
    inliers = errors < config.threshold_px
    count = int(inliers.sum())
    result = PnPResult(True, T, inliers, count, count / n, float(errors[inliers].mean()) if count else float("nan"))
    if count < config.min_inliers:
        result.success, result.T_cam_obj = False, None
        result.reason = f"{count} inliers < min_inliers {config.min_inliers}"
    elif result.inlier_ratio < config.min_inlier_ratio:
        result.success, result.T_cam_obj = False, None
        result.reason = f"inlier ratio {result.inlier_ratio:.3f} < min_inlier_ratio {config.min_inlier_ratio}"
    return result


def resolve_backend(backend: str, device=None) -> str:
    """``auto`` -> ``gpu`` when ``device`` is CUDA, else ``poselib``; other names unchanged."""
    if backend != "auto":
        return backend
    return "gpu" if device is not None and str(device).startswith("cuda") else "poselib"


def _poselib(xyz: np.ndarray, xy: np.ndarray, K: np.ndarray, config: PnPConfig) -> np.ndarray | None:
    import poselib

    # poselib's pinhole model is x = f X / Z + c: the same pixel convention as OpenCV.
    camera = {"model": "PINHOLE", "width": 0, "height": 0, "params": [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]}
    ransac = {
        "max_iterations": int(config.iterations),
        "min_iterations": min(1000, int(config.iterations)),
        "max_reproj_error": float(config.threshold_px),
        "success_prob": float(config.confidence),
        "seed": int(config.seed),
    }
    pose, info = poselib.estimate_absolute_pose(xy, xyz, camera, ransac, {})
    if info.get("num_inliers", 0) == 0:
        return None
    return make_transform(np.asarray(pose.R), np.asarray(pose.t))


def _torch(xyz: np.ndarray, xy: np.ndarray, K: np.ndarray, config: PnPConfig, device) -> np.ndarray | None:
    import torch

    from .pnp_gpu import ransac_pnp_torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return ransac_pnp_torch(xyz, xy, K, config.iterations, config.threshold_px, config.seed, device, compile=config.compile).T_cam_obj


def _opencv(xyz: np.ndarray, xy: np.ndarray, K: np.ndarray, config: PnPConfig) -> np.ndarray | None:
    import cv2

    cv2.setRNGSeed(int(config.seed))
    ok, rvec, tvec, inliers = cv2.solvePnPRansac(
        xyz,
        xy,
        K,
        None,
        iterationsCount=int(config.iterations),
        reprojectionError=float(config.threshold_px),
        confidence=float(config.confidence),
        flags=cv2.SOLVEPNP_EPNP,
    )
    if not ok or inliers is None:
        return None
    R, _ = cv2.Rodrigues(rvec)
    return make_transform(R, tvec.reshape(3))
