"""Robust PnP in torch: thousands of P3P hypotheses at once, scored against the correspondences in
parallel, the best refined on its inliers. The same code runs on the CPU and on CUDA, and on CUDA it
never waits for the GPU until the final pose is copied back (no data-dependent shapes, no Python
branches on tensor values), so the whole search is a few hundred queued kernels.

P3P is Grunert's: with unit bearings j1..j3 of three pixels and the distances a = |P2P3|,
b = |P1P3|, c = |P1P2| of their object points, the ratios u = s2/s1, v = s3/s1 of the points'
depths along their bearings satisfy a quartic in v (the resultant of the two law-of-cosines
quadratics in u), solved in closed form (Ferrari in real arithmetic, then Newton polishing); u
follows linearly. Up to four poses per sample come from aligning the object triangle with the
camera-frame triangle (orthonormal frames of both triangles: exact for the congruent triangles P3P
returns, no SVD).

Scoring is MSAC (truncated squared error) and preemptive: every hypothesis is scored on a fixed
random subset of the correspondences, the ``keep`` best on all of them. The best are refined by
Gauss-Newton on reprojection error over their inliers, re-selected each step, in one batch (a local
optimisation as in LO-RANSAC); a refinement is kept only where it lowers the MSAC score.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import torch

_HYPOTHESIS_CHUNK = 8192  # hypotheses scored at once (x the subset's correspondences)


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


def _largest_cubic_root(A, B, C):
    """The largest real root of m^3 + A m^2 + B m + C (real arithmetic: Cardano with real cube roots
    for one real root, the trigonometric form for three), polished by two Newton steps."""
    P = B - A * A / 3
    Q = 2 * A**3 / 27 - A * B / 3 + C
    disc = Q * Q / 4 + P**3 / 27
    sq = disc.clamp_min(0).sqrt()
    one = torch.sign(-Q / 2 + sq) * (-Q / 2 + sq).abs() ** (1 / 3) + torch.sign(-Q / 2 - sq) * (-Q / 2 - sq).abs() ** (1 / 3)
    neg_p = (-P).clamp_min(1e-300)
    cos_arg = ((3 * Q) / (2 * -neg_p) * (3 / neg_p).sqrt()).clamp(-1, 1)
    three = 2 * (neg_p / 3).sqrt() * torch.cos(torch.acos(cos_arg) / 3)
    m = torch.where(disc > 0, one, three) - A / 3
    for _ in range(2):
        f = ((m + A) * m + B) * m + C
        df = (3 * m + 2 * A) * m + B
        m = m - torch.where(df.abs() > 1e-300, f / torch.where(df.abs() > 1e-300, df, torch.ones_like(df)), torch.zeros_like(f))
    return m


def _real_roots(coefficients: torch.Tensor, tolerance: float = 1e-6):
    """Roots (B, 4) of quartics (B, 5) and a (B, 4) mask of the real ones.

    Ferrari's closed form in real float64 arithmetic, elementwise over the batch (no per-matrix
    eigen-solver calls, which do not batch well on GPUs, no complex numbers, which torch.compile
    cannot fuse, and no iteration count to tune), then two Newton steps. A complex pair's real part is
    kept as a root candidate and counted real when its imaginary part is under ``tolerance`` x
    (1 + |root|) (a near-double root that rounding split).
    """
    lead = coefficients[:, :1]
    ok = lead.abs() > 1e-12
    monic = (coefficients / torch.where(ok, lead, torch.ones_like(lead))).to(torch.float64)
    a, b, c, d = (monic[:, k] for k in range(1, 5))
    # Depressed quartic y^4 + p y^2 + q y + r with x = y - a/4.
    p = b - 3 * a * a / 8
    q = c - a * b / 2 + a**3 / 8
    r = d - a * c / 4 + a * a * b / 16 - 3 * a**4 / 256
    # Resolvent cubic m^3 + p m^2 + (p^2/4 - r) m - q^2/8 = 0: its largest root is >= 0 whenever q != 0
    # (the cubic is -q^2/8 at 0), and any m > 0 splits the quartic into two real quadratics.
    m = _largest_cubic_root(p, p * p / 4 - r, -q * q / 8).clamp_min(0)
    s = (2 * m).sqrt()
    # q / (2s) -> sign(q) sqrt(p^2/4 - r) as q -> 0 (the biquadratic limit of the same split)
    limit = torch.where(q < 0, -1.0, 1.0) * (p * p / 4 - r).clamp_min(0).sqrt()
    half_q = torch.where(s > 1e-12, q / (2 * torch.where(s > 1e-12, s, torch.ones_like(s))), limit)
    # y^2 - s y + (p/2 + m + q/(2s)) = 0 and y^2 + s y + (p/2 + m - q/(2s)) = 0
    d1 = s * s - 4 * (p / 2 + m + half_q)
    d2 = s * s - 4 * (p / 2 + m - half_q)
    r1, r2 = d1.clamp_min(0).sqrt(), d2.clamp_min(0).sqrt()
    y = torch.stack([(s + r1) / 2, (s - r1) / 2, (-s + r2) / 2, (-s - r2) / 2], -1)
    imag = torch.stack([(-d1).clamp_min(0).sqrt() / 2] * 2 + [(-d2).clamp_min(0).sqrt() / 2] * 2, -1)
    real = y - a[:, None] / 4
    for _ in range(2):  # Newton
        x = real
        f = (((x + monic[:, 1:2]) * x + monic[:, 2:3]) * x + monic[:, 3:4]) * x + monic[:, 4:5]
        df = ((4 * x + 3 * monic[:, 1:2]) * x + 2 * monic[:, 2:3]) * x + monic[:, 3:4]
        step = torch.where(df.abs() > 1e-15, f / torch.where(df.abs() > 1e-15, df, torch.ones_like(df)), torch.zeros_like(f))
        real = x - step
    mask = (imag < tolerance * (1 + real.abs())) & ok & torch.isfinite(real)
    return real, mask


def _triangle_frame(points: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) orthonormal frames (columns) of point triples (B, 3, 3): edge 1-2, the normal, and
    their cross product."""
    e1 = points[:, 1] - points[:, 0]
    n = torch.linalg.cross(e1, points[:, 2] - points[:, 0])
    e1 = e1 / e1.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return torch.stack([e1, torch.linalg.cross(n, e1), n], -1)


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
    camera = camera.reshape(B * 4, 3, 3)
    world4 = world[:, None].expand(-1, 4, -1, -1).reshape(B * 4, 3, 3)
    R = _triangle_frame(camera) @ _triangle_frame(world4).transpose(1, 2)
    t = camera.mean(1) - (R @ world4.mean(1)[..., None])[..., 0]
    valid = valid.reshape(-1) & torch.isfinite(R).all(-1).all(-1) & torch.isfinite(t).all(-1)
    return R, t, valid


