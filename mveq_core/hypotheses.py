"""Several coarse poses per query, each refined against renders, the best kept (FoundPose's
per-template PnP, verified the render-and-compare way).

A CAD query matched against all templates at once gives one pose; when that pose is wrong (a
look-alike side, a symmetric-looking view), refinement against renders at it converges to the wrong
side. Here the templates that collect the most nearest-neighbour votes also give a pose each (the
query matched against that template alone) or, with ``hypothesis_source`` ``aligned``, the templates
turned in-plane and laid over the query's box whose features agree best with the query's give one
each (no matching: only the template's own object pixels are compared, so background inside the
box does not vote), near-duplicates are dropped, every hypothesis is
refined by :func:`~mveq_core.render_refine.refine_by_rendering`, and the refined pose whose render
explains the query best is returned (``hypothesis_score``; measured in docs/benchmarks.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from .geometry import rotation_error_deg
from .matching import mutual_nearest_neighbours
from .pnp import solve_pnp

SCORES = ("inliers", "silhouette", "inliers-silhouette")
SOURCES = ("auto", "votes", "aligned")
ALIGNED_TURNS = 24  # in-plane turns tried for every template when laying it over a query (15 degrees apart)


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


@dataclass
class TemplateLayout:
    """A CAD database's entries grouped by template (view), sorted by view: ``entries`` (n,) their
    database rows, ``starts`` (V + 1,) where each view's run begins, ``view_index`` (n,) 0..V-1,
    ``centred`` (n, 2) render pixels less their view's box centre, ``descriptors`` (n, C)
    L2-normalised, ``counts`` (V,) entries a view."""

    entries: np.ndarray
    starts: np.ndarray
    view_index: torch.Tensor
    centred: torch.Tensor
    descriptors: torch.Tensor
    counts: torch.Tensor


def template_layout(db) -> TemplateLayout:
    """``db``'s entries as templates (:class:`TemplateLayout`), on the descriptors' device."""
    order = np.argsort(db.view_ids, kind="stable")
    _, starts = np.unique(np.asarray(db.view_ids)[order], return_index=True)
    starts = np.append(starts, len(order))
    index = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    pixels = np.asarray(db.pixels, np.float64)[order]
    lo, hi = np.minimum.reduceat(pixels, starts[:-1]), np.maximum.reduceat(pixels, starts[:-1])
    device = db.descriptors.device
    return TemplateLayout(order, starts, torch.from_numpy(index).to(device), torch.from_numpy(pixels - ((lo + hi) / 2)[index]).float().to(device),
                          torch.nn.functional.normalize(db.descriptors[torch.from_numpy(order).to(device)].float(), dim=1),
                          torch.from_numpy(np.diff(starts)).float().to(device))


def _laid_over(layout: TemplateLayout, box, angle: float) -> torch.Tensor:
    """Original-image pixels (n, 2) of every template's entries turned by ``angle`` (radians) about
    their view's box centre, then scaled and shifted so that the view's turned box fills ``box``
    (the same area, the same centre)."""
    c, s = float(np.cos(angle)), float(np.sin(angle))
    rotation = torch.tensor([[c, -s], [s, c]], device=layout.centred.device)
    turned = layout.centred @ rotation.T
    views = len(layout.counts)
    index = layout.view_index[:, None].expand(-1, 2)
    lo = torch.full((views, 2), float("inf"), device=turned.device).scatter_reduce(0, index, turned, "amin")
    hi = torch.full((views, 2), float("-inf"), device=turned.device).scatter_reduce(0, index, turned, "amax")
    side, centre = (hi - lo).clamp_min(1.0), (hi + lo) / 2
    x0, y0, x1, y1 = (float(v) for v in box)
    scale = torch.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0) / (side[:, 0] * side[:, 1]))
    target = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2], device=turned.device)
    return target + scale[layout.view_index, None] * (turned - centre[layout.view_index])


def aligned_scores(layout: TemplateLayout, query, turns: int = ALIGNED_TURNS) -> torch.Tensor:
    """(turns, V) mean cosine similarity between each template's descriptors and the query's
    features at the pixels where the template, turned and laid over the query's box, puts them."""
    out = torch.zeros(turns, len(layout.counts), device=layout.centred.device)
    for k in range(turns):
        xy = _laid_over(layout, query.box, 2 * np.pi * k / turns)
        sampled = query.grid.sample(query.crop.to_crop(xy))
        cosine = (sampled.to(layout.descriptors.dtype) * layout.descriptors).sum(1)
        out[k] = torch.zeros_like(layout.counts).index_add_(0, layout.view_index, cosine) / layout.counts
    return out


