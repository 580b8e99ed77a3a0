"""Render-and-match refinement of a pose from a CAD database: the object's mesh is rendered at the
current pose, the render becomes a one-view database (cropped at the estimator's scale, 3D points
from the render's depth), and the query is matched against it again. A template at the query's own
viewpoint leaves no in-plane or out-of-plane gap to bridge, so the matches are those of an exact
template (docs/benchmarks.md measures how far from the truth it still converges)."""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import torch

log = logging.getLogger(__name__)


def refine_by_rendering(estimator, name: str, result, image: np.ndarray, K: np.ndarray, mesh, iterations: int,
                        mask: np.ndarray | None = None, box=None, dist_coeffs: np.ndarray | None = None, flat: bool = False, shared: dict | None = None,
                        method: str | None = None):
    """``result`` refined ``iterations`` times against renders of ``mesh`` (metres) at its pose
    (``flat``: unlit, like a database built with ``flat_shading``).

    Each round either matches the query against the render and solves PnP (``refine_method``
    ``matches``) or moves the pose until the render's features, where they land, agree best with
    the query's (``featuremetric``: :func:`featuremetric_pose`); ``method`` overrides the config's
    (``turn``: featuremetric rounds that move only the turn and the shift, the distance kept;
    ``matches-featuremetric`` refines by matching here and :func:`mveq_core.hypotheses.refine_hypotheses`
    adds ``turn`` rounds to the pose it chooses).
    Each round's pose is kept when the round finds one; the first failure ends the refinement and
    returns the last pose found. ``mask``/``box`` are the query's, as in the first estimate (without
    them, the box of the mesh projected at the current pose). ``shared``: a dict kept across calls
    for the same image, mask and box (several hypotheses): the query's features are taken once."""
    from dataclasses import replace

    from .geometry import projected_box
    from .pose import PoseEstimator
    from .reference_database import ReferenceCropConfig, ReferenceFrame, build_database_from_frames
    from .render import render_view

    if not result.success or iterations <= 0:
        return result
    cfg = estimator.config
    # the render is on black like a CAD template: a query mask blacks out the background as for one
    one_config = replace(cfg, render_refine=0, refine_with_crop=False, mask_background="on" if cfg.mask_background == "auto" else cfg.mask_background)
    crop = ReferenceCropConfig.of_pose(cfg)
    h, w = image.shape[:2]
    features = estimator.features_of(name)  # the features the object's database was built with
    current = result
    fixed = box is not None or mask is not None  # the query crop is the same every round: its features are taken once
    query = shared.get("query") if shared is not None and fixed else None
    method = method or {"matches-featuremetric": "matches"}.get(cfg.refine_method, cfg.refine_method)
    if method not in ("matches", "featuremetric", "turn"):
        raise ValueError(f"refine method: expected matches, featuremetric or turn, got {method!r}")
    for _ in range(iterations):
        view = render_view(mesh, K, current.T_cam_obj, (h, w), None, False, flat)
        if view.mask.sum() < 16:
            break
        ref = ReferenceFrame(view.rgb, K, current.T_cam_obj, depth=view.depth, mask=view.mask, name="render at the pose")
        db = build_database_from_frames(features, [ref], name, points="depth", crop=crop, progress=False)
        one = PoseEstimator(features, [db], one_config)
        query_box = box if box is not None or mask is not None else projected_box(np.asarray(mesh.bounds), current.T_cam_obj, K, (h, w), min_side=8.0, dist_coeffs=dist_coeffs)
        if query_box is None and mask is None:
            break
        if query is None or not fixed:
            query = one.query_features(image, K, mask, query_box, [name])
            if isinstance(query, dict):
                break
            if shared is not None and fixed:
                shared["query"] = query
        else:  # the same features again: no feature time counted this round
            query = replace(query, timings={"preprocess": 0.0, "features": 0.0}, t_start=time.perf_counter())
        if method != "matches":
            new = featuremetric_pose(query, db, K, dist_coeffs, current.T_cam_obj, name, distance=method == "featuremetric")
        else:
            new = one.match_and_solve(query, [name], K, dist_coeffs)[name]
        if not new.success:
            log.debug("%s: render refinement stopped: %s", name, new.reason)
            break
        new.timings_ms = {**current.timings_ms, "render_refine": current.timings_ms.get("render_refine", 0.0) + new.timings_ms.get("total", 0.0)}
        current = new
    return current


