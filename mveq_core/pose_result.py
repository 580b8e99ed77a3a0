"""What a pose estimate returns (:class:`PoseResult`), a query's features between the feature pass
and matching (:class:`QueryFeatures`), and the image check every entry point shares."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .box_distance import BoxFit
from .depth import DepthCorrection


@dataclass
class PoseResult:
    """The outcome for one object in one image.

    ``T_cam_obj`` (4, 4) metres, OpenCV axes, or None when there is no pose (``reason`` says why).
    ``score`` in [0, 1] grows with the inlier ratio and count. ``timings_ms`` per stage.
    ``matches_xy`` (M, 2) image pixels, ``matches_xyz`` (M, 3) object points and ``inliers`` (M,)
    are kept for pictures and debugging.
    """

    object_name: str
    success: bool
    T_cam_obj: np.ndarray | None
    num_matches: int
    num_inliers: int
    inlier_ratio: float
    reprojection_error: float
    score: float
    timings_ms: dict[str, float]
    reason: str = ""
    matches_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    matches_xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    depth_correction: DepthCorrection | None = None  # set when a depth image corrected the distance
    box_fit: BoxFit | None = None  # set when the translation was drawn toward the query box's (PoseConfig.box_distance)
    hypotheses: list | None = None  # with several refined hypotheses (mveq_core.hypotheses): each one's summary

    @classmethod
    def failure(cls, name: str, reason: str, timings: dict | None = None, xy: np.ndarray | None = None, xyz: np.ndarray | None = None) -> "PoseResult":
        """No pose for ``name``, with the reason and whatever matches there were."""
        xy = np.zeros((0, 2)) if xy is None else xy
        xyz = np.zeros((0, 3)) if xyz is None else xyz
        return cls(
            object_name=name, success=False, T_cam_obj=None, num_matches=len(xy), num_inliers=0, inlier_ratio=0.0,
            reprojection_error=float("nan"), score=0.0, timings_ms=dict(timings or {}), reason=reason,
            matches_xy=xy, matches_xyz=xyz, inliers=np.zeros(len(xy), bool),
        )

    def to_json(self) -> dict:
        return {
            "object": self.object_name,
            "success": self.success,
            "T_cam_obj": None if self.T_cam_obj is None else self.T_cam_obj.tolist(),
            "num_matches": self.num_matches,
            "num_inliers": self.num_inliers,
            "inlier_ratio": self.inlier_ratio,
            "reprojection_error_px": None if math.isnan(self.reprojection_error) else self.reprojection_error,
            "score": self.score,
            "timings_ms": self.timings_ms,
            "reason": self.reason,
            "depth_correction": None if self.depth_correction is None else asdict(self.depth_correction),
            "box_fit": None if self.box_fit is None else asdict(self.box_fit),
            "hypotheses": self.hypotheses,
        }


def pose_score(num_inliers: int, inlier_ratio: float) -> float:
    """Confidence in [0, 1]: the inlier ratio, discounted when there are few inliers."""
    return float(inlier_ratio * (1.0 - math.exp(-num_inliers / 20.0)))


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """(H, W, 3) uint8 RGB from RGB or grey input; raises ValueError naming what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"{name}: expected (H, W, 3) RGB, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name}: empty image of shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {image.dtype}")
    return np.ascontiguousarray(image[..., :3])


@dataclass
class QueryFeatures:
    """A query crop's descriptors (N, C), their pixels in the original image (N, 2), the
    preprocess/features milliseconds, when the query started (perf_counter seconds), and whether
    the crop is around the object (a box or mask was given) rather than the whole image; ``grid``
    (the crop's :class:`~mveq_core.features.FeatureGrid`), ``crop`` (its :class:`~mveq_core.crop.Crop`)
    and ``box`` (the object's box, original pixels) for sampling anywhere in it."""

    descriptors: torch.Tensor
    xy: np.ndarray
    timings: dict
    t_start: float
    around_object: bool = True
    grid: object = None
    crop: object = None
    box: object = None