def laid_template_pose(xyz: np.ndarray, xy: np.ndarray, K: np.ndarray, dist_coeffs=None) -> np.ndarray | None:
    """The pose (4, 4) that puts a template's object points ``xyz`` at the pixels ``xy`` where
    laying it over a box put them (EPnP, then Levenberg-Marquardt; all points, no RANSAC), or None
    when there is none in front of the camera."""
    import cv2

    ok, rvec, tvec = cv2.solvePnP(xyz, xy, K, dist_coeffs, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(xyz, xy, K, dist_coeffs, rvec, tvec, True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return None
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel()
    return T


def aligned_hypotheses(estimator, query, name: str, K: np.ndarray, dist_coeffs, count: int, first=None, turns: int = ALIGNED_TURNS) -> list:
    """Up to ``count`` coarse poses of ``name`` from the templates that, turned in-plane and laid
    over the query's box, agree best with the query's features (:func:`aligned_scores`), each the
    pose that puts the template's object points where the laying put their pixels (PnP), at least
    10° from every pose already kept (``first`` counts as kept). Their inlier counts are 0: a
    hypothesis is only a start for render refinement."""
    from .pose_result import PoseResult

    db = estimator.databases[name]
    cached = estimator.template_layouts.get(name)
    if cached is None or cached[0] is not db.descriptors:
        cached = (db.descriptors, template_layout(db))
        estimator.template_layouts[name] = cached
    layout = cached[1]
    scores = aligned_scores(layout, query, turns)
    order = torch.argsort(scores.flatten(), descending=True).cpu().numpy()
    kept = [first] if first is not None and first.success else []
    found = []
    dist = None if dist_coeffs is None else np.asarray(dist_coeffs, np.float64)
    laid: dict[int, np.ndarray] = {}  # turn -> every entry's pixels laid over the box at that turn
    for flat in order[: 20 * count]:
        if len(found) >= count:
            break
        turn, view = divmod(int(flat), scores.shape[1])
        lo, hi = layout.starts[view], layout.starts[view + 1]
        if hi - lo < 6:
            continue
        if turn not in laid:
            laid[turn] = _laid_over(layout, query.box, 2 * np.pi * turn / turns).cpu().numpy().astype(np.float64)
        xy = laid[turn][lo:hi]
        xyz = np.asarray(db.xyz, np.float64)[layout.entries[lo:hi]]
        T = laid_template_pose(xyz, xy, K, dist)
        if T is None or any(rotation_error_deg(T[:3, :3], h.T_cam_obj[:3, :3]) < 10.0 for h in kept):
            continue
        result = PoseResult(name, True, T, 0, 0, 0.0, 0.0, 0.0, dict(query.timings), "", xy, xyz, np.zeros(len(xy), bool))
        kept.append(result)
        found.append(result)
    return found


def silhouette_fit(mesh, K: np.ndarray, T_cam_obj: np.ndarray, shape: tuple[int, int], flat: bool = False, mask=None, box=None) -> tuple[float | None, float | None]:
    """(IoU of ``mesh``'s silhouette rendered at ``T_cam_obj`` in an image of ``shape`` with
    ``mask``, IoU of the box around it with ``box`` [x0, y0, x1, y1]), each None when not asked
    for; one render for both, none for neither."""
    if mask is None and box is None:
        return None, None
    from .crop import mask_box
    from .localize import box_iou
    from .render import render_view

    silhouette = render_view(mesh, K, T_cam_obj, shape, None, False, flat).mask
    iou = None
    if mask is not None:
        union = np.logical_or(silhouette, mask).sum()
        iou = float(np.logical_and(silhouette, mask).sum() / union) if union else 0.0
    return iou, None if box is None else box_iou(mask_box(silhouette), box)


def silhouette_iou(mesh, K: np.ndarray, T_cam_obj: np.ndarray, mask: np.ndarray, flat: bool = False) -> float:
    """Intersection over union of ``mesh``'s silhouette rendered at ``T_cam_obj`` and ``mask``."""
    return silhouette_fit(mesh, K, T_cam_obj, mask.shape, flat, mask=mask)[0]


def box_of_silhouette_iou(mesh, K: np.ndarray, T_cam_obj: np.ndarray, box, shape: tuple[int, int], flat: bool = False) -> float:
    """Intersection over union of the box around ``mesh``'s silhouette rendered at ``T_cam_obj``
    (an image of ``shape``) with ``box`` [x0, y0, x1, y1]."""
    return silhouette_fit(mesh, K, T_cam_obj, shape, flat, box=box)[1]


def choose(candidates: list[dict], score: str) -> int:
    """Index of the best refined hypothesis: most inliers against its render (``inliers``), the
    best silhouette agreement with the query mask (``silhouette``), or their product. Without a
    mask the silhouette's box is compared with the query's box instead (``box_iou``); without
    either, by inliers."""
    inliers = [c["num_inliers"] for c in candidates]
    if score == "inliers":
        return int(np.argmax(inliers))
    for key in ("silhouette_iou", "box_iou"):
        if all(c.get(key) is not None for c in candidates):
            return int(np.argmax([c[key] * (c["num_inliers"] if score == "inliers-silhouette" else 1) for c in candidates]))
    return int(np.argmax(inliers))


def refined_hypotheses(estimator, name: str, first, image, K, mesh, flat: bool, mask, box, dist_coeffs, cut=None) -> tuple[list, list[dict], dict]:
    """(refined results, their summaries, the shared query features) of ``first`` and the other
    templates' poses, each refined against renders: the part of :func:`refine_hypotheses` before
    the choice. A summary holds the pose, the coarse pose it started from ``T_start``, inliers,
    score, the silhouette's IoU with ``mask`` (with a mask) or its box's with ``box`` (without).
    With ``cut`` (``box-and-grabcut``: a GrabCut mask cut from ``box``) every summary holds both,
    the silhouette's IoU with the query mask or else with ``cut``, from one render."""
    from .render_refine import refine_by_rendering

    cfg = estimator.config
    others, shared, label = [], {}, "one template"  # shared: the query's features, taken once for every hypothesis
    if cfg.hypotheses > 1 and (mask is not None or box is not None):  # template votes need a query around the object
        query = estimator.query_features(image, K, mask, box, [name])
        if not isinstance(query, dict):
            # auto: laid-over templates for a box alone (real BOP frames, box only: ADD(-S) 19 -> 35 %
            # with the box rule below), the templates' votes with a mask (measured there: 61 %)
            source = cfg.hypothesis_source if cfg.hypothesis_source != "auto" else ("votes" if mask is not None else "aligned")
            if source == "aligned":
                others, label = aligned_hypotheses(estimator, query, name, K, dist_coeffs, cfg.hypotheses - 1, first), "laid-over template"
            else:
                others = view_hypotheses(estimator, query, name, K, dist_coeffs, cfg.hypotheses - 1, first)
            # refinement blacks out a masked query's background unless mask_background is off; where
            # the estimator's setting gives the same crop, the votes' features serve every refinement
            if mask is None or estimator.masks_background([name]) == (cfg.mask_background != "off"):
                shared["query"] = query
    refined, summaries = [], []
    for k, h in enumerate([first, *others]):
        r = refine_by_rendering(estimator, name, h, image, K, mesh, cfg.render_refine, mask, box, dist_coeffs, flat, shared)
        refined.append(r)
        several = r.success and cfg.hypotheses > 1
        against = mask if mask is not None else cut
        fit_box = box if mask is None or cut is not None else None
        iou, iou_box = silhouette_fit(mesh, K, r.T_cam_obj, image.shape[:2], flat, against, fit_box) if several else (None, None)
        summaries.append({"source": "all templates" if k == 0 else label, "success": r.success, "num_inliers": r.num_inliers,
                          "inlier_ratio": r.inlier_ratio, "score": r.score, "silhouette_iou": iou, "box_iou": iou_box, "T_cam_obj": None if r.T_cam_obj is None else r.T_cam_obj.tolist(),
                          "T_start": h.T_cam_obj.tolist() if h.success and h.T_cam_obj is not None else None})
    return refined, summaries, shared


def finish_choice(estimator, name: str, refined: list, summaries: list[dict], best: int, image, K, mesh, flat: bool, mask, box, dist_coeffs, shared: dict):
    """The chosen hypothesis ``best`` of ``refined`` as the result: marked ``chosen``, turned by
    ``turn_rounds`` featuremetric rounds with ``refine_method`` ``matches-featuremetric`` (against
    the query ``mask``/``box`` it was refined with), every summary in its ``hypotheses`` and every
    hypothesis's refinement time in its ``render_refine`` time."""
    from .render_refine import refine_by_rendering

    cfg = estimator.config
    result = refined[best]
    summaries[best]["chosen"] = True
    if cfg.refine_method == "matches-featuremetric":  # the chosen pose's turn and shift aligned, its distance kept
        turned = refine_by_rendering(estimator, name, result, image, K, mesh, cfg.turn_rounds, mask, box, dist_coeffs, flat, shared, method="turn")
        if turned is not result:  # the pose moves; the evidence (matches, inliers, score) stays matching's
            summaries[best]["turn_score"] = turned.score  # the render's mean feature cosine at the turned pose
            result = refined[best] = replace(result, T_cam_obj=turned.T_cam_obj, timings_ms=turned.timings_ms)
    if len(refined) > 1:
        result.hypotheses = summaries
        total = sum(r.timings_ms.get("render_refine", 0.0) for r in refined)
        result.timings_ms = {**result.timings_ms, "render_refine": total}
    return result


def refine_hypotheses(estimator, name: str, first, image, K, mesh, flat: bool, mask, box, dist_coeffs):
    """``first`` and the other templates' poses, each refined against renders; the best, with every
    refined hypothesis summarised in its ``hypotheses`` (pose, the coarse pose it started from
    ``T_start``, inliers, score, silhouette IoU, ``chosen`` on the best). With ``refine_method``
    ``matches-featuremetric`` the best then gets ``turn_rounds`` featuremetric rounds of turn and
    shift: the pose moves, its matches, inliers and score stay matching's (its summary keeps the
    matched pose and adds ``turn_score``, the mean feature cosine at the turned pose)."""
    refined, summaries, shared = refined_hypotheses(estimator, name, first, image, K, mesh, flat, mask, box, dist_coeffs)
    usable = [i for i, r in enumerate(refined) if r.success]
    if not usable:
        return refined[0]
    best = usable[choose([summaries[i] for i in usable], estimator.config.hypothesis_score)]
    return finish_choice(estimator, name, refined, summaries, best, image, K, mesh, flat, mask, box, dist_coeffs, shared)


def refine_box_and_cut(estimator, name: str, first_box, first_cut, image, K, mesh, flat: bool, cut, box, dist_coeffs):
    """``box_mask`` ``box-and-grabcut``: the hypotheses of the box alone (``first_box`` and the
    templates laid over the box, refined against the box) and those of the GrabCut mask ``cut``
    (``first_cut`` and the templates its query votes for, refined against the mask), pooled; the
    one whose silhouette agrees best with both (the IoU of its box with ``box`` times its IoU
    with ``cut``) is chosen and turned with the query it was refined with. Each summary says which
    query it came from (``query``: ``box`` or ``grabcut``)."""
    runs = []
    for query_mask, first in ((None, first_box), (cut, first_cut)):
        refined, summaries, shared = refined_hypotheses(estimator, name, first, image, K, mesh, flat, query_mask, box, dist_coeffs, cut=cut)
        for s in summaries:
            s["query"] = "box" if query_mask is None else "grabcut"
        runs.append((query_mask, refined, summaries, shared))
    pooled = [(run, i) for run in runs for i, r in enumerate(run[1]) if r.success]
    if not pooled:
        return runs[0][1][0]
    scores = [run[2][i]["box_iou"] * run[2][i]["silhouette_iou"] for run, i in pooled]
    (query_mask, refined, summaries, shared), best = pooled[int(np.argmax(scores))]
    result = finish_choice(estimator, name, refined, summaries, best, image, K, mesh, flat, query_mask, box, dist_coeffs, shared)
    other = runs[1] if query_mask is None else runs[0]
    result.hypotheses = [*summaries, *other[2]]
    total = sum(r.timings_ms.get("render_refine", 0.0) for run in runs for r in run[1])
    result.timings_ms = {**result.timings_ms, "render_refine": total}
    return result
