"""Tracking mode over a camera stream: after a confident pose, the next frame is estimated only in a
crop around the object's projected box (one pass, no whole-image search); after ``max_failures``
failed frames in a row the object is searched for again in the whole image.

States per object: ``searching`` (no recent pose: whole-image localisation, two passes),
``tracking`` (this frame's pose came from the crop around the previous pose) and ``lost`` (the
crop failed; the previous pose is kept for up to ``max_failures`` frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pose import PoseEstimator, PoseResult

SEARCHING, TRACKING, LOST = "searching", "tracking", "lost"


@dataclass(frozen=True)
class TrackingConfig:
    """``min_score``: a pose under this score counts as a failure (see ``pose_score``);
    ``max_failures``: failed frames in a row before the object is searched for again."""

    min_score: float = 0.2
    max_failures: int = 3


@dataclass
class TrackedPose:
    """One object's state after a frame, and the estimator's result for that frame."""

    state: str
    result: PoseResult
    failures: int = 0


class PoseTracker:
    """Frame-to-frame pose for every object of ``estimator`` (one instance per camera stream)."""

    def __init__(self, estimator: PoseEstimator, config: TrackingConfig = TrackingConfig()):
        self.estimator = estimator
        self.config = config
        self._last: dict[str, PoseResult] = {}
        self._failures: dict[str, int] = {}

    def reset(self) -> None:
        self._last.clear()
        self._failures.clear()

    def update(self, image: np.ndarray, K: np.ndarray, dist_coeffs: np.ndarray | None = None) -> dict[str, TrackedPose]:
        """Poses in one frame (H, W, 3) uint8 with intrinsics ``K`` (3, 3)."""
        out = {}
        for name in self.estimator.databases:
            last = self._last.get(name)
            box = None if last is None else self.estimator.projected_box(name, last, K, image.shape[:2], dist_coeffs)
            if box is not None:
                result = self.estimator.estimate(image, K, box=box, objects=[name], dist_coeffs=dist_coeffs)[name]
            else:
                result = self.estimator.estimate(image, K, objects=[name], dist_coeffs=dist_coeffs)[name]
            ok = result.success and result.score >= self.config.min_score
            if ok:  # tracked in the crop, or found by the search: tracked from the next frame on
                self._last[name], self._failures[name] = result, 0
                out[name] = TrackedPose(TRACKING, result)
                continue
            failures = self._failures.get(name, 0) + 1
            self._failures[name] = failures
            if last is not None and failures < self.config.max_failures:
                out[name] = TrackedPose(LOST, result, failures)
            else:
                self._last.pop(name, None)
                out[name] = TrackedPose(SEARCHING, result, failures)
        return out
