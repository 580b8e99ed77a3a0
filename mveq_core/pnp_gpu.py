"""Robust PnP in torch: thousands of P3P hypotheses at once, scored against every correspondence in
parallel, the best refined on its inliers. The same code runs on the CPU and on CUDA.

P3P is Grunert's: with unit bearings j1..j3 of three pixels and the distances a = |P2P3|,
b = |P1P3|, c = |P1P2| of their object points, the ratios u = s2/s1, v = s3/s1 of the points'
depths along their bearings satisfy a quartic in v (the resultant of the two law-of-cosines
quadratics in u), then u follows linearly. Up to four poses per sample come from the absolute
orientation (Kabsch) of the three camera-frame points. Scoring is MSAC (truncated squared error);
the best pose is refined by Gauss-Newton on reprojection error over its inliers, re-selected after
each step (a local optimisation as in LO-RANSAC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

_HYPOTHESIS_CHUNK = 4096  # candidate poses scored at once (x N correspondences)


@dataclass
class TorchPnPResult:
    """``T_cam_obj`` (4, 4) float64 numpy or None; ``inliers`` (N,) bool numpy."""

    T_cam_obj: np.ndarray | None
    inliers: np.ndarray
    hypotheses: int


def _quartic_coefficients(a2, b2, c2, ca, cb, cg):
    """(B, 5) coefficients (v^4 .. v^0) of Grunert's quartic, from squared distances and cosines."""
    a4, b4, c4 = a2 * a2, b2 * b2, c2 * c2
    b, c, a = b2.sqrt(), c2.sqrt(), a2.sqrt()
    k4 = (a2 - b2 - 2 * b * c * ca - c2) * (a2 - b2 + 2 * b * c * ca - c2)
    k3 = -4 * (a4 * cb - a2 * b2 * ca * cg - a2 * b2 * cb - 2 * a2 * c2 * cb + b4 * ca * cg - 2 * b2 * c2 * ca**2 * cb - b2 * c2 * ca * cg + b2 * c2 * cb + c4 * cb)
    k2 = 2 * (
        2 * a4 * cb**2 + a4 - 4 * a2 * b2 * ca * cb * cg - 2 * a2 * b2 * cg**2 - 4 * a2 * c2 * cb**2 - 2 * a2 * c2
        + 2 * b4 * ca**2 + 2 * b4 * cg**2 - b4 - 2 * b2 * c2 * ca**2 - 4 * b2 * c2 * ca * cb * cg + 2 * c4 * cb**2 + c4
    )  # fmt: skip
    k1 = -4 * (a4 * cb - a2 * b2 * ca * cg - 2 * a2 * b2 * cb * cg**2 + a2 * b2 * cb - 2 * a2 * c2 * cb + b4 * ca * cg - b2 * c2 * ca * cg - b2 * c2 * cb + c4 * cb)
    k0 = (a2 - 2 * a * b * cg + b2 - c2) * (a2 + 2 * a * b * cg + b2 - c2)
    return torch.stack([k4, k3, k2, k1, k0], dim=-1)


def _real_roots(coefficients: torch.Tensor, iterations: int = 40, tolerance: float = 1e-6):
    """Roots (B, 4) of quartics (B, 5) and a (B, 4) mask of the real ones.

    Durand-Kerner (Weierstrass) iterations on all four roots at once, elementwise over the batch
    (no per-matrix eigen-solver calls, which do not batch well on GPUs), then Newton polishing of
    the real parts. A root is real when its imaginary part is under ``tolerance`` x (1 + |root|).
    """
    lead = coefficients[:, :1]
    ok = lead.abs() > 1e-12
    monic = coefficients / torch.where(ok, lead, torch.ones_like(lead))
    c = monic.to(torch.complex128)

    def poly(z):
        return (((z + c[:, 1:2]) * z + c[:, 2:3]) * z + c[:, 3:4]) * z + c[:, 4:5]

    # Start on a circle of the Cauchy bound's radius, at angles that break symmetry.
    radius = 1 + monic[:, 1:].abs().amax(1, keepdim=True)
    angles = torch.tensor([0.4, 2.0, 3.6, 5.2], dtype=torch.float64, device=coefficients.device)
    z = torch.polar(radius.expand(-1, 4).contiguous(), angles.expand(len(monic), -1).contiguous())
    for _ in range(iterations):
        diff = z[:, :, None] - z[:, None, :]
        diff = diff + torch.eye(4, dtype=diff.dtype, device=diff.device)  # the i == j factors become 1
        z = z - poly(z) / diff.prod(-1)
    real = z.real
    for _ in range(2):  # Newton on the real parts
        x = real
        f = (((x + monic[:, 1:2]) * x + monic[:, 2:3]) * x + monic[:, 3:4]) * x + monic[:, 4:5]
        df = ((4 * x + 3 * monic[:, 1:2]) * x + 2 * monic[:, 2:3]) * x + monic[:, 3:4]
        step = torch.where(df.abs() > 1e-15, f / df, torch.zeros_like(f))
        real = x - step
    mask = (z.imag.abs() < tolerance * (1 + real.abs())) & ok & torch.isfinite(real)
    return real, mask


