"""Issue 13: the object-size scale from the sparse SfM object points against the same after
densifying (`mveq_core.densify`, offline default features), on the rendered orbit of
tests/core/test_sfm.py (the bundled drill from 24 cameras, 10° apart). Prints the median
translation-length ratio (estimated / true) over all camera pairs for both.

    .venv/bin/python scripts/realdata/object_size_dense_check.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "core"))
import torch._dynamo  # noqa: E402,F401  (before the first GL context)
import trimesh  # noqa: E402
from test_sfm import K, _relative_errors, _ring  # noqa: E402

from mveq_core.bundled import SAMPLE_OBJECT  # noqa: E402
from mveq_core.densify import densify  # noqa: E402
from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures  # noqa: E402
from mveq_core.render import load_mesh  # noqa: E402
from mveq_core.sfm import longest_side, metric, object_points, reconstruct  # noqa: E402


def main() -> int:
    drill = load_mesh(SAMPLE_OBJECT)
    drill = drill.to_geometry() if isinstance(drill, trimesh.Scene) else drill
    lo, hi = drill.bounds
    drill.apply_translation(-(lo + hi) / 2)
    images, poses = _ring(drill, 1.6 * float(np.linalg.norm(hi - lo)), 24, 10.0, 25.0)
    true = longest_side(np.asarray(drill.sample(20000, seed=0)))
    rec = reconstruct(images, K)
    rec.object_point_ids = object_points(rec)
    dense, added = densify(DenseFeatures.create(OFFLINE_DEFAULT), images, K, rec, progress=False)
    for name, r in (("sparse SfM points", rec), (f"after densifying (+{added} points)", dense)):
        _, scale = _relative_errors(metric(r, true, r.object_point_ids), poses)
        print(f"{name}: {len(r.object_point_ids)} object points, scale ratio {np.median(scale):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
