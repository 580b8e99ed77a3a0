import pytest
import torch
import torch.nn.functional as F

from mveq_core.losses import LossConfig, equivariance_loss


def _geometry_features(xyz, dim=512, frequency=60.0, seed=0):
    """Random Fourier features of 3D points: cosine similarity ~ exp(-(f*d)^2/2): 'perfect' features."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(3, dim // 2, generator=g) * frequency
    proj = xyz @ W
    return F.normalize(torch.cat([proj.cos(), proj.sin()], dim=-1), dim=-1)


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(3)
    shared = torch.rand(1, 300, 3, generator=g)
    xyz_a = torch.cat([shared, torch.rand(1, 300, 3, generator=g)], dim=1)
    xyz_b = torch.cat([shared + 1e-3 * torch.randn(1, 300, 3, generator=g), torch.rand(1, 300, 3, generator=g)], dim=1)
    valid = torch.ones(1, 600, dtype=torch.bool)
    return xyz_a, xyz_b, valid


@pytest.mark.parametrize("name", ["smoothap", "contrastive", "procrustes"])
def test_perfect_features_near_zero_shuffled_larger_finite_gradients(pair, name):
    xyz_a, xyz_b, valid = pair
    config = LossConfig(name=name)
    good_a, good_b = _geometry_features(xyz_a), _geometry_features(xyz_b)
    perfect = equivariance_loss(good_a, good_b, xyz_a, xyz_b, valid, valid, config)
    shuffled_b = good_b[:, torch.randperm(600, generator=torch.Generator().manual_seed(0))]
    bad = equivariance_loss(good_a, shuffled_b, xyz_a, xyz_b, valid, valid, config)
    bounds = {"smoothap": 0.02, "contrastive": 0.05, "procrustes": 0.01}
    assert perfect.item() < bounds[name]
    assert bad.item() > 5 * max(perfect.item(), 1e-3)
    noisy = (good_a + 0.3 * torch.randn_like(good_a)).requires_grad_(True)
    loss = equivariance_loss(noisy, good_b, xyz_a, xyz_b, valid, valid, config)
    loss.backward()
    assert torch.isfinite(noisy.grad).all() and noisy.grad.abs().sum() > 0


def test_smoothap_is_one_minus_ap_on_a_hand_computed_case():
    # One anchor, one positive (similarity 0.9) and one negative (similarity 0.95): both official
    # rankings put the negative first, so AP ~ 1/2 in each direction.
    desc_a = torch.tensor([[[1.0, 0.0]]])
    desc_b = F.normalize(torch.tensor([[[0.9, (1 - 0.81) ** 0.5], [0.95, (1 - 0.9025) ** 0.5]]]), dim=-1)
    xyz_a = torch.zeros(1, 1, 3)
    xyz_b = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    va, vb = torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 2, dtype=torch.bool)
    loss = equivariance_loss(desc_a, desc_b, xyz_a, xyz_b, va, vb, LossConfig(symmetric=False))
    s_pos, s_neg, t = 0.9, 0.95, 0.01
    sig = lambda x: torch.sigmoid(torch.tensor(x / t)).item()  # noqa: E731
    ap1 = (1 + sig(s_pos - 1)) / (1 + sig(s_pos - 1) + sig(s_neg - 1))
    ap2 = (1 + sig(1 - s_pos)) / (1 + sig(1 - s_pos) + sig(s_neg - s_pos))
    assert loss.item() == pytest.approx(1 - (ap1 + ap2) / 2, abs=1e-6)


def test_invalid_points_are_ignored(pair):
    xyz_a, xyz_b, valid = pair
    a, b = _geometry_features(xyz_a), _geometry_features(xyz_b)
    garbage_b = b.clone()
    garbage_b[:, 300:] = F.normalize(torch.randn(1, 300, a.shape[-1]), dim=-1)
    only_shared = valid.clone()
    only_shared[:, 300:] = False
    x = equivariance_loss(a, b, xyz_a, xyz_b, valid, only_shared, LossConfig())
    y = equivariance_loss(a, garbage_b, xyz_a, xyz_b, valid, only_shared, LossConfig())
    assert x.item() == pytest.approx(y.item(), abs=1e-6)


def test_unknown_loss_name():
    with pytest.raises(ValueError, match="smoothap"):
        equivariance_loss(torch.zeros(1, 1, 2), torch.zeros(1, 1, 2), torch.zeros(1, 1, 3), torch.zeros(1, 1, 3), torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1, dtype=torch.bool), LossConfig(name="x"))
