"""Issue 11 on the GPU: where a frame's milliseconds go with the three camera-rate switches
(--pnp-compile --box-queries --cuda-graphs), box mode, the latency benchmark's frames.

usage: python scripts/device/profile_switches.py OUT.json [offline-default | BACKBONE] [compile-backbone]
(compile-backbone: an experiment, the padded ViT forward wrapped in torch.compile(dynamic=True)
before its graphs are captured; bf16-weights: --precision bf16-weights)
Three passes over the same 200 frames (after 5 warm-up): (1) as `mveq bench latency` times them,
with whether each frame's ViT input size already had a captured graph; (2) the same frames again,
every size now captured (a stream whose crop sizes repeat); (3) each sub-step of the features
stage timed alone (synchronised before and after): upload, resize to the ViT input, backbone,
head, sampling, and matching and PnP.
"""

import json
import sys
import time

import numpy as np
import torch
from drill_frames import camera_rate_features, drill_frames

from mveq_core.feature_graphs import padded_grid
from mveq_core.metrics.pose import query_pose_error
from mveq_core.pose import PoseEstimator
from mveq_core.provenance import provenance


def main(out, model="offline-default", *flags):
    features = camera_rate_features(model, "bf16-weights" if "bf16-weights" in flags else "auto")
    if "compile-backbone" in flags:
        features.backbone.forward_padded = torch.compile(features.backbone.forward_padded, dynamic=True)
    db, base, queries, boxes = drill_frames(features)
    estimator = PoseEstimator(features, [db], base)
    report = {"model": features.describe(), "flags": list(flags)}

    graphs = features._graphs
    hits = []
    orig_tokens = graphs.tokens

    def spy_tokens(backbone, x, layer, autocast):
        p = backbone.patch_size
        GH, GW = padded_grid((x.shape[-2] // p, x.shape[-1] // p))
        hits.append((x.shape[0], x.shape[1], GH * p, GW * p, x.dtype, x.device, layer) in graphs._graphs)
        return orig_tokens(backbone, x, layer, autocast)

    graphs.tokens = spy_tokens

    def timed_pass(label):
        hits.clear()
        stages, wall, ok = {}, [], []
        for i, (q, box) in enumerate(zip(queries, boxes)):
            t0 = time.perf_counter()
            r = estimator.estimate(q.rgb, q.K, box=box, objects=["drill"])["drill"]
            if i >= 5:
                wall.append((time.perf_counter() - t0) * 1e3)
                rot, cm = query_pose_error(r.T_cam_obj if r.success else None, q.T_cam_obj)
                ok.append(rot < 5 and cm < 5)
                for k, v in r.timings_ms.items():
                    stages.setdefault(k, []).append(v)
        h = np.array(hits[5:], bool)
        w = np.array(wall)
        report[label] = {"median_ms": {k: float(np.median(v)) for k, v in stages.items()} | {"wall": float(np.median(w))},
                         "p95_wall_ms": float(np.percentile(w, 95)), "frames_with_a_captured_graph": int(h.sum()), "frames": len(w),
                         "median_wall_graphed_ms": float(np.median(w[h])) if h.any() else None,
                         "median_wall_eager_ms": float(np.median(w[~h])) if (~h).any() else None,
                         "graphs_held": len(graphs), "success_5deg_5cm": float(np.mean(ok))}  # fmt: skip
        print(label, json.dumps(report[label]))

    timed_pass("pass1_as_bench")
    timed_pass("pass2_sizes_captured")

    # pass 3: sub-steps, each synchronised
    sub: dict[str, list[float]] = {}

    def wrap(obj, name, key):
        fn = getattr(obj, name)

        def inner(*a, **k):
            torch.cuda.synchronize()
            t = time.perf_counter()
            out = fn(*a, **k)
            torch.cuda.synchronize()
            sub.setdefault(key, []).append((time.perf_counter() - t) * 1e3)
            return out

        setattr(obj, name, inner)

    import mveq_core.pose as pose_module

    wrap(pose_module, "image_to_tensor", "upload")
    wrap(features, "_vit_input", "resize_to_vit_input")
    wrap(graphs, "tokens", "backbone_graph")
    wrap(features.refine, "forward", "head")
    wrap(pose_module, "mutual_nearest_neighbours", "matching_kernel")
    wrap(pose_module, "solve_pnp", "pnp")
    from mveq_core import features as features_module

    wrap(features_module.FeatureGrid, "sample", "sampling")
    for q, box in zip(queries[5:], boxes[5:]):
        estimator.estimate(q.rgb, q.K, box=box, objects=["drill"])
    report["pass3_substeps_median_ms"] = {k: float(np.median(v)) for k, v in sub.items()}
    print("pass3", json.dumps(report["pass3_substeps_median_ms"]))
    report["provenance"] = provenance(torch.device("cuda"), sys.argv)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
