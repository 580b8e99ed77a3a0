"""The fused (Triton) mutual-nearest-neighbour path, run on the CPU under Triton's interpreter in a
subprocess (the interpreter must be chosen before triton is imported): the same pairs as the
blocked matrix product, with the database split between programs or not."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import os
os.environ["TRITON_INTERPRET"] = "1"
import torch
from mveq_core import matching_triton
from mveq_core.matching import mutual_nearest_neighbours

torch.manual_seed(0)
q = torch.nn.functional.normalize(torch.randn(150, 80), dim=1)
d = torch.nn.functional.normalize(torch.randn(700, 80), dim=1)
d[:100] = torch.nn.functional.normalize(q[:100] + 0.1 * torch.randn(100, 80), dim=1)
d[600:] = d[:100]  # duplicated entries: ties between database rows
blocked = mutual_nearest_neighbours(q, d, method="blocked")
fused = mutual_nearest_neighbours(q, d, method="fused")
assert torch.equal(fused.query_index, blocked.query_index) and torch.equal(fused.database_index, blocked.database_index), (len(fused), len(blocked))
assert torch.allclose(fused.similarity, blocked.similarity, atol=1e-5)
for splits in (1, 3, 7):
    idx, val = matching_triton.row_best(q, d, splits=splits)
    best = (q @ d.T).max(dim=1)
    assert torch.equal(idx, best.indices), splits
    assert torch.allclose(val, best.values, atol=1e-5)
assert len(blocked) >= 90
print("ok", len(fused))
"""


def test_fused_matching_equals_the_blocked_product_under_the_interpreter():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-3000:]


def test_fused_matching_refuses_a_cpu_without_the_interpreter():
    import torch

    from mveq_core.matching import mutual_nearest_neighbours

    q = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    with pytest.raises(RuntimeError, match="needs CUDA and triton"):
        mutual_nearest_neighbours(q, q, method="fused")
    with pytest.raises(ValueError, match="auto, fused or blocked|must be one of"):
        mutual_nearest_neighbours(q, q, method="fast")