def _kabsch(source: torch.Tensor, target: torch.Tensor):
    """R (B, 3, 3), t (B, 3) with target = R source + t for point triples (B, 3, 3)."""
    ms, mt = source.mean(1, keepdim=True), target.mean(1, keepdim=True)
    H = (source - ms).transpose(1, 2) @ (target - mt)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vh.transpose(1, 2) @ U.transpose(1, 2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(1, 2) @ D @ U.transpose(1, 2)
    t = mt[:, 0] - (R @ ms[:, 0, :, None])[..., 0]
    return R, t


def p3p(world: torch.Tensor, bearings: torch.Tensor):
    """Poses from point triples: ``world`` (B, 3, 3) object points, ``bearings`` (B, 3, 3) unit rays.

    Returns R (B*4, 3, 3), t (B*4, 3) and a (B*4,) validity mask (four candidate roots per triple).
    """
    P1, P2, P3 = world[:, 0], world[:, 1], world[:, 2]
    j1, j2, j3 = bearings[:, 0], bearings[:, 1], bearings[:, 2]
    a2 = ((P2 - P3) ** 2).sum(-1)
    b2 = ((P1 - P3) ** 2).sum(-1)
    c2 = ((P1 - P2) ** 2).sum(-1)
    ca, cb, cg = (j2 * j3).sum(-1), (j1 * j3).sum(-1), (j1 * j2).sum(-1)
    v, valid = _real_roots(_quartic_coefficients(a2, b2, c2, ca, cb, cg))
    rep = lambda x: x[:, None].expand(-1, 4)  # noqa: E731
    a2, b2, c2, ca, cb, cg = map(rep, (a2, b2, c2, ca, cb, cg))
    denominator = 2 * b2 * (v * ca - cg)
    u = (b2 * (v * v - 1) - (a2 - c2) * (1 + v * v - 2 * v * cb)) / torch.where(denominator.abs() > 1e-15, denominator, torch.full_like(denominator, 1e-15))
    s1_sq = b2 / (1 + v * v - 2 * v * cb)
    valid &= (v > 0) & (u > 0) & (s1_sq > 0) & torch.isfinite(u)
    s1 = s1_sq.clamp_min(0).sqrt()
    camera = torch.stack([s1[..., None] * j1[:, None], (u * s1)[..., None] * j2[:, None], (v * s1)[..., None] * j3[:, None]], dim=2)  # (B, 4, 3, 3)
    B = world.shape[0]
    R, t = _kabsch(world[:, None].expand(-1, 4, -1, -1).reshape(B * 4, 3, 3), camera.reshape(B * 4, 3, 3))
    valid = valid.reshape(-1) & torch.isfinite(R).all(-1).all(-1) & torch.isfinite(t).all(-1)
    return R, t, valid


def _errors_sq(R, t, xyz, xy, K):
    """Squared reprojection errors (H, N) of poses (H, 3, 3), (H, 3); points behind count as inf."""
    cam = torch.einsum("hij,nj->hni", R, xyz) + t[:, None]
    z = cam[..., 2]
    px = cam[..., 0] / z * K[0, 0] + K[0, 2]
    py = cam[..., 1] / z * K[1, 1] + K[1, 2]
    err = (px - xy[:, 0]) ** 2 + (py - xy[:, 1]) ** 2
    return torch.where(z > 1e-6, err, torch.full_like(err, float("inf")))


def _rodrigues(w: torch.Tensor) -> torch.Tensor:
    theta = w.norm()
    if float(theta) < 1e-12:
        return torch.eye(3, dtype=w.dtype, device=w.device)
    k = w / theta
    Kx = torch.zeros(3, 3, dtype=w.dtype, device=w.device)
    Kx[0, 1], Kx[0, 2], Kx[1, 0], Kx[1, 2], Kx[2, 0], Kx[2, 1] = -k[2], k[1], k[2], -k[0], -k[1], k[0]
    return torch.eye(3, dtype=w.dtype, device=w.device) + torch.sin(theta) * Kx + (1 - torch.cos(theta)) * (Kx @ Kx)


def refine_pose(R, t, xyz, xy, K, threshold_sq: float, steps: int = 10):
    """Gauss-Newton on the reprojection error of the current inliers (re-selected each step)."""
    for _ in range(steps):
        err = _errors_sq(R[None], t[None], xyz, xy, K)[0]
        inl = err < threshold_sq
        if int(inl.sum()) < 6:
            break
        X = (xyz[inl] @ R.T) + t
        x, y, z = X[:, 0], X[:, 1], X[:, 2]
        fx, fy = K[0, 0], K[1, 1]
        r = torch.cat([(fx * x / z + K[0, 2]) - xy[inl, 0], (fy * y / z + K[1, 2]) - xy[inl, 1]])
        # d(pixel)/d(camera point), then camera point w.r.t. a left rotation increment and t
        zero = torch.zeros_like(z)
        du = torch.stack([fx / z, zero, -fx * x / z**2], -1)
        dv = torch.stack([zero, fy / z, -fy * y / z**2], -1)
        skew = torch.stack([torch.stack([zero, z, -y], -1), torch.stack([-z, zero, x], -1), torch.stack([y, -x, zero], -1)], 1)  # d(X)/d(w) = -[X]x
        J_u = torch.cat([(du[:, None, :] @ skew)[:, 0], du], -1)
        J_v = torch.cat([(dv[:, None, :] @ skew)[:, 0], dv], -1)
        J = torch.cat([J_u, J_v])
        delta = torch.linalg.lstsq(J, -r[:, None]).solution[:, 0]
        if not torch.isfinite(delta).all():
            break
        dR = _rodrigues(delta[:3])
        R, t = dR @ R, dR @ t + delta[3:]
        if float(delta.norm()) < 1e-10:
            break
    return R, t


def ransac_pnp_torch(
    xyz: np.ndarray,
    xy: np.ndarray,
    K: np.ndarray,
    iterations: int = 10_000,
    threshold_px: float = 8.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    refine_steps: int = 10,
    local_optimisations: int = 1,
) -> TorchPnPResult:
    """RANSAC PnP with ``iterations`` P3P samples drawn at once (deterministic for a seed and device);
    the ``local_optimisations`` best hypotheses are refined and the best refined pose is kept.

    Args:
        xyz: (N, 3) object points, metres; xy: (N, 2) undistorted pixels; K: (3, 3).
    """
    device = torch.device(device)
    n = len(xy)
    if n < 4:
        return TorchPnPResult(None, np.zeros(n, bool), 0)
    f64 = torch.float64
    P = torch.as_tensor(np.asarray(xyz), dtype=f64, device=device)
    p = torch.as_tensor(np.asarray(xy), dtype=f64, device=device)
    Kt = torch.as_tensor(np.asarray(K), dtype=f64, device=device)
    rays = torch.cat([p, torch.ones(n, 1, dtype=f64, device=device)], 1) @ torch.linalg.inv(Kt).T
    rays = rays / rays.norm(dim=1, keepdim=True)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    samples = torch.randint(0, n, (int(iterations), 3), generator=generator, device=device)
    distinct = (samples[:, 0] != samples[:, 1]) & (samples[:, 0] != samples[:, 2]) & (samples[:, 1] != samples[:, 2])
    samples = samples[distinct]
    R, t, valid = p3p(P[samples], rays[samples])
    R, t = R[valid], t[valid]
    if len(R) == 0:
        return TorchPnPResult(None, np.zeros(n, bool), int(iterations))
    threshold_sq = float(threshold_px) ** 2
    P32, p32, K32 = P.float(), p.float(), Kt.float()
    scores = torch.cat([
        _errors_sq(R[start : start + _HYPOTHESIS_CHUNK].float(), t[start : start + _HYPOTHESIS_CHUNK].float(), P32, p32, K32).clamp(max=threshold_sq).sum(1)
        for start in range(0, len(R), _HYPOTHESIS_CHUNK)
    ])  # MSAC: truncated squared errors; no host sync until the best few are chosen
    best_score, R_best, t_best = float("inf"), None, None
    for index in torch.topk(scores, min(local_optimisations, len(scores)), largest=False).indices.tolist():
        R_ref, t_ref = refine_pose(R[index], t[index], P, p, Kt, threshold_sq, refine_steps)
        score = float(_errors_sq(R_ref[None], t_ref[None], P, p, Kt)[0].clamp(max=threshold_sq).sum())
        if score < best_score:
            best_score, R_best, t_best = score, R_ref, t_ref
    inliers = _errors_sq(R_best[None], t_best[None], P, p, Kt)[0] < threshold_sq
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R_best.cpu().numpy(), t_best.cpu().numpy()
    if not np.all(np.isfinite(T)) or math.isclose(float(np.linalg.det(T[:3, :3])), 0.0):
        return TorchPnPResult(None, np.zeros(n, bool), int(iterations))
    return TorchPnPResult(T, inliers.cpu().numpy(), int(iterations))
