"""Find database objects in a whole image without a box: no detector, no training.

The image (and, optionally, overlapping tiles of it, where small objects appear larger) goes through
the same features as the pose pass. Every feature cell is matched against an object's database by
mutual nearest neighbours; on an object, matched cells cluster, elsewhere they scatter. Clusters
(regions around the peaks of the density of matched cells) become candidate boxes, ranked by how many matches
they hold. The best few are verified by the pose pass on a crop around each: an object is found
when a pose comes out with a score of at least ``min_score`` and its projected box agrees with the
candidate's (IoU). The reported box is the verified cluster's box (the matched cells' extent, which
follows the visible object; the projected 3D bounding box is larger than the silhouette).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .crop import Crop
from .features import image_to_tensor
from .matching import mutual_nearest_neighbours
from .settings import option


@dataclass(frozen=True)
class LocalizeConfig:
    """``input_size``: longer side of the whole image (and of each tile) for the feature pass.
    ``tiles``: also cut the image into ``tiles x tiles`` overlapping tiles (0 or 1: whole image only).
    ``max_candidates``: clusters verified by a pose pass per object. ``min_score``: pose score that
    makes an object present. ``min_box_iou``: agreement between a cluster's box and the verified
    pose's projected box. ``min_cluster``: matched cells a cluster needs. ``sigma_cells``,
    ``level``: the similarity-weighted density of matched cells is smoothed by this many cells, and
    a cluster is the region around a density peak above ``level`` times the peak.
    """

    input_size: int = 640
    tiles: int = option(2, "localize: also search tiles x tiles overlapping tiles (0: whole image only)", cli="--tiles")
    max_candidates: int = 3
    min_score: float = option(0.5, "localize: pose score that makes an object present", cli="--min-score")
    min_box_iou: float = 0.2
    min_cluster: int = 4
    sigma_cells: float = 1.5
    level: float = 0.35


@dataclass
class Detection:
    """One object found (or not) in one image: ``box`` [x0, y0, x1, y1] image pixels (None when not
    found), ``score`` (the verifying pose's score), ``present``, the verified ``pose``
    (:class:`~mveq_core.pose.PoseResult`) and the clusters considered (``candidates``: box, matches)."""

    object_name: str
    present: bool
    box: list[float] | None
    score: float
    pose: object = None
    candidates: list[dict] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"object": self.object_name, "present": self.present, "box": self.box, "score": self.score, "candidates": self.candidates, "timings_ms": self.timings_ms}


def box_iou(a, b) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes (0 when either is None)."""
    if a is None or b is None:
        return 0.0
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _views(shape: tuple[int, int], config: LocalizeConfig) -> list[Crop]:
    """The whole image and ``tiles x tiles`` tiles, each 1.5 / tiles of the image side (overlapping)."""
    h, w = shape
    crops = [Crop.around(shape, None, 0.0, config.input_size)]
    n = config.tiles
    if n >= 2:
        tw, th = min(w, round(1.5 * w / n)), min(h, round(1.5 * h / n))
        for j in range(n):
            for i in range(n):
                x0 = round(i * (w - tw) / (n - 1))
                y0 = round(j * (h - th) / (n - 1))
                crops.append(Crop.around(shape, [x0, y0, x0 + tw, y0 + th], 0.0, config.input_size))
    return crops


def _clusters(cells: np.ndarray, weights: np.ndarray, grid_hw: tuple[int, int], count: int, sigma: float, level: float) -> list[np.ndarray]:
    """Up to ``count`` groups of matched cells (K, 2) (row, col) around the peaks of their density
    (similarity-weighted, Gaussian-smoothed by ``sigma`` cells): each group is the connected region
    where the density exceeds ``level`` times its peak, which is then suppressed."""
    import cv2

    density = np.zeros(grid_hw, np.float32)
    np.add.at(density, (cells[:, 0], cells[:, 1]), weights.astype(np.float32))
    density = cv2.GaussianBlur(density, (0, 0), sigmaX=sigma)
    groups = []
    for _ in range(count):
        peak = np.unravel_index(int(np.argmax(density)), grid_hw)
        if density[peak] <= 0:
            break
        _, labels = cv2.connectedComponents((density >= level * density[peak]).astype(np.uint8), connectivity=8)
        region = labels == labels[peak]
        members = np.nonzero(region[cells[:, 0], cells[:, 1]])[0]
        if len(members):
            groups.append(members)
        density[region] = 0
    return groups


class Localizer:
    """Localises the objects of a :class:`~mveq_core.pose.PoseEstimator`'s databases in whole images."""

    def __init__(self, estimator, config: LocalizeConfig = LocalizeConfig()):
        self.estimator = estimator
        self.config = config

    @torch.no_grad()
    def _cell_features(self, image: np.ndarray, features) -> tuple[torch.Tensor, np.ndarray, list[tuple[int, int]], np.ndarray]:
        """Descriptors (by ``features``) of every cell of every view, their image pixels, each
        view's grid size and the view index of each cell."""
        descs, pixels, grids, owner = [], [], [], []
        for k, crop in enumerate(_views(image.shape[:2], self.config)):
            fg = features.feature_grid(image_to_tensor(crop.apply(image), features.device))
            gh, gw = fg.grid.shape[-2:]
            cy, cx = torch.meshgrid(fg.centres_y, fg.centres_x, indexing="ij")
            xy_crop = torch.stack([cx.reshape(-1), cy.reshape(-1)], 1)
            descs.append(fg.sample(xy_crop))
            pixels.append(crop.to_original(xy_crop.cpu().numpy().astype(np.float64)))
            grids.append((gh, gw))
            owner.append(np.full(gh * gw, k))
        return torch.cat(descs), np.concatenate(pixels), grids, np.concatenate(owner)

    def candidates(self, name: str, desc: torch.Tensor, pixels: np.ndarray, grids, owner: np.ndarray, shape) -> list[dict]:
        """Clusters of mutually matched cells of one object, largest first: {box, matches}."""
        db = self.estimator.databases[name]
        matches = mutual_nearest_neighbours(desc, db.descriptors, self.estimator.config.max_elements, self.estimator.config.matching)
        q = matches.query_index.cpu().numpy()
        sim = matches.similarity.float().cpu().numpy()
        out = []
        starts = np.concatenate([[0], np.cumsum([gh * gw for gh, gw in grids])])
        h, w = shape
        for k, (gh, gw) in enumerate(grids):
            in_view = owner[q] == k
            local, weights = q[in_view] - starts[k], np.clip(sim[in_view], 0.0, None)
            if len(local) < self.config.min_cluster:
                continue
            cells = np.stack([local // gw, local % gw], 1)
            cell = np.ptp(pixels[starts[k] : starts[k + 1], 0]) / max(gw - 1, 1)  # cell pitch in image pixels
            for members in _clusters(cells, weights, (gh, gw), self.config.max_candidates, self.config.sigma_cells, self.config.level):
                if len(members) < self.config.min_cluster:
                    continue
                xy = pixels[starts[k] + local[members]]
                x0, y0 = np.clip(xy.min(0) - cell / 2, 0, None)
                x1, y1 = np.minimum(xy.max(0) + cell / 2, [w - 1, h - 1])
                out.append({"box": [float(x0), float(y0), float(x1), float(y1)], "matches": int(len(members)), "view": k})
        out.sort(key=lambda c: -c["matches"])
        return out

    @torch.no_grad()
    def localize(self, image: np.ndarray, K: np.ndarray, objects=None, dist_coeffs=None) -> dict[str, Detection]:
        """One :class:`Detection` per object (default: every database)."""
        from .pose import PoseResult, check_image

        t0 = time.perf_counter()
        image = check_image(image)
        names = list(objects) if objects is not None else list(self.estimator.databases)
        cells = {}  # one pass over the image per feature set of the objects' databases
        for identity, group in self.estimator.feature_groups(names).items():
            features = self.estimator.feature_sets[identity]
            cells.update(dict.fromkeys(group, self._cell_features(image, features)))
        t_feat = time.perf_counter()
        out = {}
        for name in names:
            desc, pixels, grids, owner = cells[name]
            t1 = time.perf_counter()
            cands = self.candidates(name, desc, pixels, grids, owner, image.shape[:2])
            # the same region found in the whole image and in a tile: keep the larger cluster
            kept: list[dict] = []
            for c in cands:
                if all(box_iou(c["box"], k["box"]) < 0.5 for k in kept):
                    kept.append(c)
            best, best_box = None, None
            for c in kept[: self.config.max_candidates]:
                pose = self.estimator.estimate(image, K, box=c["box"], objects=[name], dist_coeffs=dist_coeffs, box_is_tight=False)[name]
                projected = self.estimator.projected_box(name, pose, K, image.shape[:2], dist_coeffs)
                c["score"], c["projected_iou"] = pose.score, box_iou(projected, c["box"])
                if c["projected_iou"] < self.config.min_box_iou:
                    continue
                if best is None or pose.score > best.score:
                    best, best_box = pose, c["box"]
            present = best is not None and best.success and best.score >= self.config.min_score
            timings = {"features": (t_feat - t0) * 1e3, "object": (time.perf_counter() - t1) * 1e3, "total": (time.perf_counter() - t0) * 1e3}
            out[name] = Detection(
                name, present, best_box if present else None, 0.0 if best is None else best.score,
                best if best is not None else PoseResult.failure(name, "no cluster of matches"), kept[: self.config.max_candidates], timings,
            )
        return out
