import pytest
import torch
import torch.nn.functional as F

from mveq_core.adapter import ResolutionRule
from mveq_core.backbones import create_backbone
from mveq_core.features import DenseFeatures, FeatureConfig

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_paper_resolution_rule():
    rule = ResolutionRule()  # grid = image / 8
    assert rule.grid_size(480, 640) == (60, 80)  # a 640 px image runs a /14 ViT at 1120 px
    assert rule.grid_size(512, 512) == (64, 64)
    training = ResolutionRule(grid_divisor=8, long_side=640)
    assert training.grid_size(512, 512) == (80, 80)
    assert training.grid_size(300, 600) == (40, 80)


def test_vit_runs_at_grid_times_patch(tiny_features):
    seen = {}

    def record(module, args):
        seen["hw"] = tuple(args[0].shape[-2:])

    handle = tiny_features.backbone.register_forward_pre_hook(record)
    try:
        grid = tiny_features(torch.rand(1, 3, 120, 160))
    finally:
        handle.remove()
    assert tuple(seen["hw"]) == (15 * 14, 20 * 14)
    assert grid.shape == (1, 48, 15, 20)


def test_any_aspect_ratio_and_batch(tiny_features):
    grid = tiny_features(torch.rand(3, 3, 57, 333))
    assert grid.shape[0] == 3 and grid.shape[-2:] == tiny_features.grid_size(57, 333)


def test_sampling_is_patch_centre_aligned_and_normalised(tiny_features):
    H, W = 120, 160
    grid = tiny_features(torch.rand(1, 3, H, W))
    gh, gw = grid.shape[-2:]
    i, j = 4, 7
    centre = torch.tensor([[(j + 0.5) * W / gw - 0.5, (i + 0.5) * H / gh - 0.5]])
    desc = DenseFeatures.sample(grid, centre, (H, W))
    torch.testing.assert_close(desc[0], F.normalize(grid[0, :, i, j], dim=0), atol=1e-6, rtol=0)
    # half-way between two centres is the normalised mean of the two cells
    mid = centre + torch.tensor([[W / gw / 2, 0.0]])
    expected = F.normalize((grid[0, :, i, j] + grid[0, :, i, j + 1]) / 2, dim=0)
    torch.testing.assert_close(DenseFeatures.sample(grid, mid, (H, W))[0], expected, atol=1e-6, rtol=0)
    many = DenseFeatures.sample(grid, torch.rand(50, 2) * torch.tensor([W - 1, H - 1]), (H, W))
    torch.testing.assert_close(many.norm(dim=-1), torch.ones(50))


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_autocast_close_to_fp32(device):
    backbone = create_backbone("tiny_vit14", "random", device)
    fp32 = DenseFeatures(backbone, precision="fp32")
    image = torch.rand(1, 3, 112, 112, device=device)
    reference = F.normalize(fp32(image), dim=1)
    fp32.precision = "bf16"
    low = F.normalize(fp32(image), dim=1)
    assert low.dtype == torch.float32
    cosine = (reference * low).sum(1)
    assert cosine.min() > 0.98


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_weights_close_to_fp32_and_inference_only(device):
    """precision 'bf16-weights': the backbone's parameters held in bf16, float32 grids and
    descriptors close to fp32's, the same on the feature-grid and overlapping-patch paths; training
    it is refused."""
    fp32 = DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random", device=device, precision="fp32"))
    low = DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random", device=device, precision="bf16-weights"))
    assert {p.dtype for p in low.backbone.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in low.refine.parameters()} <= {torch.float32}
    image = torch.rand(1, 3, 112, 140, device=device)
    for kwargs in ({}, {"patch_stride": 7}):
        a, b = fp32.feature_grid(image, **kwargs), low.feature_grid(image, **kwargs)
        assert b.grid.dtype == torch.float32 and b.grid.shape == a.grid.shape
        cosine = (F.normalize(a.grid, dim=1) * F.normalize(b.grid, dim=1)).sum(1)
        assert cosine.min() > 0.98, kwargs
        xy = torch.tensor([[5.0, 7.0], [70.2, 55.9]], device=device)
        assert b.sample(xy).dtype == torch.float32
    with pytest.raises(ValueError, match="bf16-weights.*inference"):
        low.train()


def test_feature_grid_api_matches_pixel_sampling(tiny_features):
    """One public grid API: its cell centres and sampling agree with DenseFeatures.sample, and the
    overlapping-patch grid puts its centres at the patches' centres."""
    images = torch.rand(1, 3, 60, 84)
    grid = tiny_features.feature_grid(images)
    gh, gw = grid.grid.shape[-2:]
    assert grid.image_hw == (60, 84) and torch.allclose(grid.centres_x, (torch.arange(gw) + 0.5) * 84 / gw - 0.5)
    xy = torch.tensor([[0.0, 0.0], [10.3, 20.7], [83.0, 59.0], [41.5, 29.5]])
    direct = DenseFeatures.sample(tiny_features(images), xy, (60, 84))
    assert torch.allclose(grid.sample(xy), direct, atol=1e-5)
    strided = tiny_features.feature_grid(images, patch_stride=7, size=(56, 84))
    p = tiny_features.backbone.patch_size
    assert strided.grid.shape[-1] == (84 - p) // 7 + 1
    assert strided.centres_x[0] == pytest.approx((p - 1) / 2) and strided.centres_x[1] - strided.centres_x[0] == pytest.approx(7.0)
