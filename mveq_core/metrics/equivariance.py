"""Equivariance metrics of the paper: APE and PCDP from nearest-neighbour transfer of pixels."""

from __future__ import annotations

import numpy as np
import torch

PCDP_THRESHOLDS = (0.05, 0.10, 0.20)


def nearest_neighbour_transfer(query: torch.Tensor, candidates: torch.Tensor, candidate_xy: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """For each query descriptor, the pixel of its most similar candidate.

    Args:
        query: (N, C) L2-normalised descriptors; candidates: (M, C) L2-normalised; candidate_xy: (M, 2).

    Returns:
        (N, 2) predicted pixels.
    """
    best = []
    for start in range(0, len(query), chunk):
        best.append((query[start : start + chunk] @ candidates.T).argmax(dim=1))
    return candidate_xy[torch.cat(best)] if best else candidate_xy[:0]


def ape_pcdp(errors_px: np.ndarray, shortest_edge: float, thresholds=PCDP_THRESHOLDS) -> dict[str, float]:
    """APE: mean error / shortest image edge, in percent. PCDP@t: percent of errors below t * edge.

    Args:
        errors_px: (N,) pixel distances between predicted and true correspondences.
        shortest_edge: the shorter image side in pixels.
    """
    errors = np.asarray(errors_px, dtype=np.float64) / float(shortest_edge)
    if errors.size == 0:
        return {"APE": float("nan"), **{f"PCDP@{int(round(t * 100))}": float("nan") for t in thresholds}, "count": 0}
    out = {"APE": float(errors.mean() * 100.0)}
    for t in thresholds:
        out[f"PCDP@{int(round(t * 100))}"] = float((errors < t).mean() * 100.0)
    out["count"] = int(errors.size)
    return out
