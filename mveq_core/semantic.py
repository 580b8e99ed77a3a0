"""Semantic correspondence: keypoint transfer between instances by cosine-similarity nearest neighbour."""

from __future__ import annotations

import numpy as np
import torch

from .features import DenseFeatures, image_to_tensor


@torch.no_grad()
def transfer_keypoints(
    features: DenseFeatures,
    image_a: np.ndarray,
    keypoints_a: np.ndarray,
    image_b: np.ndarray,
    soft_argmax: bool = False,
    soft_radius_px: float = 14.0,
    soft_temperature: float = 0.04,
    candidate_stride: int = 1,
) -> np.ndarray:
    """Where each keypoint (N, 2) of image A lands in image B: the most similar pixel of B (on a
    ``candidate_stride`` grid), refined by a soft-argmax over a disc when ``soft_argmax``.

    Images are (H, W, 3) uint8 RGB; returns (N, 2) pixels of B.
    """
    device = features.device
    grid_a = features.feature_grid(image_to_tensor(image_a, device))
    grid_b = features.feature_grid(image_to_tensor(image_b, device))
    hb, wb = image_b.shape[:2]
    query = grid_a.sample(torch.as_tensor(np.asarray(keypoints_a, np.float32), device=device))
    ys, xs = torch.meshgrid(torch.arange(0, hb, candidate_stride, device=device), torch.arange(0, wb, candidate_stride, device=device), indexing="ij")
    cand_xy = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float()
    cand = grid_b.sample(cand_xy)
    sim = query @ cand.T  # (N, M)
    best = sim.argmax(dim=1)
    xy = cand_xy[best]
    if soft_argmax:
        d2 = ((cand_xy[None] - xy[:, None]) ** 2).sum(-1)
        w = torch.softmax(sim / soft_temperature, dim=1) * (d2 <= soft_radius_px**2)
        w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
        xy = w @ cand_xy
    return xy.cpu().numpy()


