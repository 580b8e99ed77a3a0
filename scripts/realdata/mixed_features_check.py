"""One estimator with the offline default model serving an adapter-free CAD database and an
adapter-built reference-video database (per-database features, session 7), on the real LINEMOD cat,
compared pose by pose with the two single-feature bench runs of the same settings:

    python3 scripts/realdata/mixed_features_check.py .carry/lm_cat_bop OUT.json \\
        docs/results/real/session7/stride/stride_4_cad_recipe_raw.json docs/results/real/session7/stride/stride_4_video_adapter.json

CAD: recipe features (`--model offline-default --adapter none`), cropped renders with 4 in-plane
turns, GT masks, 6 render-refinement rounds from the database's own mesh (no set_mesh); video: the
offline default with the adapter, GT boxes, the bench's reference/query split.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch._dynamo  # noqa: F401  (before the first GL context)


def main(argv: list[str]) -> int:
    from mveq_core.benchmarks.bop import load_bop
    from mveq_core.benchmarks.real_pose import cad_databases, split_reference_query, video_databases
    from mveq_core.benchmarks.realdata import fill_visible_boxes
    from mveq_core.cad_database import CadDatabaseConfig
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, resolve_device
    from mveq_core.io import read_json
    from mveq_core.pose import PoseConfig, PoseEstimator
    from mveq_core.provenance import set_invocation, write_result_json
    from mveq_core.reference_database import ReferenceCropConfig

    root, out, cad_json, video_json = argv[0], Path(argv[1]), argv[2], argv[3]
    set_invocation(["scripts/realdata/mixed_features_check.py", *argv])
    device = str(resolve_device("auto"))
    real = load_bop(root)
    name = real.frames[0].annotations[0].object
    default = DenseFeatures.create(replace(OFFLINE_DEFAULT, device=device))
    recipe = DenseFeatures.create(replace(OFFLINE_DEFAULT, adapter=None, layer=8, device=device))
    with tempfile.TemporaryDirectory() as cache:
        cad = cad_databases(recipe, real, [name], CadDatabaseConfig(inplane_rotations=4, crop_renders=True), Path(cache), progress=False)[name]
    references, queries = split_reference_query(real)
    video = video_databases(default, real, references, ReferenceCropConfig(), progress=False)[name]
    video.meta.object_name = f"{name}_video"
    estimator = PoseEstimator(default, [cad, video], PoseConfig(render_refine=6, hypotheses=1, refine_method="matches"))  # one hypothesis, matching only, as measured (session 7)
    assert len(estimator.feature_sets) == 2
    expected = {"cad": {r["frame"]: r["T_est"] for r in read_json(cad_json)["rows"]}, "video": {r["frame"]: r["T_est"] for r in read_json(video_json)["rows"]}}
    diffs = {"cad": [], "video": []}
    for frame in real.frames:
        fill_visible_boxes(frame, real.objects, masks=True)
        ann = frame.annotations[0]
        got = estimator.estimate(frame.rgb, frame.K, mask=ann.mask, objects=[name])[name]
        diffs["cad"].append(_difference(got, expected["cad"].get(frame.key)))
        if (frame.key, name) in queries:
            got = estimator.estimate(frame.rgb, frame.K, box=ann.box, objects=[f"{name}_video"])[f"{name}_video"]
            diffs["video"].append(_difference(got, expected["video"].get(frame.key)))
    result = {"benchmark": "mixed-features-check", "frames": len(real.frames), "feature_sets": [f.describe() for f in estimator.feature_sets.values()]}
    for kind, values in diffs.items():
        finite = [v for v in values if v is not None and np.isfinite(v)]
        result[kind] = {"instances": len(values), "same_outcome": int(sum(v is not None for v in values)), "max_abs_pose_difference": max(finite) if finite else None}
    print(result)
    write_result_json(out, result, device)
    return 0


def _difference(result, T_expected) -> float | None:
    """Largest absolute difference of the two 4x4 poses (0.0 when neither has a pose); None when
    only one of them has a pose (a different outcome)."""
    if result.T_cam_obj is None and T_expected is None:
        return 0.0
    if result.T_cam_obj is None or T_expected is None:
        return None
    return float(np.abs(result.T_cam_obj - np.asarray(T_expected)).max())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
