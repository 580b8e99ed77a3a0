"""Point tracking from reference-frame features (DINO-Tracker's inference on raw features).

For each query point, its descriptor from the query frame is compared by cosine similarity with
every cell of a target frame's feature grid; the argmax cell is refined by a soft-argmax (softmax
of the similarity map, restricted to a disc around the argmax). A point is occluded where its
similarity falls under a threshold; over a whole video the official evaluation also uses anchor
frames (similarity >= 0.7) and a cycle test (DINO-Tracker), with 0.6 for the per-frame threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .features import DenseFeatures, FeatureGrid
from .settings import option


@dataclass(frozen=True)
class TrackerConfig:
    """Defaults follow the paper's tracking evaluation: overlapping patches with stride 7 for /14
    ViTs (None: the features' own resolution rule), soft-argmax within 35 px of the argmax
    (DINO-Tracker), occlusion thresholds 0.7 (anchors) and 0.6 (per frame)."""

    patch_stride: int | None = option(7, "overlapping patch stride, px (0: the features' own grid); the paper: 7", cli="--patch-stride", ros="patch_stride")
    # (H, W) frames are resized to; None keeps each frame's size (the node: video_height/video_width)
    video_size: tuple[int, int] | None = (476, 854)
    softmax_radius_px: float = option(35.0, "soft-argmax radius around the argmax, px", ros="softmax_radius")
    softmax_temperature: float = 1.0  # DINO-Tracker: softmax over ReLU'd cosine similarities as they are
    occlusion_threshold: float = option(0.6, "similarity under this: occluded", cli="--occlusion-threshold", ros="occlusion_threshold")
    anchor_threshold: float = option(0.7, "anchor frames: similarity at least this (video evaluation)", cli="--anchor-threshold")
    chunk_frames: int = 8

    def __post_init__(self):
        if self.patch_stride == 0:  # 0 from a CLI option or ROS parameter: the features' own grid
            object.__setattr__(self, "patch_stride", None)


@torch.no_grad()
def extract_grid(features: DenseFeatures, images: torch.Tensor, config: TrackerConfig) -> FeatureGrid:
    """Feature grids of frames (B, 3, H, W) in [0, 1] with their cell centres in frame pixels:
    overlapping patches (``config.patch_stride``) at ``config.video_size``, or the features' own
    resolution rule when ``patch_stride`` is None (see :meth:`DenseFeatures.feature_grid`)."""
    return features.feature_grid(images, config.patch_stride, config.video_size if config.patch_stride is not None else None)


def locate(query: torch.Tensor, grid: FeatureGrid, frame: int, config: TrackerConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (N, 2) of descriptors ``query`` (N, C) in one frame, and their cosine similarity
    there (N,): argmax of the similarity map, refined by a soft-argmax within the radius."""
    g = F.normalize(grid.grid[frame], dim=0)  # (C, gh, gw)
    sim = torch.einsum("nc,chw->nhw", query, g)  # (N, gh, gw)
    N, gh, gw = sim.shape
    flat = sim.reshape(N, -1)
    best = flat.argmax(dim=1)
    by, bx = best // gw, best % gw
    px = grid.centres_x[bx]
    py = grid.centres_y[by]
    # softmax over the ReLU'd map, kept within the disc around the argmax (DINO-Tracker)
    weights = torch.softmax(F.relu(flat) / config.softmax_temperature, dim=1).reshape(N, gh, gw)
    dx = grid.centres_x[None, None, :] - px[:, None, None]
    dy = grid.centres_y[None, :, None] - py[:, None, None]
    disc = (dx**2 + dy**2) <= config.softmax_radius_px**2
    weights = weights * disc
    weights = weights / weights.sum(dim=(1, 2), keepdim=True).clamp_min(1e-12)
    x = (weights * grid.centres_x[None, None, :]).sum(dim=(1, 2))
    y = (weights * grid.centres_y[None, :, None]).sum(dim=(1, 2))
    xy = torch.stack([x, y], dim=1)
    return xy, (grid.sample(xy, frame) * query).sum(-1)


def frames_to_tensor(frames: np.ndarray, device) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).float() / 255.0