FEATUREMETRIC_STEPS = 60  # Adam steps a render-refinement round (session 17's replay: 3 rounds x 60 steps)
FEATUREMETRIC_LR = 0.004  # radians, normalised image units and log-distance per step
AGREE_COSINE = 0.5  # a render point "agrees" with the query (counted as an inlier) at this cosine or more


def _distorted(xn: torch.Tensor, dist_coeffs) -> torch.Tensor:
    """Normalised image points (N, 2) through OpenCV's distortion model (k1, k2, p1, p2[, k3[, k4, k5, k6]])."""
    if dist_coeffs is None or not np.any(np.asarray(dist_coeffs, np.float64)):
        return xn
    d = np.asarray(dist_coeffs, np.float64).ravel()
    if np.any(d[8:]):
        raise ValueError(f"dist_coeffs: featuremetric refinement takes 4, 5 or 8 OpenCV coefficients (no thin-prism or tilt terms), got {d.size}")
    k1, k2, p1, p2, k3, k4, k5, k6 = (float(v) for v in np.pad(d[:8], (0, 8 - min(d.size, 8))))
    x, y = xn[:, 0], xn[:, 1]
    r2 = x * x + y * y
    radial = (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3) / (1 + k4 * r2 + k5 * r2**2 + k6 * r2**3)
    return torch.stack([x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x), y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], dim=1)


GRAPH_WARMUP_STEPS = 3  # eager Adam steps before the step is captured as a CUDA graph (they count)


def rotation_from_vector(w: torch.Tensor) -> torch.Tensor:
    """The rotation (3, 3) about ``w`` by |w| radians (Rodrigues), differentiable at 0 too. Unlike
    ``torch.matrix_exp`` it never waits for the GPU (matrix_exp picks its approximation on the host
    from the matrix's norm: one synchronisation per call)."""
    theta2 = (w * w).sum()
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))  # finite on both branches
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, 2 * torch.sin(theta / 2) ** 2 / theta**2)  # (1 - cos) / theta^2, no cancellation
    zero = torch.zeros_like(theta2)
    skew = torch.stack([torch.stack([zero, -w[2], w[1]]), torch.stack([w[2], zero, -w[0]]), torch.stack([-w[1], w[0], zero])])
    return torch.eye(3, dtype=w.dtype, device=w.device) + a * skew + b * (skew @ skew)


