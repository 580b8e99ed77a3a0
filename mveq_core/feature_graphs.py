"""CUDA-graph replay of the ViT for crops of any size: each crop is padded up to a few grid sizes
and the padding hidden from attention, so a handful of captured graphs serve every crop with the
features the eager run gives (issue 11: the eager ViT spends most of its wall time launching a few
hundred kernels, docs/benchmarks.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_GRAPHS = 48  # captured padded sizes per model (15 per input size at 512 px; they share one memory pool); later new sizes run eagerly (graphs are never dropped)
CAPTURE_AFTER = 2  # a padded size is captured when seen this many times
GRID_QUANTUM = 8  # token grids are padded up to multiples of this (a 512 px crop at the 1/8 rule: <= 8 sizes a side)


def padded_grid(grid_hw: tuple[int, int], quantum: int = GRID_QUANTUM) -> tuple[int, int]:
    """(GH, GW): the token grid ``grid_hw`` rounded up to multiples of ``quantum``."""
    return tuple(-(-n // quantum) * quantum for n in grid_hw)


class GraphedGrids:
    """The backbone's token grids by replaying captured CUDA graphs, one per padded grid size.

    ``tokens(x)`` for a ViT input x (B, 3, gh * p, gw * p) pads it to :func:`padded_grid`, runs (or
    replays) :meth:`~mveq_core.backbones.ViTBackbone.forward_padded` with the real grid's position
    embedding and key mask, and returns the real (B, C, gh, gw) tokens. A size is captured on its
    ``CAPTURE_AFTER``-th sighting (two warm-up runs on a side stream, then the capture), or ahead of
    time by :meth:`prepare`, while fewer than ``MAX_GRAPHS`` are held; other sizes run eagerly and
    unpadded (the same tokens, no padding to pay for). Graphs are never
    dropped one by one (destroying one while cuDNN keeps plans made during its capture is not
    safe); :meth:`clear` forgets all (the model's weights or device changed).
    """

    def __init__(self):
        self._graphs: dict[tuple, tuple] = {}
        self._sightings: dict[tuple, int] = {}
        self._pool = None  # one memory pool for every graph: see _capture

    def clear(self) -> None:
        self._graphs.clear()
        self._sightings.clear()
        self._pool = None

    def __len__(self) -> int:
        return len(self._graphs)

    def tokens(self, backbone, x: torch.Tensor, layer: int, autocast) -> torch.Tensor:
        p = backbone.patch_size
        gh, gw = x.shape[-2] // p, x.shape[-1] // p
        GH, GW = padded_grid((gh, gw))
        key = (x.shape[0], x.shape[1], GH * p, GW * p, x.dtype, x.device, layer)
        entry = self._graphs.get(key)
        if entry is None:
            self._sightings[key] = self._sightings.get(key, 0) + 1
            if self._sightings[key] < CAPTURE_AFTER or len(self._graphs) >= MAX_GRAPHS:
                with autocast():  # the same tokens, unpadded
                    return backbone(x, layer=layer)
        padded = F.pad(x, (0, GW * p - x.shape[-1], 0, GH * p - x.shape[-2]))
        if entry is None:
            entry = self._add(key, backbone, padded, (gh, gw), layer, autocast)
        graph, (image, position, mask), output, held = entry
        image.copy_(padded)
        if held != (gh, gw):  # the position layout and mask change only with the real grid
            new_position, new_mask = backbone.padded_layout((gh, gw), (GH, GW))
            position.copy_(new_position)
            mask.copy_(new_mask)
            entry[3] = (gh, gw)
        graph.replay()
        return output[..., :gh, :gw].clone()

    def prepare(self, backbone, grids, batch: int, dtype: torch.dtype, device: torch.device, layer: int, autocast) -> int:
        """Capture now the graphs of token ``grids`` ((gh, gw) each, padded as :func:`padded_grid`)
        not captured yet, while fewer than ``MAX_GRAPHS`` are held, so that no frame waits for a
        capture or runs eagerly; returns how many were captured."""
        p, captured = backbone.patch_size, 0
        for grid in dict.fromkeys(padded_grid(g) for g in grids):
            key = (batch, 3, grid[0] * p, grid[1] * p, dtype, device, layer)
            if key in self._graphs or len(self._graphs) >= MAX_GRAPHS:
                continue
            self._add(key, backbone, torch.zeros(key[:4], dtype=dtype, device=device), grid, layer, autocast)
            captured += 1
        return captured

    def _add(self, key, backbone, padded, grid, layer, autocast) -> list:
        GH, GW = padded.shape[-2] // backbone.patch_size, padded.shape[-1] // backbone.patch_size
        self._graphs[key] = [*self._capture(backbone, padded, backbone.padded_layout(grid, (GH, GW)), layer, autocast), grid]
        return self._graphs[key]

    def _capture(self, backbone, padded, layout, layer, autocast) -> tuple:
        inputs = (padded.clone(), *(t.clone() for t in layout))
        device = padded.device
        stream = torch.cuda.Stream(device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream), autocast():
            for _ in range(2):
                backbone.forward_padded(*inputs, layer)
        torch.cuda.current_stream(device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        # The graphs share one pool (a graph's memory is the largest grid's, not the sum of all):
        # they replay one at a time on one stream, their inputs live outside the pool, every output
        # stays allocated and is copied out right after its replay, so what one replay overwrites
        # in the pool is another's dead intermediate or already-copied output.
        with torch.cuda.graph(graph, pool=self._pool), autocast():
            output = backbone.forward_padded(*inputs, layer)
        self._pool = graph.pool()
        return graph, inputs, output
