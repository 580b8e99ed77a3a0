"""Issue 11: where the gpu PnP back-end's time goes (torch.profiler, CUDA), one set at 80 % outliers.
usage: python3 scripts/device/pnp_profile.py [N] [REFINE_STEPS] [--compile]"""

import sys
import time

import numpy as np
import torch

from mveq_core import pnp_gpu
from mveq_core.benchmarks.pnp_accuracy import K, make_set
from mveq_core.pnp_gpu import ransac_pnp_torch

compiled = "--compile" in sys.argv
args = [a for a in sys.argv[1:] if a != "--compile"]
n = int(args[0]) if args else 10_000
steps = int(args[1]) if len(args) > 1 else 5
s = make_set(n, 0.8, 1.0, np.random.default_rng(0))
if not compiled:
    torch.cuda.set_sync_debug_mode("warn")  # lists any host sync inside the search (eager)
    ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", cuda_graph=False)
    torch.cuda.set_sync_debug_mode(0)
for _ in range(3):
    ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", refine_steps=steps, compile=compiled)
torch.cuda.synchronize()
times = []
for _ in range(20):
    t0 = time.perf_counter()
    ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", refine_steps=steps, compile=compiled)
    times.append((time.perf_counter() - t0) * 1e3)
print(f"N={n}, {steps} refinement steps, compiled {compiled}: median {np.median(times):.2f} ms; graphs: {[(k[1], v is not None) for k, v in pnp_gpu._GRAPHS.items()]}")
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]) as prof:
    ransac_pnp_torch(s.xyz, s.xy, K, device="cuda", refine_steps=steps, compile=compiled, cuda_graph=not compiled)
    torch.cuda.synchronize()
events = prof.key_averages()
print("kernel launches:", sum(e.count for e in events if e.key.startswith("cudaLaunchKernel")))
print(events.table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=60))
