"""Throughput of point tracking (frames/s, 854 x 480, batch and online) and semantic keypoint
transfer (image pairs/s, 500 x 400) on random images: speed only (`mveq bench throughput`)."""

from __future__ import annotations

import time

import numpy as np
import torch


def run_throughput(features, task: str, frames: int = 50, points: int = 256, pairs: int = 20, patch_stride: int = 0) -> dict:
    """``task``: ``tracking`` (``points`` queries over ``frames`` DAVIS-sized frames, one warm-up) or
    ``semantic`` (12 keypoints over ``pairs`` image pairs). Returns the timing report."""
    rng = np.random.default_rng(0)
    device = features.device

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    report = {"features": features.describe(), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "task": task}
    if task == "tracking":
        from ..tracking import Tracker, TrackerConfig

        tracker = Tracker(features, TrackerConfig(patch_stride=patch_stride or None))
        video = rng.integers(0, 256, size=(frames, 480, 854, 3), dtype=np.uint8)  # DAVIS resolution
        queries = np.c_[np.zeros(points), rng.uniform([0, 0], [853, 479], size=(points, 2))]
        tracker.track(video[:4], queries, anchors=False)  # warm-up
        sync()
        t0 = time.perf_counter()
        tracker.track(video, queries, anchors=False)
        sync()
        seconds = time.perf_counter() - t0
        report.update(frames=frames, points=points, seconds=seconds, frames_per_second=frames / seconds, patch_stride=patch_stride)
        tracker.start(video[0], queries[:, 1:])
        sync()
        t0 = time.perf_counter()
        for frame in video[1:]:
            tracker.step(frame)
        sync()
        report["online_frames_per_second"] = (frames - 1) / (time.perf_counter() - t0)
    elif task == "semantic":
        from ..semantic import transfer_keypoints

        images = rng.integers(0, 256, size=(pairs + 1, 400, 500, 3), dtype=np.uint8)
        kps = rng.uniform([0, 0], [499, 399], size=(12, 2))
        transfer_keypoints(features, images[0], kps, images[1])
        sync()
        t0 = time.perf_counter()
        for i in range(pairs):
            transfer_keypoints(features, images[i], kps, images[i + 1])
        sync()
        seconds = time.perf_counter() - t0
        report.update(pairs=pairs, keypoints_per_pair=12, image="500x400", seconds=seconds, pairs_per_second=pairs / seconds)
    else:
        raise ValueError(f"unknown throughput task {task!r}: tracking or semantic")
    return report
