"""Percentage of correct keypoints (PCK) for semantic correspondence."""

from __future__ import annotations

import numpy as np

PCK_ALPHAS = (0.05, 0.10, 0.15)


def pck(pred: np.ndarray, gt: np.ndarray, reference_size: np.ndarray | float, alphas=PCK_ALPHAS) -> dict[str, float]:
    """Share of keypoints with ||pred - gt|| < alpha * reference_size.

    ``reference_size`` is per keypoint (N,) or one value: max(h, w) of the target object's box
    (the PF-PASCAL convention) or of the image (the 3DCorrEnhance evaluation's convention).
    """
    return pck_from_errors(np.linalg.norm(np.asarray(pred, float) - np.asarray(gt, float), axis=-1), reference_size, alphas)


def pck_from_errors(errors: np.ndarray, reference_size: np.ndarray | float, alphas=PCK_ALPHAS) -> dict[str, float]:
    """PCK from keypoint errors (N,) in pixels and their reference sizes."""
    err = np.asarray(errors, float)
    ref = np.broadcast_to(np.asarray(reference_size, float), err.shape)
    return {f"PCK@{a:.2f}": float(np.mean(err < a * ref)) if err.size else float("nan") for a in alphas}
