import pytest
import timm
import torch
from safetensors.torch import save_file

from mveq_core.backbones import BACKBONES, BackboneWeightsError, create_backbone


def test_every_short_name_maps_to_a_timm_pretrained_tag():
    pretrained = set(timm.list_pretrained())
    expected = {
        "dinov2_vits14", "dinov2_vitb14", "dinov2_vitl14", "dinov2_vitg14",
        "dinov2_vits14_reg", "dinov2_vitb14_reg", "dinov2_vitl14_reg", "dinov2_vitg14_reg",
        "mae_vitb16", "clip_vitb16", "deit3_vitb16",
    }
    assert expected <= set(BACKBONES)
    for name in expected:
        assert BACKBONES[name].timm_id in pretrained, name
    assert BACKBONES["dinov2_vitb14_reg"].timm_id == "vit_base_patch14_reg4_dinov2.lvd142m"


def test_offline_without_file_names_both_ways(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneWeightsError) as info:
        create_backbone("dinov2_vits14", "pretrained")
    message = str(info.value)
    assert "--weights FILE" in message and "Hugging Face" in message and "dinov2_vits14" in message


def test_forward_any_size_drops_prefix_tokens_and_matches_timm_at_native_size():
    backbone = create_backbone("tiny_vit14", "random")
    image = torch.rand(1, 3, 224, 224)
    ours = backbone(image)
    assert ours.shape == (1, 48, 16, 16)
    reference = backbone.vit.forward_features((image - backbone.mean) / backbone.std)[:, backbone.num_prefix_tokens :]
    torch.testing.assert_close(ours.flatten(2).transpose(1, 2), reference, atol=1e-5, rtol=0)
    odd = backbone(torch.rand(2, 3, 14 * 7, 14 * 13))
    assert odd.shape == (2, 48, 7, 13)
    strided = backbone(torch.rand(1, 3, 112, 112), patch_stride=7)
    assert strided.shape == (1, 48, 15, 15)
    intermediate = backbone(image, layer=1)
    assert intermediate.shape == ours.shape and not torch.allclose(intermediate, ours)


def test_registers_variant_drops_cls_and_registers():
    import timm as _timm

    vit = _timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, embed_dim=48, depth=2, num_heads=3, img_size=112, dynamic_img_size=True)
    from mveq_core.backbones import BACKBONES, ViTBackbone

    backbone = ViTBackbone(BACKBONES["dinov2_vits14_reg"], vit, "random").eval()
    assert backbone.num_prefix_tokens == 5
    image = torch.rand(1, 3, 112, 112)
    reference = vit.forward_features((image - backbone.mean) / backbone.std)[:, 5:]
    torch.testing.assert_close(backbone(image).flatten(2).transpose(1, 2), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_local_weights_file_loads_exactly(tmp_path, suffix):
    source = create_backbone("tiny_vit14", "random")
    with torch.no_grad():
        for p in source.vit.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {k: v.contiguous() for k, v in source.vit.state_dict().items()}
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    loaded = create_backbone("tiny_vit14", path)
    image = torch.rand(1, 3, 112, 112)
    torch.testing.assert_close(loaded(image), source(image))
    assert loaded.weights_id.startswith("file:weights")


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        create_backbone("tiny_vit14", tmp_path / "nope.safetensors")


@pytest.mark.parametrize("grid_hw", [(64, 45), (20, 64), (1, 7), (80, 30)])
def test_position_embedding_resize_is_torch_bicubic(grid_hw):
    """The separable-matmul resize of the position embedding gives F.interpolate's bicubic values
    (align_corners False, no antialiasing, as DINOv2), up- and downsizing, borders included."""
    import torch.nn.functional as F

    backbone = create_backbone("tiny_vit14", "random")
    pos = backbone.vit.pos_embed
    old = int((pos.shape[1] - backbone.num_prefix_tokens) ** 0.5)
    patch = pos[:, backbone.num_prefix_tokens :].reshape(1, old, old, -1).permute(0, 3, 1, 2).float()
    reference = F.interpolate(patch, size=grid_hw, mode="bicubic", align_corners=False, antialias=False).permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])
    resized = backbone._resized_position_embedding(grid_hw)
    assert resized.shape == (1, backbone.num_prefix_tokens + grid_hw[0] * grid_hw[1], pos.shape[-1])
    assert torch.allclose(resized[:, backbone.num_prefix_tokens :], reference, atol=1e-6)
    assert torch.equal(resized[:, : backbone.num_prefix_tokens], pos[:, : backbone.num_prefix_tokens])
