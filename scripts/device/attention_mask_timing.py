"""ViT-B/14 token grids on CUDA: eager (flash attention) vs padded runs with the padding hidden by
a bool or an additive float key mask (which SDPA back-end each takes), with and without a CUDA
graph. usage: attention_mask_timing.py OUT.json"""
import json
import sys
import time

import torch
import torch.nn.functional as F

from mveq_core.backbones import create_backbone
from mveq_core.provenance import provenance


def timed(fn, n=50):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t) / n * 1000


def main(out):
    torch.manual_seed(0)
    result = {}
    for name in ("dinov2_vitb14", "dinov2_vits14"):
        bb = create_backbone(name, "random").cuda().eval()
        p = bb.patch_size
        gh, gw, GH, GW = 64, 45, 64, 48
        x = torch.rand(1, 3, gh * p, gw * p, device="cuda")
        padded = F.pad(x, (0, (GW - gw) * p, 0, (GH - gh) * p))
        pos, mask = bb.padded_layout((gh, gw), (GH, GW))
        n = mask.shape[-1]
        aligned = torch.zeros(1, 1, 1, (n + 15) // 16 * 16, device="cuda", dtype=torch.bfloat16)
        aligned[..., :n].masked_fill_(~mask, float("-inf"))
        float_mask = aligned[..., :n]
        ac = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731
        rows = {}
        with torch.no_grad():
            def eager():
                with ac():
                    return bb(x)

            def bool_padded():
                with ac():
                    return bb.forward_padded(padded, pos, mask)

            def float_padded():
                with ac():
                    return bb.forward_padded(padded, pos, float_mask)

            def padded_unmasked():
                with ac():
                    return bb(padded)  # padding attended: the cost without any mask

            ref = eager().float()
            for key, fn in (("eager_unpadded", eager), ("padded_bool_mask", bool_padded), ("padded_float_mask", float_padded), ("padded_no_mask", padded_unmasked)):
                rows[key] = {"eager_ms": timed(fn)}
                if key.startswith("padded_") and key != "padded_no_mask":
                    out_t = fn().float()[..., :gh, :gw]
                    rows[key]["max_rel_diff"] = float((out_t - ref).abs().max() / ref.abs().max())
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    fn(); fn()
                torch.cuda.current_stream().wait_stream(s)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    fn()
                rows[key]["graph_ms"] = timed(g.replay)
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
                float_padded(); bool_padded(); eager()
            rows["attention_kernels"] = sorted({e.name[:90] for e in prof.events() if "attention" in e.name.lower() or "fmha" in e.name.lower() or "flash" in e.name.lower()})
        result[name] = rows
        print(name, json.dumps(rows, indent=1))
    result["provenance"] = provenance(torch.device("cuda"), sys.argv)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
