import pathlib
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F

from mveq_core.adapter import (
    AdapterConfig,
    ResolutionRule,
    import_official_checkpoint,
    load_adapter,
    save_adapter,
)
from mveq_core.backbones import create_backbone
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.io import MveqError


def _perturb_adapter(features, scale=0.05):
    with torch.no_grad():
        for p in features.trainable_parameters():
            p.add_(scale * torch.randn_like(p))


def test_lora_starts_as_identity_and_only_adapter_trains():
    raw = DenseFeatures(create_backbone("tiny_vit14", "random"))
    lora = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig(conv_layers=0))
    image = torch.rand(1, 3, 112, 112)
    torch.testing.assert_close(lora(image), raw(image), atol=1e-5, rtol=0)  # B = 0 at init, split qkv exact
    full = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig())
    params = full.trainable_parameters()
    C = 48
    assert sum(p.numel() for p in params) == 4 * 2 * (4 * C + C * 4) + 9 * C * C + C
    assert sum(p.numel() for p in full.parameters() if p.requires_grad) == sum(p.numel() for p in params)


def test_configurable_rank_blocks_targets_and_conv_layers():
    f = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig(rank=2, blocks=(0, -1), targets=("q", "k", "v", "fc1"), conv_layers=3))
    names = [n for n, p in f.named_parameters() if p.requires_grad or "lora_" in n]
    assert any("blocks.0.attn.qkv.k.lora_A" in n for n in names)
    assert any("blocks.3.mlp.fc1.lora_B" in n for n in names)
    assert not any("blocks.1." in n for n in names)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in f.refine.modules()) == 3
    with pytest.raises(ValueError, match="conv_layers"):
        AdapterConfig(conv_layers=4)
    with pytest.raises(ValueError, match="targets"):
        AdapterConfig(targets=("qq",))


def test_save_load_reproduces_features_exactly(tmp_path):
    torch.manual_seed(0)
    trained = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig(conv_layers=2), ResolutionRule(8, 320))
    _perturb_adapter(trained)
    save_adapter(tmp_path / "ad", trained.adapter_file({"note": "test"}))
    assert load_adapter(tmp_path / "ad").resolution == ResolutionRule(8, 320)  # recorded with the adapter
    default = DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random", adapter=str(tmp_path / "ad")))
    assert default.resolution == ResolutionRule()  # inference uses the paper's evaluation rule by default
    loaded = DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random", adapter=str(tmp_path / "ad"), resolution=ResolutionRule(8, 320)))
    image = torch.rand(2, 3, 96, 128)
    assert torch.equal(loaded(image), trained(image))
    assert loaded.identity() == trained.identity()
    assert load_adapter(tmp_path / "ad").extra["note"] == "test"


def test_adapter_for_another_backbone_is_refused(tmp_path):
    trained = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig())
    save_adapter(tmp_path / "ad", trained.adapter_file())
    with pytest.raises(ValueError, match="tiny_vit14"):
        DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="random", adapter=str(tmp_path / "ad")))


def test_corrupted_adapter_is_a_clear_error(tmp_path):
    trained = DenseFeatures(create_backbone("tiny_vit14", "random"), AdapterConfig())
    save_adapter(tmp_path / "ad", trained.adapter_file())
    (tmp_path / "ad" / "adapter.safetensors").write_bytes(b"garbage")
    with pytest.raises(MveqError, match="adapter.safetensors"):
        load_adapter(tmp_path / "ad")


def _official_checkpoint(path, dim, rank=4, blocks=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    ckpt = {
        "epoch": 99,
        "global_step": 10000,
        "pytorch-lightning_version": "2.1.0",
        "state_dict": {"refine_conv": OrderedDict(weight=0.02 * torch.randn(dim, dim, 3, 3, generator=g), bias=0.01 * torch.randn(dim, generator=g))},
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-5, "weight_decay": 1e-4, "params": [0, 1]}]}],
        "lr_schedulers": [],
        # Lightning stores callback state; a non-tensor class here must not be executed.
        "callbacks": {"ModelCheckpoint{'monitor': None}": {"dirpath": pathlib.PurePosixPath("/tmp/ckpts"), "best_model_score": None}},
    }
    for i in range(2 * blocks):
        ckpt[f"w_a_{i:03d}"] = torch.nn.Parameter(0.1 * torch.randn(rank, dim, generator=g))
        ckpt[f"w_b_{i:03d}"] = torch.nn.Parameter(0.1 * torch.randn(dim, rank, generator=g))
    torch.save(ckpt, path)
    return ckpt


def test_official_checkpoint_import_matches_hand_computed_lora(tmp_path):
    path = tmp_path / "dinov2_small.ckpt"
    ckpt = _official_checkpoint(path, dim=384)
    adapter = import_official_checkpoint(path, "dinov2_vits14")
    assert adapter.config == AdapterConfig(rank=4, blocks=(-4, -3, -2, -1), targets=("q", "v"), conv_layers=1)
    save_adapter(tmp_path / "imported", adapter)
    features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="random", adapter=str(tmp_path / "imported"), resolution=ResolutionRule()))

    # Hand-computed reference: merge B @ A into the fused qkv weights of the last 4 blocks of the
    # raw backbone (q rows first, v rows last), then apply the 3x3 conv.
    reference = create_backbone("dinov2_vits14", "random")
    C = 384
    with torch.no_grad():
        for i in range(8):
            block = reference.vit.blocks[8 + i // 2]
            rows = slice(0, C) if i % 2 == 0 else slice(2 * C, 3 * C)
            block.attn.qkv.weight[rows] += ckpt[f"w_b_{i:03d}"] @ ckpt[f"w_a_{i:03d}"]
    image = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        gh, gw = ResolutionRule().grid_size(64, 80)
        tokens = reference(F.interpolate(image, size=(gh * 14, gw * 14), mode="bilinear", align_corners=False, antialias=True))
        conv = ckpt["state_dict"]["refine_conv"]
        expected = F.conv2d(tokens, conv["weight"], conv["bias"], padding=1)
        got = features(image)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_official_checkpoint_with_wrong_layout_is_refused(tmp_path):
    path = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(MveqError, match="w_a_"):
        import_official_checkpoint(path, "dinov2_vitb14")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(MveqError, match="junk.ckpt"):
        import_official_checkpoint(tmp_path / "junk.ckpt", "dinov2_vitb14")
