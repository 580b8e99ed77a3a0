"""The finetuning adapter: LoRA (peft) on attention projections plus a conv refine head; its file format.

An adapter directory holds ``adapter.safetensors`` (LoRA and head tensors) and ``adapter.json``
(backbone, LoRA config, conv layers, the resolution rule it was trained with, format version).
The paper's released Lightning checkpoints (3DCorrEnhance) are imported without running pickle code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .backbones import ViTBackbone
from .io import MveqError, atomic_path, read_json, write_json_atomic

log = logging.getLogger(__name__)

ADAPTER_FORMAT_VERSION = 1
ADAPTER_WEIGHTS = "adapter.safetensors"
ADAPTER_META = "adapter.json"
LORA_TARGETS = ("q", "k", "v", "proj", "fc1", "fc2")


@dataclass(frozen=True)
class ResolutionRule:
    """How big the ViT input is for an image of H x W pixels.

    The image is first scaled so its longer side is ``long_side`` (None: keep its size); the patch
    grid is then (round(H / grid_divisor), round(W / grid_divisor)) and the ViT runs at
    grid x patch-size pixels. The paper uses ``grid_divisor=8``: a 640 px image runs at 1120 px with
    /14 patches. Its training additionally scales renders to a 640 px long side.
    """

    grid_divisor: float = 8.0
    long_side: int | None = None

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        scale = 1.0 if self.long_side is None else self.long_side / max(height, width)
        gh = max(1, int(round(height * scale / self.grid_divisor)))
        gw = max(1, int(round(width * scale / self.grid_divisor)))
        return gh, gw


@dataclass(frozen=True)
class AdapterConfig:
    """LoRA + conv head. Defaults are the paper's: rank 4 on q and v of the last 4 blocks, one 3x3 conv.

    ``alpha`` None means alpha = rank, i.e. LoRA scaling 1 as in the official code. ``blocks`` are
    block indices (negative counts from the end). ``conv_init`` is ``"default"`` (PyTorch's init, as
    the official code) or ``"identity"`` (the head starts as the identity map).
    """

    rank: int = 4
    alpha: float | None = None
    blocks: tuple[int, ...] = (-4, -3, -2, -1)
    targets: tuple[str, ...] = ("q", "v")
    conv_layers: int = 1
    conv_init: str = "default"

    def __post_init__(self):
        bad = [t for t in self.targets if t not in LORA_TARGETS]
        if bad:
            raise ValueError(f"unknown LoRA targets {bad}; choose from {LORA_TARGETS}")
        if not 0 <= self.conv_layers <= 3:
            raise ValueError(f"conv_layers must be 0..3, got {self.conv_layers}")
        if self.rank < 0:
            raise ValueError(f"LoRA rank must be >= 0, got {self.rank}")
        if self.conv_init not in ("default", "identity"):
            raise ValueError(f"conv_init must be 'default' or 'identity', got {self.conv_init!r}")

    @property
    def has_lora(self) -> bool:
        return self.rank > 0 and bool(self.blocks) and bool(self.targets)


NO_ADAPTER = AdapterConfig(rank=0, blocks=(), targets=(), conv_layers=0)


class SplitQKV(nn.Module):
    """timm's fused qkv Linear as three Linears, so LoRA can target q, k and v separately.

    Its output equals the fused layer's: the concatenation [q(x), k(x), v(x)].
    """

    def __init__(self, fused: nn.Linear):
        super().__init__()
        dim = fused.out_features // 3
        has_bias = fused.bias is not None
        self.q, self.k, self.v = (nn.Linear(fused.in_features, dim, bias=has_bias) for _ in range(3))
        with torch.no_grad():
            for i, lin in enumerate((self.q, self.k, self.v)):
                lin.weight.copy_(fused.weight[i * dim : (i + 1) * dim])
                if has_bias:
                    lin.bias.copy_(fused.bias[i * dim : (i + 1) * dim])
        self.to(fused.weight.device, fused.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.q(x), self.k(x), self.v(x)], dim=-1)


class RefineHead(nn.Module):
    """0-3 3x3 stride-1 convs on the patch grid (ReLU between layers), C -> C channels."""

    def __init__(self, dim: int, layers: int, init: str = "default"):
        super().__init__()
        convs: list[nn.Module] = []
        for i in range(layers):
            conv = nn.Conv2d(dim, dim, kernel_size=3, stride=1, padding=1)
            if init == "identity":
                with torch.no_grad():
                    conv.weight.zero_()
                    conv.weight[:, :, 1, 1].copy_(torch.eye(dim))
                    conv.bias.zero_()
            convs.append(conv)
            if i < layers - 1:
                convs.append(nn.ReLU())
        self.layers = nn.Sequential(*convs)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        return self.layers(grid)


def resolve_blocks(blocks: tuple[int, ...], depth: int) -> list[int]:
    resolved = sorted({b % depth for b in blocks})
    if any(not -depth <= b < depth for b in blocks):
        raise ValueError(f"LoRA blocks {blocks} out of range for a {depth}-block backbone")
    return resolved


def used_depth(backbone: ViTBackbone, layer: int) -> int:
    """Number of blocks a forward pass to ``layer`` runs (LoRA block indices count within them)."""
    return layer % backbone.depth + 1


def _lora_module_names(backbone: ViTBackbone, config: AdapterConfig, layer: int) -> list[str]:
    names = []
    for b in resolve_blocks(config.blocks, used_depth(backbone, layer)):
        for t in config.targets:
            if t in ("q", "k", "v"):
                names.append(f"blocks.{b}.attn.qkv.{t}")
            elif t == "proj":
                names.append(f"blocks.{b}.attn.proj")
            else:
                names.append(f"blocks.{b}.mlp.{t}")
    return names


def apply_lora(backbone: ViTBackbone, config: AdapterConfig, layer: int = -1) -> None:
    """Inject LoRA layers (peft) into the backbone in place; only they are trainable.

    Block indices count within the blocks that run up to ``layer``: the default (-4..-1) means the
    last 4 blocks before the features are taken.
    """
    if not config.has_lora:
        return
    from peft import LoraConfig, inject_adapter_in_model

    for b in resolve_blocks(config.blocks, used_depth(backbone, layer)):
        attn = backbone.vit.blocks[b].attn
        if any(t in ("q", "k", "v") for t in config.targets) and not isinstance(attn.qkv, SplitQKV):
            attn.qkv = SplitQKV(attn.qkv)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha if config.alpha is not None else config.rank,
        lora_dropout=0.0,
        bias="none",
        target_modules=_lora_module_names(backbone, config, layer),
    )
    inject_adapter_in_model(lora, backbone.vit)


def lora_state_dict(backbone: ViTBackbone) -> dict[str, torch.Tensor]:
    """The LoRA tensors of a backbone, keyed by module path (``blocks.8.attn.qkv.q.lora_A.weight``)."""
    return {
        k.replace(".default", ""): v.detach()
        for k, v in backbone.vit.state_dict().items()
        if "lora_A" in k or "lora_B" in k
    }


def load_lora_state_dict(backbone: ViTBackbone, tensors: dict[str, torch.Tensor]) -> None:
    own = {k.replace(".default", ""): k for k in backbone.vit.state_dict() if "lora_A" in k or "lora_B" in k}
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise MveqError(f"adapter LoRA tensors do not match the model: missing {missing[:4]}, unexpected {unexpected[:4]}")
    params = dict(backbone.vit.named_parameters())
    with torch.no_grad():
        for short, full in own.items():
            target = params[full]
            if target.shape != tensors[short].shape:
                raise MveqError(f"adapter tensor {short}: shape {tuple(tensors[short].shape)} != model {tuple(target.shape)}")
            target.copy_(tensors[short])


@dataclass
class AdapterFile:
    """What an adapter directory holds, before it is applied to a model."""

    backbone: str
    config: AdapterConfig
    resolution: ResolutionRule
    tensors: dict[str, torch.Tensor]
    layer: int = -1
    extra: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Short hash of the adapter's tensors and config: identifies it inside databases."""
        h = hashlib.sha256()
        h.update(json.dumps(_config_json(self.config), sort_keys=True).encode())
        for k in sorted(self.tensors):
            h.update(k.encode())
            h.update(self.tensors[k].detach().cpu().float().numpy().tobytes())
        return h.hexdigest()[:16]