def _errors_sq(R, t, xyz, xy, K):
    """Squared reprojection errors (H, N) of poses (H, 3, 3), (H, 3); points behind count as inf."""
    cam = torch.einsum("hij,nj->hni", R, xyz) + t[:, None]
    z = cam[..., 2]
    zs = torch.where(z > 1e-6, z, torch.ones_like(z))
    px = cam[..., 0] / zs * K[0, 0] + K[0, 2]
    py = cam[..., 1] / zs * K[1, 1] + K[1, 2]
    err = (px - xy[:, 0]) ** 2 + (py - xy[:, 1]) ** 2
    return torch.where(z > 1e-6, err, torch.full_like(err, float("inf")))


def _msac(R, t, xyz, xy, K, threshold_sq: float) -> torch.Tensor:
    """(H,) MSAC scores (sum of squared errors truncated at the threshold), in hypothesis chunks."""
    return torch.cat([
        _errors_sq(R[s : s + _HYPOTHESIS_CHUNK], t[s : s + _HYPOTHESIS_CHUNK], xyz, xy, K).clamp(max=threshold_sq).sum(1)
        for s in range(0, len(R), _HYPOTHESIS_CHUNK)
    ])  # fmt: skip


def _rodrigues(w: torch.Tensor) -> torch.Tensor:
    """Rotations (B, 3, 3) of axis-angle vectors (B, 3); small angles by the first-order series."""
    theta = w.norm(dim=-1)[:, None, None]
    small = theta < 1e-12
    theta_safe = torch.where(small, torch.ones_like(theta), theta)
    k = w / theta_safe[:, 0]
    zero = torch.zeros_like(k[:, 0])
    Kx = torch.stack([torch.stack([zero, -k[:, 2], k[:, 1]], -1), torch.stack([k[:, 2], zero, -k[:, 0]], -1), torch.stack([-k[:, 1], k[:, 0], zero], -1)], 1)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(Kx)
    full = eye + torch.sin(theta_safe) * Kx + (1 - torch.cos(theta_safe)) * (Kx @ Kx)
    first_order = eye + Kx * theta
    return torch.where(small, first_order, full)


