"""Descriptor matching: chunked cosine similarity with bounded memory, mutual nearest neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Matches:
    """``query_index`` (M,) and ``database_index`` (M,) int64 of mutual nearest neighbours, with their
    cosine ``similarity`` (M,)."""

    query_index: torch.Tensor
    database_index: torch.Tensor
    similarity: torch.Tensor

    def __len__(self) -> int:
        return int(self.query_index.numel())


METHODS = ("auto", "fused", "blocked")


@torch.no_grad()
def principal_directions(descriptors: torch.Tensor, dims: int) -> torch.Tensor:
    """(C, dims) float32: the leading eigenvectors of the (M, C) descriptors' second-moment matrix,
    not centred, so that dot products of projected descriptors approximate the full ones best."""
    if not 0 < dims <= descriptors.shape[1]:
        raise ValueError(f"dims must be in 1..{descriptors.shape[1]}, got {dims}")
    x = descriptors.float()
    _, vectors = torch.linalg.eigh(x.T @ x / max(len(x), 1))  # ascending eigenvalues
    return vectors[:, -dims:].flip(1).contiguous()


@torch.no_grad()
def mutual_nearest_neighbours(query: torch.Tensor, database: torch.Tensor, max_elements: int = 50_000_000, method: str = "auto") -> Matches:
    """Mutual nearest neighbours by cosine similarity (inputs L2-normalised).

    ``blocked``: one pass over blocks of the similarity matrix gives both each query's best
    database entry (row maxima) and each database entry's best query (running column maxima).
    ``fused``: each query's best entry from a Triton kernel that never writes the similarity
    matrix, then the reverse check against those entries only (:mod:`mveq_core.matching_triton`;
    CUDA only). ``auto``: fused on CUDA, blocked elsewhere.

    Args:
        query: (N, C) descriptors; database: (M, C) descriptors on the same device (the database
            may be fp16; the query is cast to its dtype).
        max_elements: the largest similarity block held at once (rows x columns), which bounds
            memory: 50M fp16 entries are 100 MB (blocked method).
    """
    if method not in METHODS:
        raise ValueError(f"matching method must be one of {METHODS}, got {method!r}")
    if query.shape[-1] != database.shape[-1]:
        raise ValueError(f"descriptor sizes differ: query {query.shape[-1]}, database {database.shape[-1]}")
    device = database.device
    query = query.to(device=device, dtype=database.dtype)
    n, m = query.shape[0], database.shape[0]
    if n == 0 or m == 0:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return Matches(empty, empty, torch.zeros(0, device=device))
    from . import matching_triton

    if method == "fused" and not matching_triton.available(device):
        raise RuntimeError(f"matching method 'fused' needs CUDA and triton (or TRITON_INTERPRET=1), not {device}")
    if method == "fused" or (method == "auto" and device.type == "cuda" and matching_triton.available(device)):
        return Matches(*matching_triton.mutual_pairs(query, database))
    rows = max(1, max_elements // m)
    row_index = torch.empty(n, dtype=torch.long, device=device)
    row_value = torch.empty(n, dtype=torch.float32, device=device)
    col_value = torch.full((m,), -float("inf"), dtype=torch.float32, device=device)
    col_index = torch.zeros(m, dtype=torch.long, device=device)
    for start in range(0, n, rows):
        sim = query[start : start + rows] @ database.T  # (r, M)
        v, i = sim.max(dim=1)
        row_index[start : start + rows], row_value[start : start + rows] = i, v.float()
        cv, ci = sim.max(dim=0)
        better = cv.float() > col_value
        col_value = torch.where(better, cv.float(), col_value)
        col_index = torch.where(better, ci + start, col_index)
    mutual = col_index[row_index] == torch.arange(n, device=device)
    q = torch.nonzero(mutual, as_tuple=False)[:, 0]
    return Matches(q, row_index[q], row_value[q])
