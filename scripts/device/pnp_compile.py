"""Issue 11: the gpu PnP back-end's milliseconds with and without torch.compile, and against another
copy of ``pnp_gpu.py`` (e.g. an earlier commit's), on the same synthetic sets in one process.

    python3 scripts/device/pnp_compile.py OUT.json [--other OLD_pnp_gpu.py] [--sizes 1000,10000] [--outliers 0.5,0.8,0.9]

Per size and outlier ratio: median and p95 ms over 30 calls after warm-up (each variant's CUDA graph
captured first), success (< 1° and < 1 cm against the set's pose) over 10 sets, and whether the
compiled pose equals the eager one."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time

import numpy as np
import torch

from mveq_core import pnp_gpu
from mveq_core.benchmarks.pnp_accuracy import K, make_set
from mveq_core.geometry import rotation_error_deg
from mveq_core.provenance import provenance


def load(path: str):
    spec = importlib.util.spec_from_file_location("pnp_gpu_other", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--other", help="another pnp_gpu.py to time beside this checkout's")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--outliers", default="0.5,0.8,0.9")
    ap.add_argument("--calls", type=int, default=30)
    args = ap.parse_args(argv)
    variants = {"eager graph": (pnp_gpu, False), "compiled graph": (pnp_gpu, True)}
    if args.other:
        variants = {"other (eager graph)": (load(args.other), False), **variants}
    rows = []
    for n in (int(v) for v in args.sizes.split(",")):
        for outliers in (float(v) for v in args.outliers.split(",")):
            sets = [make_set(n, outliers, 1.0, np.random.default_rng(k)) for k in range(10)]
            poses = {}
            for name, (module, compiled) in variants.items():
                kw = {"compile": compiled} if module is pnp_gpu else {}
                t0 = time.perf_counter()
                module.ransac_pnp_torch(sets[0].xyz, sets[0].xy, K, device="cuda", **kw)  # capture (and compile)
                first = time.perf_counter() - t0
                ok, results = 0, []
                for s in sets:
                    r = module.ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", **kw)
                    results.append(r.T_cam_obj)
                    ok += r.T_cam_obj is not None and rotation_error_deg(r.T_cam_obj[:3, :3], s.T[:3, :3]) < 1 and np.linalg.norm(r.T_cam_obj[:3, 3] - s.T[:3, 3]) < 0.01
                torch.cuda.synchronize()
                times = []
                for k in range(args.calls):
                    s = sets[k % len(sets)]
                    t0 = time.perf_counter()
                    module.ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", **kw)
                    times.append(1e3 * (time.perf_counter() - t0))
                poses[name] = results
                rows.append({"variant": name, "correspondences": n, "outlier_ratio": outliers, "median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95)),
                             "success": ok / len(sets), "first_call_s": first})  # fmt: skip
                print(f"N={n:6d} outliers {outliers:.2f} {name:22s} {rows[-1]['median_ms']:6.2f} ms (p95 {rows[-1]['p95_ms']:6.2f})  success {100 * ok / len(sets):3.0f} %  first call {first:6.1f} s", flush=True)
            same = [a is not None and b is not None and np.abs(a - b).max() < 1e-6 for a, b in zip(poses["eager graph"], poses["compiled graph"])]
            rows[-1]["same_pose_as_eager"] = float(np.mean(same))
            print(f"   compiled pose = eager pose in {sum(same)} of {len(same)} sets", flush=True)
    json.dump({"benchmark": "pnp-compile", "rows": rows, "provenance": provenance(torch.device("cuda"))}, open(args.out, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