def _config_json(config: AdapterConfig) -> dict[str, Any]:
    d = asdict(config)
    d["blocks"] = list(config.blocks)
    d["targets"] = list(config.targets)
    return d


def save_adapter(directory: str | os.PathLike, adapter: AdapterFile) -> Path:
    """Write ``adapter.safetensors`` + ``adapter.json`` into ``directory`` (each atomically)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in adapter.tensors.items()}
    with atomic_path(directory / ADAPTER_WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    meta = {
        "format_version": ADAPTER_FORMAT_VERSION,
        "backbone": adapter.backbone,
        "lora": {k: v for k, v in _config_json(adapter.config).items() if k not in ("conv_layers", "conv_init")},
        "conv_layers": adapter.config.conv_layers,
        "conv_init": adapter.config.conv_init,
        "resolution": asdict(adapter.resolution),
        "layer": adapter.layer,
        "fingerprint": adapter.fingerprint(),
        **adapter.extra,
    }
    write_json_atomic(directory / ADAPTER_META, meta)
    return directory


def load_adapter(directory: str | os.PathLike) -> AdapterFile:
    """Read an adapter directory written by :func:`save_adapter`."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(directory)
    if directory.is_file() and directory.name in (ADAPTER_META, ADAPTER_WEIGHTS):
        directory = directory.parent
    meta_path, weights_path = directory / ADAPTER_META, directory / ADAPTER_WEIGHTS
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: adapter directory not found")
    meta = read_json(meta_path)
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: adapter weights not found")
    version = meta.get("format_version")
    if version != ADAPTER_FORMAT_VERSION:
        raise MveqError(f"{meta_path}: format_version {version!r} is not supported (expected {ADAPTER_FORMAT_VERSION})")
    try:
        lora = meta["lora"]
        config = AdapterConfig(
            rank=int(lora["rank"]),
            alpha=lora.get("alpha"),
            blocks=tuple(int(b) for b in lora["blocks"]),
            targets=tuple(lora["targets"]),
            conv_layers=int(meta["conv_layers"]),
            conv_init=meta.get("conv_init", "default"),
        )
        resolution = ResolutionRule(**meta["resolution"])
        backbone = meta["backbone"]
    except (KeyError, TypeError, ValueError) as exc:
        raise MveqError(f"{meta_path}: missing or invalid field ({exc})") from None
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError) as exc:
        raise MveqError(f"{weights_path}: not a readable safetensors file ({exc})") from None
    known = {"format_version", "backbone", "lora", "conv_layers", "conv_init", "resolution", "layer", "fingerprint"}
    adapter = AdapterFile(backbone, config, resolution, tensors, int(meta.get("layer", -1)), {k: v for k, v in meta.items() if k not in known})
    if meta.get("fingerprint") and adapter.fingerprint() != meta["fingerprint"]:
        raise MveqError(f"{weights_path}: adapter tensors do not match the fingerprint in {ADAPTER_META} (the file is corrupted or was replaced)")
    return adapter