class Tracker:
    """Tracks query points through a video (batched) or frame by frame (:meth:`start`/:meth:`step`)."""

    def __init__(self, features: DenseFeatures, config: TrackerConfig = TrackerConfig()):
        self.features = features.eval()
        self.config = config
        self._query: torch.Tensor | None = None

    # --------------------------------------------------------------------------- whole videos
    @torch.no_grad()
    def video_grid(self, frames: np.ndarray) -> FeatureGrid:
        """Features of all frames (T, H, W, 3) uint8, extracted in chunks."""
        grids, last = [], None
        for start in range(0, len(frames), self.config.chunk_frames):
            last = extract_grid(self.features, frames_to_tensor(frames[start : start + self.config.chunk_frames], self.features.device), self.config)
            grids.append(last.grid)
        return FeatureGrid(torch.cat(grids), last.centres_x, last.centres_y, last.image_hw)

    @torch.no_grad()
    def track(self, frames: np.ndarray, queries: np.ndarray, anchors: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track query points through a video.

        Args:
            frames: (T, H, W, 3) uint8 RGB.
            queries: (N, 3) float: (t, x, y) with t the query frame and (x, y) pixels (TAP-Vid order).
            anchors: use the official anchor/cycle occlusion test; else the similarity threshold only.

        Returns:
            tracks (N, T, 2) pixels, occluded (N, T) bool, similarity (N, T).
        """
        grid = self.video_grid(frames)
        return self.track_in_grid(grid, queries, anchors)

    @torch.no_grad()
    def track_in_grid(self, grid: FeatureGrid, queries: np.ndarray, anchors: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        device = grid.grid.device
        q = torch.as_tensor(np.asarray(queries, dtype=np.float32), device=device)
        T = grid.grid.shape[0]
        N = q.shape[0]
        query_desc = grid.sample(q[:, 1:3], q[:, 0].long())
        tracks = torch.empty(N, T, 2, device=device)
        sims = torch.empty(N, T, device=device)
        for t in range(T):
            tracks[:, t], sims[:, t] = locate(query_desc, grid, t, self.config)
        occluded = sims < self.config.occlusion_threshold
        if anchors:
            occluded = occluded | self._anchor_occlusion(grid, tracks, sims)
        # the query frame itself: the query point, visible
        idx = torch.arange(N, device=device)
        tracks[idx, q[:, 0].long()] = q[:, 1:3]
        occluded[idx, q[:, 0].long()] = False
        return tracks.cpu().numpy(), occluded.cpu().numpy(), sims.cpu().numpy()

    def _anchor_occlusion(self, grid: FeatureGrid, tracks: torch.Tensor, sims: torch.Tensor) -> torch.Tensor:
        """DINO-Tracker's occlusion test: from every anchor frame (similarity >= anchor threshold),
        re-track the point into every frame; a frame is occluded where the median distance between
        those re-tracked positions and the track exceeds the worst such median over anchor frames."""
        N, T = sims.shape
        occluded = torch.zeros(N, T, dtype=torch.bool, device=sims.device)
        for n in range(N):
            anchor_frames = torch.nonzero(sims[n] >= self.config.anchor_threshold)[:, 0]
            if len(anchor_frames) == 0:
                occluded[n] = True
                continue
            anchor_desc = grid.sample(tracks[n, anchor_frames], anchor_frames)  # (A, C)
            # re-track each anchor's descriptor into every frame: (A, T, 2)
            positions = torch.stack([locate(anchor_desc, grid, t, self.config)[0] for t in range(T)], dim=1)
            dist = (positions - tracks[n][None]).norm(dim=-1)  # (A, T)
            anchor_medians = dist[:, anchor_frames].median(dim=0).values
            limit = anchor_medians.max()
            occluded[n] = dist.median(dim=0).values > limit
        return occluded

    # --------------------------------------------------------------------------- online
    @torch.no_grad()
    def start(self, frame: np.ndarray, xy: np.ndarray) -> None:
        """Set query points (N, 2) pixels on ``frame`` (H, W, 3) uint8."""
        grid = extract_grid(self.features, frames_to_tensor(frame[None], self.features.device), self.config)
        self._query = grid.sample(torch.as_tensor(np.asarray(xy, np.float32), device=self.features.device))

    @property
    def active(self) -> bool:
        return self._query is not None

    @torch.no_grad()
    def step(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions (N, 2), visible (N,) bool and similarity scores (N,) of the queries in ``frame``."""
        if self._query is None:
            raise RuntimeError("Tracker.step() before start(): no query points")
        grid = extract_grid(self.features, frames_to_tensor(frame[None], self.features.device), self.config)
        xy, sim = locate(self._query, grid, 0, self.config)
        return xy.cpu().numpy(), (sim >= self.config.occlusion_threshold).cpu().numpy(), sim.cpu().numpy()


def grid_points_in_mask(mask: np.ndarray, spacing: int) -> np.ndarray:
    """Pixels (N, 2) on a ``spacing`` grid inside a (H, W) mask (e.g. the object's)."""
    ys, xs = np.mgrid[spacing // 2 : mask.shape[0] : spacing, spacing // 2 : mask.shape[1] : spacing]
    keep = mask[ys, xs]
    return np.stack([xs[keep], ys[keep]], axis=1).astype(np.float32)

