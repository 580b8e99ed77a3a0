"""Issue 11: milliseconds of the estimator's CPU preprocessing of one 640 x 480 frame with a box
(crop, resize, the query grid and its box filter; `--box-queries`), the features stage stubbed out.

    .venv/bin/python scripts/preprocess_timing.py [REPEATS]
"""

from __future__ import annotations

import sys
import time

import numpy as np

import mveq_core.pose as pose_module
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.pose import PoseConfig, PoseEstimator


class _Stop(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stop


def main(repeats: int = 300) -> int:
    estimator = PoseEstimator(DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random")), [], PoseConfig(box_queries=True))
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    K = np.array([[600.0, 0, 320], [0, 600, 240], [0, 0, 1]])
    pose_module.image_to_tensor = _stop  # preprocessing ends where the image goes to the device

    def once():
        try:
            estimator.query_features(image, K, None, [200, 150, 380, 330], [])
        except _Stop:
            pass

    for _ in range(20):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"preprocessing: median {np.median(times):.3f} ms over {repeats} frames")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*(int(a) for a in sys.argv[1:])))
