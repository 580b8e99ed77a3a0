"""Equivariance losses between descriptors of two views of an object: SmoothAP, contrastive, Procrustes.

All losses take descriptors ``desc_a`` (B, S, C) and ``desc_b`` (B, T, C) (L2-normalised), object
coordinates ``xyz_a`` (B, S, 3) and ``xyz_b`` (B, T, 3) in object-normalised units (largest
bounding-box side 1) and validity masks ``valid_a`` (B, S), ``valid_b`` (B, T). Pixels whose 3D
points are closer than ``pos_radius`` are positives, farther than ``neg_radius`` negatives, as in
the paper (5e-3 and 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossConfig:
    name: str = "smoothap"
    temperature: float = 0.01  # SmoothAP's sigmoid temperature (the paper's)
    pos_radius: float = 5e-3
    neg_radius: float = 0.1
    symmetric: bool = True
    contrastive_temperature: float = 0.05
    procrustes_temperature: float = 0.02


def _sigmoid(x: torch.Tensor, temperature: float) -> torch.Tensor:
    # The official code clamps the exponent to +-50 before the exponential.
    return torch.sigmoid(torch.clamp(x / temperature, -50.0, 50.0))


def _pairs(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config: LossConfig):
    sim = torch.bmm(desc_a, desc_b.transpose(1, 2))  # (B, S, T)
    dist = torch.cdist(xyz_a.float(), xyz_b.float())  # (B, S, T)
    both = valid_a[:, :, None] & valid_b[:, None, :]
    pos = (dist < config.pos_radius) & both
    neg = (dist > config.neg_radius) & both
    return sim, pos, neg


def _smooth_ap_one_way(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float) -> torch.Tensor | None:
    idx = torch.nonzero(pos, as_tuple=False)
    if len(idx) == 0:
        return None
    b, i, j = idx.unbind(1)
    s_pos = sim[b, i, j]  # (P,)
    row = sim[b, i]  # (P, T)
    neg_row = neg[b, i].float()
    # Two rankings as in the official implementation: against a perfect score (1) and against s_pos.
    r1 = 1.0 + _sigmoid(s_pos - 1.0, temperature)
    ap1 = r1 / (r1 + (_sigmoid(row - 1.0, temperature) * neg_row).sum(-1))
    r2 = 1.0 + _sigmoid(1.0 - s_pos, temperature)
    ap2 = r2 / (r2 + (_sigmoid(row - s_pos[:, None], temperature) * neg_row).sum(-1))
    return (1.0 - (ap1 + ap2) / 2.0).mean()


def smooth_ap_loss(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config: LossConfig = LossConfig()) -> torch.Tensor:
    """1 - smoothed average precision of each positive against the negatives of its row.

    With ``symmetric`` the rows of view B (against view A) count too, averaged with view A's.
    Returns 0 (with a graph) when the pair has no positives.
    """
    sim, pos, neg = _pairs(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config)
    terms = [_smooth_ap_one_way(sim, pos, neg, config.temperature)]
    if config.symmetric:
        terms.append(_smooth_ap_one_way(sim.transpose(1, 2), pos.transpose(1, 2), neg.transpose(1, 2), config.temperature))
    terms = [t for t in terms if t is not None]
    if not terms:
        return sim.sum() * 0.0
    return torch.stack(terms).mean()


def contrastive_loss(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config: LossConfig = LossConfig()) -> torch.Tensor:
    """InfoNCE per anchor with at least one positive: -log(sum_pos e^{s/t} / sum_{pos+neg} e^{s/t})."""
    sim, pos, neg = _pairs(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config)
    losses = []
    for s, p, n in ((sim, pos, neg), (sim.transpose(1, 2), pos.transpose(1, 2), neg.transpose(1, 2)))[: 2 if config.symmetric else 1]:
        logits = s / config.contrastive_temperature
        anchors = p.any(-1)
        if not anchors.any():
            continue
        minus_inf = torch.finfo(logits.dtype).min
        log_pos = torch.logsumexp(logits.masked_fill(~p, minus_inf), dim=-1)
        log_all = torch.logsumexp(logits.masked_fill(~(p | n), minus_inf), dim=-1)
        losses.append((log_all - log_pos)[anchors].mean())
    if not losses:
        return sim.sum() * 0.0
    return torch.stack(losses).mean()


def weighted_procrustes(src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rigid (R, t) minimising sum w_i |R src_i + t - dst_i|^2 (Kabsch with reflection fix).

    src, dst: (N, 3); weights: (N,) >= 0. Differentiable through the SVD.
    """
    w = weights / weights.sum().clamp_min(1e-9)
    mu_s = (w[:, None] * src).sum(0)
    mu_d = (w[:, None] * dst).sum(0)
    cov = ((src - mu_s) * w[:, None]).T @ (dst - mu_d)
    U, _, Vh = torch.linalg.svd(cov)
    d = torch.sign(torch.det(Vh.T @ U.T))
    D = torch.diag(torch.stack([torch.ones_like(d), torch.ones_like(d), d]))
    R = Vh.T @ D @ U.T
    t = mu_d - R @ mu_s
    return R, t


def procrustes_loss(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config: LossConfig = LossConfig()) -> torch.Tensor:
    """Differentiable nearest neighbours + Procrustes.

    Each pixel of A that is visible in B gets a soft match (softmax of similarity over B's pixels);
    a weighted Procrustes fit maps A's 3D points onto their soft matches' 3D points. Both views
    live in object coordinates, so the true transform is the identity: the loss is the mean
    distance by which the fitted transform moves A's points.
    """
    sim, pos, _ = _pairs(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config)
    losses = []
    for k in range(sim.shape[0]):
        anchors = pos[k].any(-1)
        if anchors.sum() < 3:
            continue
        logits = (sim[k][anchors] / config.procrustes_temperature).masked_fill(~valid_b[k][None], torch.finfo(sim.dtype).min)
        soft = torch.softmax(logits, dim=-1) @ xyz_b[k].float()
        src = xyz_a[k][anchors].float()
        R, t = weighted_procrustes(src, soft, torch.ones(len(src), device=src.device))
        losses.append((src @ R.T + t - src).norm(dim=-1).mean())
    if not losses:
        return sim.sum() * 0.0
    return torch.stack(losses).mean()


LOSSES = {"smoothap": smooth_ap_loss, "contrastive": contrastive_loss, "procrustes": procrustes_loss}


def equivariance_loss(desc_a, desc_b, xyz_a, xyz_b, valid_a, valid_b, config: LossConfig = LossConfig()) -> torch.Tensor:
    """The loss named by ``config.name``."""
    try:
        fn = LOSSES[config.name]
    except KeyError:
        raise ValueError(f"unknown loss {config.name!r}; choose from {sorted(LOSSES)}") from None
    return fn(F.normalize(desc_a, dim=-1), F.normalize(desc_b, dim=-1), xyz_a, xyz_b, valid_a, valid_b, config)
