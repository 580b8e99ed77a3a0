"""Issue 11 on the GPU: where the pose estimator's "features" stage spends its time on the latency
benchmark's frames (640 x 480 renders of the bundled drill, box mode), eager and with CUDA graphs:
per-frame stage times, the ViT input sizes, and torch.profiler's top operators by CPU and CUDA time.
usage: python scripts/device/profile_estimate.py OUT.json [backbone | offline-default]"""
import json
import sys
from dataclasses import replace

import numpy as np
import torch

from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
from mveq_core.bundled import resolve
from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
from mveq_core.crop import mask_box
from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig
from mveq_core.pose import PoseEstimator
from mveq_core.provenance import provenance
from mveq_core.render import load_mesh


def main(out, backbone="dinov2_vitb14"):
    mesh = load_mesh(resolve("bundled:mveq_toy_drill", "objects"))
    queries = render_queries(mesh, QueryConfig(count=40, width=640, height=480, seed=0))
    report = {}
    for graphs in (False, True):
        config = OFFLINE_DEFAULT if backbone == "offline-default" else FeatureConfig(backbone=backbone, weights="random")
        features = DenseFeatures.create(replace(config, device="cuda", cuda_graphs=graphs))
        db = build_database_from_mesh(features, mesh, "drill", CadDatabaseConfig(views=8, **WHOLE_RENDERS), progress=False)
        estimator = PoseEstimator(features, [db])
        times = []
        for q in queries:
            box = mask_box(q.mask)
            r = estimator.estimate(q.rgb, q.K, box=box, objects=["drill"])["drill"]
            times.append(r.timings_ms)
        for key in ("preprocess", "features", "matching", "pnp", "total"):
            report.setdefault(f"graphs={graphs}", {})[key] = float(np.median([t.get(key, 0) for t in times[5:]]))
        vit_sizes = {}
        orig = features._vit_input

        def spy(images):
            x = orig(images)
            vit_sizes[tuple(x.shape[-2:])] = vit_sizes.get(tuple(x.shape[-2:]), 0) + 1
            return x

        features._vit_input = spy
        for q in queries[:20]:
            estimator.estimate(q.rgb, q.K, box=mask_box(q.mask), objects=["drill"])
        report[f"graphs={graphs}"]["vit_input_sizes"] = {f"{h}x{w}": n for (h, w), n in vit_sizes.items()}
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for q in queries[20:23]:
                estimator.estimate(q.rgb, q.K, box=mask_box(q.mask), objects=["drill"])
        cpu = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15)
        gpu = prof.key_averages().table(sort_by="cuda_time_total", row_limit=15)
        report[f"graphs={graphs}"]["top_cpu"] = cpu
        report[f"graphs={graphs}"]["top_cuda"] = gpu
        print(f"graphs={graphs}", json.dumps({k: v for k, v in report[f'graphs={graphs}'].items() if not k.startswith("top")}))
        print(cpu[:4000])
        print(gpu[:3000])
    report["provenance"] = provenance(torch.device("cuda"), sys.argv)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
