"""Tracking mode over a camera stream: after a confident pose, the next frame is estimated only in a
crop around the object's projected box (one pass, no whole-image search); after ``max_failures``
failed frames in a row the object is searched for again in the whole image.

While tracking, the previous pose also verifies the new one: when it explains more of this frame's
matches than the RANSAC pose does (e.g. RANSAC failed on a hard frame), it is refined on those
matches (Levenberg-Marquardt on the reprojection error) and used instead.

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


def refine_from_prior(result: PoseResult, T_prior: np.ndarray, K: np.ndarray, threshold_px: float, dist_coeffs: np.ndarray | None = None, min_inliers: int = 12) -> PoseResult | None:
    """A pose from this frame's matches seeded by the previous pose ``T_prior``: the matches that it
    projects within ``threshold_px`` are its inliers; when they outnumber ``result``'s inliers (and
    reach ``min_inliers``), the prior is refined on them (OpenCV iterative PnP from the prior) and
    returned as a new result; otherwise None (keep ``result``)."""
    import cv2

    from .pose import pose_score

    xy, xyz = np.asarray(result.matches_xy, np.float64), np.asarray(result.matches_xyz, np.float64)
    if len(xy) < min_inliers:
        return None
    dist = np.zeros(5) if dist_coeffs is None else np.asarray(dist_coeffs, np.float64)

    def reprojection_errors(T):  # pixels; points behind the camera count as infinitely wrong
        rvec, _ = cv2.Rodrigues(T[:3, :3])
        projected, _ = cv2.projectPoints(xyz, rvec, T[:3, 3], K, dist)
        in_front = (xyz @ T[:3, :3].T + T[:3, 3])[:, 2] > 0
        return np.where(in_front, np.linalg.norm(projected.reshape(-1, 2) - xy, axis=1), np.inf)

    inl = reprojection_errors(T_prior) < threshold_px
    if inl.sum() < max(min_inliers, result.num_inliers + 1):
        return None
    rvec, _ = cv2.Rodrigues(T_prior[:3, :3])
    ok, rvec, tvec = cv2.solvePnP(xyz[inl], xy[inl], K, dist, rvec.copy(), T_prior[:3, 3].reshape(3, 1).copy(), useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return None
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = cv2.Rodrigues(rvec)[0], tvec.ravel()
    errors = reprojection_errors(T)
    inl = errors < threshold_px
    if inl.sum() <= result.num_inliers:
        return None
    ratio = float(inl.mean())
    return PoseResult(
        object_name=result.object_name, success=True, T_cam_obj=T, num_matches=len(xy), num_inliers=int(inl.sum()), inlier_ratio=ratio,
        reprojection_error=float(errors[inl].mean()), score=pose_score(int(inl.sum()), ratio), timings_ms=result.timings_ms,
        reason="refined from the previous pose", matches_xy=result.matches_xy, matches_xyz=result.matches_xyz, inliers=inl,
    )


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

    def update(self, image: np.ndarray, K: np.ndarray, dist_coeffs: np.ndarray | None = None, depth: np.ndarray | None = None) -> dict[str, TrackedPose]:
        """Poses in one frame (H, W, 3) uint8 with intrinsics ``K`` (3, 3); ``depth`` (H, W) metres
        registered to it corrects each pose's distance (see :meth:`PoseEstimator.estimate`)."""
        from .depth import check_depth

        depth = None if depth is None else check_depth(depth, image.shape[:2])
        out = {}
        for name in self.estimator.databases:
            last = self._last.get(name)
            box = None if last is None else self.estimator.projected_box(name, last, K, image.shape[:2], dist_coeffs)
            if box is not None:
                result = self.estimator.estimate(image, K, box=box, objects=[name], dist_coeffs=dist_coeffs, box_is_tight=False)[name]
                result = refine_from_prior(result, last.T_cam_obj, K, self.estimator.config.pnp.threshold_px, dist_coeffs) or result
            else:
                result = self.estimator.estimate(image, K, objects=[name], dist_coeffs=dist_coeffs)[name]
            result = self.estimator.correct_with_depth(result, depth)
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