def featuremetric_pose(query, db, K: np.ndarray, dist_coeffs, T_cam_obj: np.ndarray, name: str, steps: int = FEATUREMETRIC_STEPS, lr: float = FEATUREMETRIC_LR,
                       distance: bool = True, graphs: bool | None = None):
    """The pose near ``T_cam_obj`` at which ``db``'s points (one render at that pose: object points
    and descriptors), projected into the query, meet the query's features that agree best with
    theirs: gradient ascent (Adam) of the mean cosine similarity over a turn about the object's
    origin, its shift across the image and its distance (log scale). No matching: only the render's
    object pixels are compared, so background in the query's crop does not pull the pose.
    A :class:`~mveq_core.pose_result.PoseResult`: ``score`` the final mean cosine, ``num_matches``
    the render's points, ``num_inliers`` those at cosine >= ``AGREE_COSINE``. ``distance`` False
    keeps the pose's distance (only the turn and the shift move). ``graphs`` (None: on CUDA) replays
    the Adam step as one captured CUDA graph after a few eager steps: the same steps, without
    launching each small kernel from Python."""
    from .pose_result import PoseResult

    device = query.grid.grid.device
    X = torch.as_tensor(np.asarray(db.xyz), dtype=torch.float32, device=device)
    D = torch.nn.functional.normalize(db.descriptors.float(), dim=1)
    if len(X) < 6:
        return PoseResult.failure(name, f"featuremetric refinement: {len(X)} render points < 6")
    Kt = torch.as_tensor(K, dtype=torch.float32, device=device)
    R0 = torch.as_tensor(T_cam_obj[:3, :3], dtype=torch.float32, device=device)
    t0 = torch.as_tensor(T_cam_obj[:3, 3], dtype=torch.float32, device=device)
    params = torch.zeros(6, device=device, requires_grad=True)  # turn (3, rad), shift (2, normalised), log distance

    def pose(p):
        z = t0[2] * torch.exp(p[5])
        return rotation_from_vector(p[:3]) @ R0, torch.stack([(t0[0] / t0[2] + p[3]) * z, (t0[1] / t0[2] + p[4]) * z, z])

    def cosines(p):
        """(cosine (n,), pixels (n, 2), depths (n,), R, t) of the render's points at pose ``p``."""
        R, t = pose(p)
        cam = X @ R.T + t
        xn = _distorted(cam[:, :2] / cam[:, 2:3].clamp_min(1e-6), dist_coeffs)
        xy = (torch.cat([xn, torch.ones_like(xn[:, :1])], 1) @ Kt.T)[:, :2]
        return (query.grid.sample(query.crop.to_crop(xy)) * D).sum(1), xy, cam[:, 2], R, t

    graphs = device.type == "cuda" if graphs is None else graphs and device.type == "cuda"
    optimiser = torch.optim.Adam([params], lr=lr, capturable=graphs)

    def step():
        loss = -cosines(params)[0].mean()
        loss.backward()
        if not distance:
            params.grad[5].zero_()  # in place on the device (a scalar assignment copies from the host)
        optimiser.step()

    with torch.enable_grad():
        eager = steps if not graphs or steps <= GRAPH_WARMUP_STEPS else GRAPH_WARMUP_STEPS
        side = torch.cuda.Stream(device) if graphs else None
        with torch.cuda.stream(side) if graphs else contextlib.nullcontext():
            if graphs:
                side.wait_stream(torch.cuda.current_stream(device))
            for _ in range(eager):
                optimiser.zero_grad()
                step()
        if graphs:
            torch.cuda.current_stream(device).wait_stream(side)
        if eager < steps:
            graph = torch.cuda.CUDAGraph()
            optimiser.zero_grad()
            with torch.cuda.graph(graph):  # records one step; nothing runs until replay
                step()
            for _ in range(steps - eager):
                graph.replay()
    with torch.no_grad():
        cos, xy, depth, R, t = cosines(params)
    if not bool(torch.isfinite(cos).all()) or bool((depth <= 0).any()):
        return PoseResult.failure(name, "featuremetric refinement left the camera's front")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R.double().cpu().numpy(), t.double().cpu().numpy()
    agree = (cos >= AGREE_COSINE).cpu().numpy()
    return PoseResult(name, True, T, len(X), int(agree.sum()), float(agree.mean()), 0.0, float(cos.mean()),
                      {**query.timings, "total": (time.perf_counter() - query.t_start) * 1e3}, "", xy.double().cpu().numpy(), np.asarray(db.xyz, np.float64), agree)


def database_mesh(database):
    """(mesh in metres, flat shading) that a CAD database was rendered from: its header's ``mesh`` path,
    else a bundled object of that file name, in the units (m, cm or mm) that make its box the
    database's; None (logged) when it is not a CAD database or the file is not found or does not fit."""
    from pathlib import Path

    from .bundled import ASSETS
    from .render import UNIT_SCALES, load_mesh

    meta = database.meta
    if meta.source != "cad" or not meta.mesh or meta.bbox is None:
        return None
    path = Path(meta.mesh)
    if not path.is_file():
        path = ASSETS / "objects" / path.name
        if not path.is_file():
            log.warning("%s: mesh %s not found: no render refinement (give it with set_mesh / --mesh)", database.name, meta.mesh)
            return None
    mesh = load_mesh(path)
    extent = float(np.max(np.ptp(np.asarray(mesh.bounds), axis=0)))
    want = float(np.max(np.subtract(meta.bbox[1], meta.bbox[0])))
    scale = min(UNIT_SCALES.values(), key=lambda s: abs(np.log(extent * s / want)))
    if abs(extent * scale / want - 1.0) > 0.02:
        log.warning("%s: mesh %s does not match the database's box in any unit: no render refinement", database.name, path)
        return None
    if scale != 1.0:
        mesh.apply_scale(scale)
    log.info("%s: render refinement against %s (x%g)", database.name, path, scale)
    return mesh, bool(meta.flat_shading)
