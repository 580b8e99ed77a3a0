"""Tracking mode against per-frame detection on a rendered camera stream: success and milliseconds.

The stream: the object turns and drifts smoothly in front of a fixed random background (640 x 480,
f = 600 px, 3.5 extents away, random but fixed lighting); it leaves the view for a few frames in the
middle and comes back. Success: rotation < 5° and translation < 5 cm (frames where it is in view).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..geometry import intrinsics_from_values, make_transform, rotation_matrix_axis_angle
from ..metrics.pose import query_pose_error
from ..pose import PoseEstimator
from ..pose_tracking import PoseTracker, TrackingConfig
from ..render import composite, random_background, render_view


@dataclass
class StreamFrame:
    rgb: np.ndarray
    K: np.ndarray
    T_cam_obj: np.ndarray
    visible: bool


def render_stream(mesh, frames: int = 30, gap: tuple[int, int] = (12, 16), seed: int = 0, flat: bool = False) -> list[StreamFrame]:
    """``frames`` frames; in frames ``gap[0]`` to ``gap[1] - 1`` the object is out of view.
    ``flat`` renders colours unlit (for coordinate-coloured test meshes)."""
    rng = np.random.default_rng(seed)
    K = intrinsics_from_values(600.0, 600.0, 319.5, 239.5)
    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    centre, extent = (lo + hi) / 2, float((hi - lo).max())
    background = random_background(480, 640, rng)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    start = rotation_matrix_axis_angle(rng.normal(size=3) / np.sqrt(3), rng.uniform(0, np.pi))
    z = 3.5 * extent
    out = []
    for t in range(frames):
        R = rotation_matrix_axis_angle(axis, np.deg2rad(3.0 * t)) @ start  # 3 degrees per frame
        visible = not (gap[0] <= t < gap[1])
        x = (-0.1 + 0.2 * t / max(frames - 1, 1)) * z if visible else 10 * z
        T = make_transform(R, np.array([x, 0.02 * z, z]) - R @ centre)
        view = render_view(mesh, K, T, (480, 640), None, False, flat)
        out.append(StreamFrame(composite(view.rgb, view.mask, background), K, T, visible and bool(view.mask.any())))
    return out


def run_tracking_mode(estimator: PoseEstimator, name: str, stream: list[StreamFrame], config: TrackingConfig = TrackingConfig()) -> dict:
    """Per-frame detection (whole image, two passes) against tracking mode on the same frames."""
    modes = {}
    for mode in ("detection", "tracking"):
        tracker = PoseTracker(estimator, config) if mode == "tracking" else None
        rows = []
        for k, frame in enumerate(stream):
            t0 = time.perf_counter()
            if tracker is None:
                result, state = estimator.estimate(frame.rgb, frame.K, objects=[name])[name], None
            else:
                tracked = tracker.update(frame.rgb, frame.K)[name]
                result, state = tracked.result, tracked.state
            ms = (time.perf_counter() - t0) * 1e3
            rot, cm = query_pose_error(result.T_cam_obj if result.success else None, frame.T_cam_obj)
            rows.append({"frame": k, "visible": frame.visible, "success": bool(frame.visible and rot < 5 and cm < 5), "false_pose": bool(not frame.visible and result.success),
                         "rotation_error_deg": rot, "translation_error_cm": cm, "ms": ms, "state": state})  # fmt: skip
        seen = [r for r in rows if r["visible"]]
        modes[mode] = {
            "success_rate": float(np.mean([r["success"] for r in seen])),
            "false_poses_while_out_of_view": sum(r["false_pose"] for r in rows),
            "median_ms": float(np.median([r["ms"] for r in rows[1:]])),  # the first frame warms up
            "rows": rows,
        }
    return {"benchmark": "tracking-mode", "frames": len(stream), "object": name, "tracking_config": config.__dict__, "modes": modes, "features": estimator.features.describe()}


def format_table(result: dict) -> str:
    lines = [f"{'mode':10} {'success':>8} {'false poses':>12} {'median ms':>10}"]
    for mode, m in result["modes"].items():
        lines.append(f"{mode:10} {100 * m['success_rate']:7.0f}% {m['false_poses_while_out_of_view']:12d} {m['median_ms']:10.0f}")
    return "\n".join(lines)
