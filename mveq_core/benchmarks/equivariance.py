"""Equivariance benchmark: APE and PCDP over ordered view pairs of rendered objects."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..correspondences import dense_correspondences
from ..features import DenseFeatures, image_to_tensor
from ..geometry import view_angle_deg
from ..io import MveqError, read_image_rgb
from ..metrics.equivariance import ape_pcdp, nearest_neighbour_transfer
from ..objects import ObjectViews
from ..render import View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EquivarianceConfig:
    """``max_pairs_per_object`` None evaluates every ordered pair of views (the paper's protocol);
    ``queries_per_pair`` pixels of view A are transferred to every object pixel of view B (on a
    ``candidate_stride`` grid)."""

    max_pairs_per_object: int | None = None
    queries_per_pair: int = 1000
    candidate_stride: int = 1
    max_view_angle_deg: float | None = None
    seed: int = 0


@torch.no_grad()
def view_feature_grids(features: DenseFeatures, views: Sequence[View], batch: int = 4) -> list[torch.Tensor]:
    grids = []
    for start in range(0, len(views), batch):
        images = torch.cat([image_to_tensor(v.rgb, features.device) for v in views[start : start + batch]])
        grids.extend(features(images))
    return [g[None] for g in grids]


@torch.no_grad()
def transfer_pixels(grid_a: torch.Tensor, xy_a: np.ndarray, hw_a, grid_b: torch.Tensor, hw_b, stride: int = 1, mask_b: np.ndarray | None = None) -> np.ndarray:
    """Where pixels ``xy_a`` (N, 2) of image A land in image B: the pixel of B (on a ``stride`` grid,
    inside ``mask_b`` when given) whose descriptor is most similar. Returns (N, 2) pixels of B."""
    device = grid_a.device
    query = DenseFeatures.sample(grid_a, torch.from_numpy(np.asarray(xy_a)).float().to(device), tuple(hw_a))
    hb, wb = hw_b
    if mask_b is None:
        rows, cols = np.mgrid[0:hb:stride, 0:wb:stride]
    else:
        rows, cols = np.nonzero(mask_b[::stride, ::stride])
        rows, cols = rows * stride, cols * stride
    cand_xy = torch.from_numpy(np.stack([cols.ravel(), rows.ravel()], 1)).float().to(device)
    candidates = DenseFeatures.sample(grid_b, cand_xy, (hb, wb))
    return nearest_neighbour_transfer(query, candidates, cand_xy).cpu().numpy()


@torch.no_grad()
def pair_errors(features: DenseFeatures, grid_a, grid_b, view_a: View, view_b: View, config: EquivarianceConfig, rng: np.random.Generator) -> np.ndarray:
    """Pixel errors of nearest-neighbour transfer from view A to view B (visible points only)."""
    corr = dense_correspondences(view_a.depth, view_a.K, view_a.T_cam_obj, view_b.depth, view_b.K, view_b.T_cam_obj, view_a.mask)
    if len(corr) == 0:
        return np.zeros(0)
    pick = rng.choice(len(corr), min(config.queries_per_pair, len(corr)), replace=False)
    predicted = transfer_pixels(grid_a, corr.xy_a[pick], view_a.rgb.shape[:2], grid_b, view_b.rgb.shape[:2], config.candidate_stride, view_b.mask)
    return np.linalg.norm(predicted - corr.xy_b[pick], axis=1)


def evaluate_equivariance(
    features: DenseFeatures,
    objects: Sequence[ObjectViews],
    config: EquivarianceConfig = EquivarianceConfig(),
    progress: bool = True,
) -> dict:
    """APE / PCDP@5/10/20 per object (errors pooled over its pairs) and their mean over objects."""
    from tqdm import tqdm

    rng = np.random.default_rng(config.seed)
    per_object = {}
    for obj in tqdm(objects, desc="equivariance", disable=not progress):
        views = [obj.view(i) for i in range(obj.num_views())]
        grids = view_feature_grids(features, views)
        pairs = [
            (a, b)
            for a, b in itertools.permutations(range(len(views)), 2)
            if config.max_view_angle_deg is None or view_angle_deg(views[a].T_cam_obj, views[b].T_cam_obj) < config.max_view_angle_deg
        ]
        if config.max_pairs_per_object is not None and len(pairs) > config.max_pairs_per_object:
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), config.max_pairs_per_object, replace=False))]
        errors = [pair_errors(features, grids[a], grids[b], views[a], views[b], config, rng) for a, b in pairs]
        errors = np.concatenate(errors) if errors else np.zeros(0)
        per_object[obj.name] = {**ape_pcdp(errors, min(views[0].rgb.shape[:2])), "pairs": len(pairs)}
    keys = [k for k in next(iter(per_object.values())) if k.startswith(("APE", "PCDP"))] if per_object else []
    mean = {k: float(np.nanmean([v[k] for v in per_object.values()])) for k in keys}
    return {"benchmark": "equivariance", "data": "renders", "per_object": per_object, "mean": mean, "objects": len(per_object), "config": config.__dict__, "features": features.describe()}


def format_table(result: dict) -> str:
    """A plain-text table of per-object and mean APE/PCDP."""
    keys = list(result["mean"])
    name_w = max([len("mean")] + [len(n) for n in result["per_object"]])
    lines = [f"{'object':<{name_w}}  " + "  ".join(f"{k:>8}" for k in keys)]
    for name, row in result["per_object"].items():
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{row[k]:8.2f}" for k in keys))
    lines.append(f"{'mean':<{name_w}}  " + "  ".join(f"{result['mean'][k]:8.2f}" for k in keys))
    return "\n".join(lines)


def find_colmap_objects(root: str | Path) -> list[Path]:
    """Object folders below ``root`` that hold ``images/`` and a COLMAP model (``sparse/0`` or ``sparse``)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: MVImgNet folder not found")
    found = []
    for images in sorted(root.rglob("images")):
        folder = images.parent
        if images.is_dir() and any((folder / s / f"cameras.{e}").is_file() for s in ("sparse/0", "sparse") for e in ("bin", "txt")):
            found.append(folder)
    if not found:
        raise MveqError(f"{root}: no object folders with images/ and sparse/0 (COLMAP) inside")
    return found


@torch.no_grad()
def evaluate_colmap_object(features: DenseFeatures, folder: Path, config: EquivarianceConfig, rng: np.random.Generator, min_shared: int = 20) -> dict:
    """APE/PCDP of one object from its COLMAP model: every shared 3D point is a ground-truth
    correspondence; view A's pixel is transferred to the most similar pixel of all of view B."""
    from .colmap import read_model, shared_observations

    model_dir = folder / "sparse" / "0" if (folder / "sparse" / "0").is_dir() else folder / "sparse"
    _, images, _ = read_model(model_dir)
    ids = sorted(images)
    pairs = [(a, b) for a, b in itertools.permutations(ids, 2)]
    rng.shuffle(pairs)
    errors, used = [], 0
    cache: dict[int, tuple[np.ndarray, torch.Tensor]] = {}

    def image_and_grid(i):
        if i not in cache:
            rgb = read_image_rgb(folder / "images" / images[i].name)
            cache[i] = (rgb, features(image_to_tensor(rgb, features.device)))
        return cache[i]

    for a, b in pairs:
        if config.max_pairs_per_object is not None and used >= config.max_pairs_per_object:
            break
        xy_a, xy_b = shared_observations(images[a], images[b])
        if len(xy_a) < min_shared:
            continue
        used += 1
        rgb_a, grid_a = image_and_grid(a)
        rgb_b, grid_b = image_and_grid(b)
        pick = rng.choice(len(xy_a), min(config.queries_per_pair, len(xy_a)), replace=False)
        predicted = transfer_pixels(grid_a, xy_a[pick], rgb_a.shape[:2], grid_b, rgb_b.shape[:2], config.candidate_stride)
        errors.append(np.linalg.norm(predicted - xy_b[pick], axis=1) / min(rgb_b.shape[:2]))
    errors = np.concatenate(errors) if errors else np.zeros(0)
    return {**ape_pcdp(errors, 1.0), "pairs": used}


def evaluate_mvimgnet(features: DenseFeatures, root: str | Path, config: EquivarianceConfig = EquivarianceConfig(), max_objects: int | None = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    rng = np.random.default_rng(config.seed)
    per_object = {}
    for folder in tqdm(find_colmap_objects(root)[:max_objects], desc="mvimgnet", disable=not progress):
        per_object[str(folder.relative_to(Path(root)))] = evaluate_colmap_object(features, folder, config, rng)
    keys = [k for k in next(iter(per_object.values())) if k.startswith(("APE", "PCDP"))]
    mean = {k: float(np.nanmean([v[k] for v in per_object.values()])) for k in keys}
    return {"benchmark": "equivariance", "data": "mvimgnet", "per_object": per_object, "mean": mean, "objects": len(per_object), "config": config.__dict__, "features": features.describe()}
