"""Render-and-match refinement of a pose from a CAD database: the object's mesh is rendered at the
current pose, the render becomes a one-view database (cropped at the estimator's scale, 3D points
from the render's depth), and the query is matched against it again. A template at the query's own
viewpoint leaves no in-plane or out-of-plane gap to bridge, so the matches are those of an exact
template (docs/benchmarks.md measures how far from the truth it still converges)."""

from __future__ import annotations

import logging
import time

import numpy as np

log = logging.getLogger(__name__)


def refine_by_rendering(estimator, name: str, result, image: np.ndarray, K: np.ndarray, mesh, iterations: int,
                        mask: np.ndarray | None = None, box=None, dist_coeffs: np.ndarray | None = None, flat: bool = False, shared: dict | None = None):
    """``result`` refined ``iterations`` times against renders of ``mesh`` (metres) at its pose
    (``flat``: unlit, like a database built with ``flat_shading``).

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
        new = one.match_and_solve(query, [name], K, dist_coeffs)[name]
        if not new.success:
            log.debug("%s: render refinement stopped: %s", name, new.reason)
            break
        new.timings_ms = {**current.timings_ms, "render_refine": current.timings_ms.get("render_refine", 0.0) + new.timings_ms.get("total", 0.0)}
        current = new
    return current


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
