"""Mutual nearest neighbours on the GPU without the query x database similarity matrix.

A Triton kernel gives each query its best database entry: each program takes a block of query
rows and walks over the whole database in tiles, computing a tile of dot products on the tensor
cores and keeping its rows' running best (value, index) in registers; nothing of size queries x
database is written to memory, which is what bounds the blocked matrix product of
:func:`mveq_core.matching.mutual_nearest_neighbours` (measured in docs/benchmarks.md). A pair
(i, j) can only be mutual when j is query i's best entry, so the reverse check needs only those
entries: the same kernel with the roles swapped (each query's chosen entry against all queries,
N x N) gives each chosen entry's best query. Exact; no host synchronisation.

Ties: the first index of a maximum wins both ways, like the blocked product. On the CPU the
kernel runs under Triton's interpreter (tests only).
"""

from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with the CUDA wheels of torch
    triton = None

def available(device: torch.device) -> bool:
    """The fused kernel can run for tensors on ``device``: CUDA with Triton, or the CPU under
    Triton's interpreter (``TRITON_INTERPRET=1`` set before triton was imported)."""
    import os

    return triton is not None and (device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1")


if triton is not None:

    @triton.jit
    def _row_best_kernel(Q, D, row_val, row_idx, N, M, C, CHUNK, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
        pid = tl.program_id(0)
        split = tl.program_id(1)  # this program's share of the database: [split * CHUNK, ...)
        rows = pid * BM + tl.arange(0, BM)
        row_ok = rows < N
        best_v = tl.full((BM,), float("-inf"), tl.float32)
        best_i = tl.zeros((BM,), tl.int32)
        first = split * CHUNK
        for start in range(first, tl.minimum(first + CHUNK, M), BN):
            cols = start + tl.arange(0, BN)
            col_ok = cols < M
            acc = tl.zeros((BM, BN), tl.float32)
            for k in range(0, C, BK):
                ks = k + tl.arange(0, BK)
                k_ok = ks < C
                q = tl.load(Q + rows[:, None] * C + ks[None, :], mask=row_ok[:, None] & k_ok[None, :], other=0.0)
                d = tl.load(D + cols[None, :] * C + ks[:, None], mask=col_ok[None, :] & k_ok[:, None], other=0.0)
                acc = tl.dot(q, d, acc)
            acc = tl.where(col_ok[None, :], acc, float("-inf"))
            v = tl.max(acc, axis=1)
            i = tl.argmax(acc, axis=1).to(tl.int32) + start
            better = v > best_v
            best_v = tl.where(better, v, best_v)
            best_i = tl.where(better, i, best_i)
        tl.store(row_val + split * N + rows, best_v, mask=row_ok)
        tl.store(row_idx + split * N + rows, best_i, mask=row_ok)


# (BM, BN, BK, warps, stages): the fastest of a sweep on the H200 (scripts/device/profile_stages.py)
TILES = (128, 256, 32, 8, 4)


def row_best(query: torch.Tensor, database: torch.Tensor, tiles: tuple[int, int, int, int, int] | None = None, splits: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(index (N,) int64, value (N,) float32): each query's best database entry by dot product, for
    (N, C) and (M, C) descriptors of one dtype (fp16/bf16 on CUDA; fp32 under the interpreter).
    ``splits``: programs per row block, each over a share of the database (default: enough to
    give every streaming multiprocessor two programs)."""
    if triton is None:  # pragma: no cover
        raise RuntimeError("the fused matching kernel needs triton")
    query, database = query.contiguous(), database.contiguous()
    n, m = query.shape[0], database.shape[0]
    bm, bn, bk, warps, stages = tiles or TILES
    if query.device.type != "cuda":  # the interpreter: small tiles keep it quick
        bm, bn, bk = 32, 32, 32
    # too few row blocks to fill the GPU: split the database between programs too (each keeps its
    # share's best; the shares' bests are merged below, the first share winning ties)
    row_blocks = triton.cdiv(n, bm)
    sms = torch.cuda.get_device_properties(query.device).multi_processor_count if query.is_cuda else 1
    wanted = splits or min(16, round(2 * sms / row_blocks))
    splits = max(1, min(wanted, triton.cdiv(m, bn)))
    chunk = triton.cdiv(triton.cdiv(m, splits), bn) * bn
    splits = triton.cdiv(m, chunk)
    row_val = torch.empty(splits, n, dtype=torch.float32, device=query.device)
    row_idx = torch.empty(splits, n, dtype=torch.int32, device=query.device)
    _row_best_kernel[(row_blocks, splits)](query, database, row_val, row_idx, n, m, query.shape[1], chunk, BM=bm, BN=bn, BK=bk, num_warps=warps, num_stages=stages)
    value, share = row_val.max(dim=0)
    return row_idx.gather(0, share[None])[0].long(), value


def mutual_pairs(query: torch.Tensor, database: torch.Tensor, tiles=None, splits: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(query_index, database_index, similarity) of the mutual nearest neighbours."""
    row_idx, row_val = row_best(query, database, tiles, splits)
    chosen = database[row_idx]  # (N, C): each query's best entry
    col_idx, _ = row_best(chosen, query, tiles)  # each chosen entry's best query, by the same kernel
    n = len(query)
    q = torch.nonzero(col_idx == torch.arange(n, device=query.device), as_tuple=False)[:, 0]
    return q, row_idx[q], row_val[q]