def refine_poses(R, t, xyz, xy, K, threshold_sq: float, steps: int = 10):
    """Gauss-Newton on the reprojection error of each pose's current inliers (re-selected each step),
    for a batch of poses R (L, 3, 3), t (L, 3) at once; a fixed number of steps, no host sync."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    damping = torch.eye(6, dtype=R.dtype, device=R.device) * 1e-9
    for _ in range(steps):
        X = torch.einsum("lij,nj->lni", R, xyz) + t[:, None]  # (L, N, 3)
        x, y, z = X[..., 0], X[..., 1], X[..., 2]
        front = z > 1e-6
        z = torch.where(front, z, torch.ones_like(z))
        ru, rv = fx * x / z + cx - xy[:, 0], fy * y / z + cy - xy[:, 1]
        weight = (front & (ru * ru + rv * rv < threshold_sq)).to(R.dtype)  # (L, N)
        zero = torch.zeros_like(z)
        du = torch.stack([fx / z, zero, -fx * x / z**2], -1)  # d(pixel)/d(camera point)
        dv = torch.stack([zero, fy / z, -fy * y / z**2], -1)
        # camera point w.r.t. a left rotation increment w: dX/dw = -[X]x, so du/dw = X x du
        J_u = torch.cat([torch.linalg.cross(X, du), du], -1)  # (L, N, 6)
        J_v = torch.cat([torch.linalg.cross(X, dv), dv], -1)
        A = torch.einsum("lni,lnj->lij", J_u * weight[..., None], J_u) + torch.einsum("lni,lnj->lij", J_v * weight[..., None], J_v)
        g = torch.einsum("lni,ln->li", J_u, weight * ru) + torch.einsum("lni,ln->li", J_v, weight * rv)
        scale = A.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None].clamp_min(1e-12)
        delta = -torch.linalg.solve_ex(A + damping * scale, g[..., None])[0][..., 0]  # _ex: no error check, no sync
        delta = torch.where(torch.isfinite(delta).all(-1, keepdim=True), delta, torch.zeros_like(delta))
        dR = _rodrigues(delta[:, :3])
        R, t = dR @ R, (dR @ t[..., None])[..., 0] + delta[:, 3:]
    return R, t


@dataclass(frozen=True)
class _Search:
    """The static settings of one search (a CUDA graph is captured per settings and size bucket)."""

    iterations: int
    threshold_sq: float
    refine_steps: int
    local_optimisations: int
    preemptive: int
    keep: int

    @classmethod
    def of(cls, iterations, threshold_px, refine_steps, local_optimisations, preemptive, keep) -> "_Search":
        return cls(int(iterations), float(threshold_px) ** 2, int(refine_steps), int(local_optimisations), int(preemptive), int(keep))


_FAR_PIXEL = 1e7  # padded correspondences sit here: never inliers, a constant truncated error


def _search(P, p, K, n, u_samples, u_subset, cfg: _Search):
    """One RANSAC search over static shapes: P (Nb, 3), p (Nb, 2) float64 (rows from ``n`` on are
    padding), K (3, 3), ``n`` a 0-d float64 tensor, ``u_samples`` (iterations, 3) and ``u_subset``
    (preemptive,) uniform [0, 1) draws. Returns one float64 vector: T (16), the MSAC score, then the
    inlier mask (Nb) as 0/1. No host sync and no data-dependent shapes (CUDA-graph safe)."""
    f64, device, nb = torch.float64, P.device, len(P)
    rays = torch.stack([(p[:, 0] - K[0, 2]) / K[0, 0], (p[:, 1] - K[1, 2]) / K[1, 1], torch.ones_like(p[:, 0])], 1)
    rays = rays / rays.norm(dim=1, keepdim=True)  # (pinhole K without skew: no inverse, no solver)
    samples = (u_samples * n).long().clamp_max((n - 1).long())
    distinct = (samples[:, 0] != samples[:, 1]) & (samples[:, 0] != samples[:, 2]) & (samples[:, 1] != samples[:, 2])
    R, t, valid = p3p(P[samples], rays[samples])
    valid = valid & distinct.repeat_interleave(4)
    P32, p32, K32 = P.float(), p.float(), K.float()
    R32 = torch.where(valid[:, None, None], R, torch.eye(3, dtype=f64, device=device)).float()
    t32 = torch.where(valid[:, None], t, torch.ones(3, dtype=f64, device=device)).float()
    if nb > cfg.preemptive:
        subset = (u_subset * n).long().clamp_max((n - 1).long())
        coarse = _msac(R32, t32, P32[subset], p32[subset], K32, cfg.threshold_sq).masked_fill(~valid, float("inf"))
        chosen = torch.topk(coarse, min(cfg.keep, len(coarse)), largest=False).indices
    else:
        chosen = torch.arange(len(R), device=device)
    scores = _msac(R32[chosen], t32[chosen], P32, p32, K32, cfg.threshold_sq).masked_fill(~valid[chosen], float("inf"))
    best = chosen[torch.topk(scores, min(cfg.local_optimisations, len(scores)), largest=False).indices]
    R0, t0 = R[best], t[best]
    R1, t1 = refine_poses(R0, t0, P, p, K, cfg.threshold_sq, cfg.refine_steps)
    before = _msac(R0, t0, P, p, K, cfg.threshold_sq).masked_fill(~valid[best], float("inf"))
    after = _msac(R1, t1, P, p, K, cfg.threshold_sq)
    after = torch.where(torch.isfinite(R1).all(-1).all(-1) & torch.isfinite(t1).all(-1), after, torch.full_like(after, float("inf")))
    use_refined = after <= before
    R_all = torch.where(use_refined[:, None, None], R1, R0)
    t_all = torch.where(use_refined[:, None], t1, t0)
    score_all = torch.minimum(after, before)
    k = score_all.argmin().reshape(1)  # a tensor index: indexing with a 0-d tensor would sync
    R_k, t_k = R_all.index_select(0, k), t_all.index_select(0, k)
    bottom = torch.eye(4, dtype=f64, device=device)[3:]  # (setting one element would copy from the host)
    T = torch.cat([torch.cat([R_k[0], t_k[0][:, None]], 1), bottom])
    inliers = _errors_sq(R_k, t_k, P, p, K)[0] < cfg.threshold_sq
    return torch.cat([T.reshape(16), score_all.index_select(0, k), inliers.to(f64)])


@functools.cache
def _compiled_search():
    """:func:`_search` through torch.compile (inductor fuses its elementwise chains: fewer, larger
    kernels; dynamic shapes: one compilation serves every size bucket)."""
    return torch.compile(_search, dynamic=True, fullgraph=True)


class _GraphedSearch:
    """A CUDA graph of :func:`_search` (or its compiled form) for one size bucket: the inputs are
    copied into static buffers, the graph is replayed (a few hundred kernels, one launch), the result
    copied back once."""

    def __init__(self, device: torch.device, nb: int, cfg: _Search, compiled: bool = False):
        f64 = torch.float64
        self.P = torch.zeros(nb, 3, dtype=f64, device=device)
        self.p = torch.full((nb, 2), _FAR_PIXEL, dtype=f64, device=device)
        self.K = torch.eye(3, dtype=f64, device=device)
        self.n = torch.tensor(float(nb), dtype=f64, device=device)
        self.u_samples = torch.rand(cfg.iterations, 3, dtype=f64, device=device)
        self.u_subset = torch.rand(cfg.preemptive, dtype=f64, device=device)
        self.args = (self.P, self.p, self.K, self.n, self.u_samples, self.u_subset, cfg)
        search = _compiled_search() if compiled else _search
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):  # warm-up outside the capture (compilation, cuBLAS handles, allocator)
            for _ in range(2):
                search(*self.args)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = search(*self.args)

    def __call__(self, P, p, K, n, generator):
        self.P.zero_()
        self.P[:n].copy_(P)
        self.p.fill_(_FAR_PIXEL)
        self.p[:n].copy_(p)
        self.K.copy_(K)
        self.n.fill_(float(n))
        torch.rand(self.u_samples.shape, generator=generator, dtype=torch.float64, device=self.P.device, out=self.u_samples)
        torch.rand(self.u_subset.shape, generator=generator, dtype=torch.float64, device=self.P.device, out=self.u_subset)
        self.graph.replay()
        return self.out


_GRAPHS: dict = {}


def _bucket(n: int, smallest: int) -> int:
    """Padded size for ``n`` correspondences: ``smallest`` x a power of 2 (few graphs, < 2x padding)."""
    nb = smallest
    while nb < n:
        nb *= 2
    return nb


def _graphed_search(device: torch.device, n: int, cfg: _Search, compiled: bool = False) -> _GraphedSearch | None:
    """The CUDA graph for ``n`` correspondences (captured on first use of its size bucket), or None
    when a kernel could not be captured (that bucket then runs eagerly)."""
    key = (device, _bucket(n, cfg.preemptive), cfg, compiled)
    if key not in _GRAPHS:
        try:
            _GRAPHS[key] = _GraphedSearch(device, key[1], cfg, compiled)
        except RuntimeError as error:
            logging.getLogger(__name__).warning("gpu PnP: CUDA graph capture failed (%s); running eagerly", str(error).splitlines()[0])
            torch.cuda.synchronize(device)
            _GRAPHS[key] = None
    return _GRAPHS[key]


def prepare(device: str | torch.device, up_to: int, iterations: int = 10_000, threshold_px: float = 8.0, compile: bool = False,
            refine_steps: int = 5, local_optimisations: int = 8, preemptive: int = 512, keep: int = 64) -> int:
    """Capture (and with ``compile``, compile) the CUDA graphs of every size bucket up to ``up_to``
    correspondences now, so that no frame pays for it later; the number of buckets ready. A no-op
    off CUDA."""
    device = torch.device(device)
    if device.type != "cuda":
        return 0
    cfg = _Search.of(iterations, threshold_px, refine_steps, local_optimisations, preemptive, keep)
    ready, nb = 0, cfg.preemptive
    while True:  # every bucket _bucket can give for up to ``up_to`` correspondences
        ready += _graphed_search(device, nb, cfg, compile) is not None
        if nb >= up_to:
            return ready
        nb = _bucket(nb + 1, cfg.preemptive)


def ransac_pnp_torch(
    xyz: np.ndarray,
    xy: np.ndarray,
    K: np.ndarray,
    iterations: int = 10_000,
    threshold_px: float = 8.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    refine_steps: int = 5,
    local_optimisations: int = 8,
    preemptive: int = 512,
    keep: int = 64,
    cuda_graph: bool = True,
    compile: bool = False,
) -> TorchPnPResult:
    """RANSAC PnP with ``iterations`` P3P samples drawn at once (deterministic for a seed and device).

    All hypotheses are scored on ``preemptive`` random correspondences (all of them when there are
    fewer), the ``keep`` best on every correspondence; the ``local_optimisations`` best of those are
    refined together and the pose with the lowest MSAC score is kept. On CUDA the search runs as a
    captured CUDA graph per size bucket (``cuda_graph``; captured on first use of a bucket, with
    the correspondences padded up to it), otherwise eagerly. ``compile``: the search through
    torch.compile (fused kernels; the CPU's compiler is slow, so it is meant for CUDA).

    Args:
        xyz: (N, 3) object points, metres; xy: (N, 2) undistorted pixels; K: (3, 3).
    """
    device = torch.device(device)
    n = len(xy)
    if n < 4:
        return TorchPnPResult(None, np.zeros(n, bool), 0)
    f64 = torch.float64
    P = torch.as_tensor(np.asarray(xyz), dtype=f64).to(device, non_blocking=True)
    p = torch.as_tensor(np.asarray(xy), dtype=f64).to(device, non_blocking=True)
    Kt = torch.as_tensor(np.asarray(K), dtype=f64).to(device, non_blocking=True)
    cfg = _Search.of(iterations, threshold_px, refine_steps, local_optimisations, preemptive, keep)
    generator = torch.Generator(device=device).manual_seed(int(seed))
    graphed = _graphed_search(device, n, cfg, compile) if device.type == "cuda" and cuda_graph else None
    if graphed is not None:
        out = graphed(P, p, Kt, n, generator)
    else:
        u_samples = torch.rand(cfg.iterations, 3, generator=generator, dtype=f64, device=device)
        u_subset = torch.rand(cfg.preemptive, generator=generator, dtype=f64, device=device)
        search = _compiled_search() if compile else _search
        out = search(P, p, Kt, torch.tensor(float(n), dtype=f64, device=device), u_samples, u_subset, cfg)
    host = out.cpu().numpy()  # the one sync
    T_host, score, inliers_host = host[:16].reshape(4, 4), host[16], host[17 : 17 + n] > 0.5
    if not np.isfinite(score) or not np.all(np.isfinite(T_host)):
        return TorchPnPResult(None, np.zeros(n, bool), int(iterations))
    return TorchPnPResult(T_host.copy(), inliers_host, int(iterations))
