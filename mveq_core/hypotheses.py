"""Several coarse poses per query, each refined against renders, the best kept (FoundPose's
per-template PnP, verified the render-and-compare way).

A CAD query matched against all templates at once gives one pose; when that pose is wrong (a
look-alike side, a symmetric-looking view), refinement against renders at it converges to the wrong
side. Here the templates that collect the most nearest-neighbour votes also give a pose each (the
query matched against that template alone), near-duplicates are dropped, every hypothesis is
refined by :func:`~mveq_core.render_refine.refine_by_rendering`, and the refined pose whose render
explains the query best is returned (``hypothesis_score``; measured in docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import torch

from .geometry import rotation_error_deg
from .matching import mutual_nearest_neighbours
from .pnp import solve_pnp

SCORES = ("inliers", "silhouette", "inliers-silhouette")


def ranked_views(query: torch.Tensor, db, max_elements: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(views, votes) of the ``count`` views of ``db`` that collect the most votes, most first: each
    query descriptor votes for the view of its nearest database entry."""
    view_ids = torch.as_tensor(db.view_ids, device=db.descriptors.device, dtype=torch.long)
    nearest = torch.empty(len(query), dtype=torch.long, device=db.descriptors.device)
    q = query.to(db.descriptors.dtype)
    rows = max(1, max_elements // max(len(db), 1))
    for start in range(0, len(q), rows):
        nearest[start : start + rows] = (q[start : start + rows] @ db.descriptors.T).argmax(1)
    votes = torch.bincount(view_ids[nearest], minlength=int(view_ids.max()) + 1)
    top = torch.topk(votes, min(count, len(votes)))
    return top.indices, top.values


def view_hypotheses(estimator, query, name: str, K: np.ndarray, dist_coeffs, count: int, first=None) -> list:
    """Up to ``count`` coarse poses of ``name`` from the query matched against single templates (the
    most-voted first), each at least 10° from every pose already kept (``first``, the all-template
    pose, counts as kept)."""
    from .pose_result import PoseResult, pose_score

    cfg = estimator.config
    db = estimator.databases[name]
    views, votes = ranked_views(query.descriptors, db, cfg.max_elements, 4 * count)
    view_ids = torch.as_tensor(db.view_ids, device=db.descriptors.device, dtype=torch.long)
    kept = [first] if first is not None and first.success else []
    found = []
    for view, n_votes in zip(views.tolist(), votes.tolist()):
        if len(found) >= count or n_votes < cfg.min_matches:
            break
        entries = torch.nonzero(view_ids == view, as_tuple=False)[:, 0]
        matches = mutual_nearest_neighbours(query.descriptors, db.descriptors[entries], cfg.max_elements, cfg.matching)
        q_idx = matches.query_index.cpu().numpy()
        if len(q_idx) < cfg.min_matches:
            continue
        xy, xyz = query.xy[q_idx], db.xyz[entries.cpu().numpy()[matches.database_index.cpu().numpy()]].astype(np.float64)
        pnp = solve_pnp(xyz, xy, K, cfg.pnp, dist_coeffs, device=estimator.features.device)
        if not pnp.success or any(rotation_error_deg(pnp.T_cam_obj[:3, :3], h.T_cam_obj[:3, :3]) < 10.0 for h in kept):
            continue
        result = PoseResult(name, True, pnp.T_cam_obj, len(q_idx), pnp.num_inliers, pnp.inlier_ratio, pnp.reprojection_error,
                            pose_score(pnp.num_inliers, pnp.inlier_ratio), dict(query.timings), "", xy, xyz, pnp.inliers)
        kept.append(result)
        found.append(result)
    return found


def silhouette_iou(mesh, K: np.ndarray, T_cam_obj: np.ndarray, mask: np.ndarray, flat: bool = False) -> float:
    """Intersection over union of ``mesh``'s silhouette rendered at ``T_cam_obj`` and ``mask``."""
    from .render import render_view

    view = render_view(mesh, K, T_cam_obj, mask.shape, None, False, flat)
    union = np.logical_or(view.mask, mask).sum()
    return float(np.logical_and(view.mask, mask).sum() / union) if union else 0.0


def choose(candidates: list[dict], score: str) -> int:
    """Index of the best refined hypothesis: most inliers against its render (``inliers``), the
    best silhouette agreement with the query mask (``silhouette``), or their product; by inliers
    when a candidate has no silhouette IoU (no mask)."""
    if score == "inliers" or any(c["silhouette_iou"] is None for c in candidates):
        values = [c["num_inliers"] for c in candidates]
    else:
        values = [c["silhouette_iou"] * (c["num_inliers"] if score == "inliers-silhouette" else 1) for c in candidates]
    return int(np.argmax(values))


def refine_hypotheses(estimator, name: str, first, image, K, mesh, flat: bool, mask, box, dist_coeffs):
    """``first`` and the other templates' poses, each refined against renders; the best, with every
    refined hypothesis summarised in its ``hypotheses`` (pose, inliers, silhouette IoU)."""
    from .render_refine import refine_by_rendering

    cfg = estimator.config
    others, shared = [], {}  # shared: the query's features, taken once for every hypothesis
    if cfg.hypotheses > 1 and (mask is not None or box is not None):  # template votes need a query around the object
        query = estimator.query_features(image, K, mask, box, [name])
        if not isinstance(query, dict):
            others = view_hypotheses(estimator, query, name, K, dist_coeffs, cfg.hypotheses - 1, first)
            # refinement blacks out a masked query's background unless mask_background is off; where
            # the estimator's setting gives the same crop, the votes' features serve every refinement
            if mask is None or estimator.masks_background([name]) == (cfg.mask_background != "off"):
                shared["query"] = query
    refined, summaries = [], []
    for k, h in enumerate([first, *others]):
        r = refine_by_rendering(estimator, name, h, image, K, mesh, cfg.render_refine, mask, box, dist_coeffs, flat, shared)
        refined.append(r)
        iou = silhouette_iou(mesh, K, r.T_cam_obj, mask, flat) if r.success and mask is not None and cfg.hypotheses > 1 else None
        summaries.append({"source": "all templates" if k == 0 else "one template", "success": r.success, "num_inliers": r.num_inliers,
                          "inlier_ratio": r.inlier_ratio, "silhouette_iou": iou, "T_cam_obj": None if r.T_cam_obj is None else r.T_cam_obj.tolist()})
    usable = [i for i, r in enumerate(refined) if r.success]
    if not usable:
        return refined[0]
    best = usable[choose([summaries[i] for i in usable], cfg.hypothesis_score)]
    result = refined[best]
    if len(refined) > 1:
        result.hypotheses = summaries
        total = sum(r.timings_ms.get("render_refine", 0.0) for r in refined)
        result.timings_ms = {**result.timings_ms, "render_refine": total}
    return result
