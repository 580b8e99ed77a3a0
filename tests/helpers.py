"""Test helpers: geometry-exact stand-in features and coordinate-coloured meshes."""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import trimesh

from mveq_core.backbones import create_backbone
from mveq_core.features import DenseFeatures

# ../shared/realdata (its README): the real development frames, present in CI
REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"


def coordinate_coloured(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """A copy of ``mesh`` whose vertex colours encode object coordinates: rgb = (xyz - lo) / extent.

    Rendered without lighting, each pixel's colour is its 3D point (to 8-bit precision).
    Returns the mesh, ``lo`` (3,) and ``extent``.
    """
    geometry = trimesh.Trimesh(vertices=mesh.vertices.copy(), faces=mesh.faces.copy(), process=False)
    lo, hi = geometry.bounds
    extent = float((hi - lo).max())
    colours = np.clip(np.round((geometry.vertices - lo) / extent * 255), 0, 255).astype(np.uint8)
    geometry.visual = trimesh.visual.ColorVisuals(geometry, vertex_colors=np.c_[colours, np.full(len(colours), 255, np.uint8)])
    return geometry, lo, extent


class CoordinateFeatures(DenseFeatures):
    """Geometry-exact features: random Fourier features of the object coordinate a pixel's colour
    encodes (background black -> zero feature). Cosine similarity peaks at the same 3D point."""

    def __init__(self, dim: int = 256, frequency: float = 120.0, seed: int = 0):
        super().__init__(create_backbone("tiny_vit14", "random"))
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("W", torch.randn(3, dim // 2, generator=g) * frequency)
        self._dim = dim

    @property
    def dim(self) -> int:
        return self._dim

    def identity(self) -> str:
        return "coordinate-features"

    def describe(self) -> str:
        return "geometry-exact coordinate features (test stand-in)"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        proj = torch.einsum("bchw,cd->bdhw", images.float(), self.W.to(images.device))
        feats = torch.cat([proj.cos(), proj.sin()], dim=1)
        foreground = (images.amax(dim=1, keepdim=True) > 0.02).float()
        return F.normalize(feats, dim=1) * foreground