# ----------------------------------------------------------------------------------------------
# The paper's released checkpoints (3DCorrEnhance, PyTorch Lightning .ckpt)

OFFICIAL_BACKBONES = {
    "small": "dinov2_vits14",
    "base": "dinov2_vitb14",
    "large": "dinov2_vitl14",
    "giant": "dinov2_vitg14",
}
OFFICIAL_DEPTH = {"dinov2_vits14": 12, "dinov2_vitb14": 12, "dinov2_vitl14": 24, "dinov2_vitg14": 40}


class _Placeholder:
    """Stands in for any class a checkpoint names that is not a plain tensor container."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _load_checkpoint_without_code(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)``; classes outside its allow-list become inert placeholders.

    Lightning checkpoints may name classes (callbacks, hyper-parameter containers) that the
    weights-only unpickler refuses; mapping each to :class:`_Placeholder` keeps the refusal to run
    code while still reading the tensors we need.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as first:
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
        except Exception:
            raise MveqError(f"{path}: not a PyTorch checkpoint ({type(first).__name__}: {str(first).splitlines()[0]})") from None
        if not unsafe:
            raise MveqError(f"{path}: could not be read ({type(first).__name__}: {str(first).splitlines()[0]})") from None
        log.info("%s: reading with %d classes replaced by placeholders: %s", path, len(unsafe), unsafe)
        with torch.serialization.safe_globals([(_Placeholder, name) for name in unsafe]):
            return torch.load(path, map_location="cpu", weights_only=True)


def import_official_checkpoint(path: str | os.PathLike, backbone: str = "dinov2_vitb14") -> AdapterFile:
    """Convert a 3DCorrEnhance Lightning ``.ckpt`` to an :class:`AdapterFile`.

    The checkpoint holds ``w_a_000``.. / ``w_b_000``.. (LoRA A (r, C) and B (C, r)) for q then v of
    each of the last 4 blocks, in block order, and ``state_dict['refine_conv']`` (one 3x3 conv).
    The official LoRA has no scaling (alpha = rank).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    ckpt = _load_checkpoint_without_code(path)
    if not isinstance(ckpt, dict):
        raise MveqError(f"{path}: expected a checkpoint dict, got {type(ckpt).__name__}")
    a_keys = sorted(k for k in ckpt if isinstance(k, str) and k.startswith("w_a_"))
    b_keys = sorted(k for k in ckpt if isinstance(k, str) and k.startswith("w_b_"))
    if not a_keys or len(a_keys) != len(b_keys) or len(a_keys) % 2:
        raise MveqError(f"{path}: expected paired w_a_###/w_b_### LoRA tensors for q and v, found {len(a_keys)} A and {len(b_keys)} B")
    try:
        conv = ckpt["state_dict"]["refine_conv"]
        conv_w, conv_b = conv["weight"], conv["bias"]
    except (KeyError, TypeError):
        raise MveqError(f"{path}: missing state_dict['refine_conv'] weight/bias") from None
    depth = OFFICIAL_DEPTH.get(backbone)
    if depth is None:
        raise ValueError(f"official checkpoints exist for {sorted(OFFICIAL_DEPTH)}, not {backbone!r}")
    n_blocks = len(a_keys) // 2
    first_block = depth - n_blocks
    rank = int(ckpt[a_keys[0]].shape[0])
    tensors: dict[str, torch.Tensor] = {}
    for i, (ka, kb) in enumerate(zip(a_keys, b_keys)):
        block = first_block + i // 2
        target = "q" if i % 2 == 0 else "v"
        tensors[f"blocks.{block}.attn.qkv.{target}.lora_A.weight"] = ckpt[ka].detach().float().clone()
        tensors[f"blocks.{block}.attn.qkv.{target}.lora_B.weight"] = ckpt[kb].detach().float().clone()
    tensors["refine.layers.0.weight"] = conv_w.detach().float().clone()
    tensors["refine.layers.0.bias"] = conv_b.detach().float().clone()
    config = AdapterConfig(rank=rank, alpha=None, blocks=tuple(range(-n_blocks, 0)), targets=("q", "v"), conv_layers=1)
    return AdapterFile(
        backbone=backbone,
        config=config,
        resolution=ResolutionRule(grid_divisor=8.0, long_side=640),
        tensors=tensors,
        extra={"source": f"3DCorrEnhance checkpoint {path.name}"},
    )
