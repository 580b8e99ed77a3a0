"""Padded ViT runs for CUDA graphs: the real tokens of a crop padded to a larger grid, with the
padding hidden from attention, equal those of the crop alone; on CUDA, the replayed graphs give
the eager features for crops of many sizes."""

import numpy as np
import pytest
import torch

from mveq_core.backbones import create_backbone
from mveq_core.feature_graphs import GRID_QUANTUM, padded_grid
from mveq_core.features import DenseFeatures


@pytest.mark.parametrize("name", ["tiny_vit14", "dinov2_vits14_reg"])
@pytest.mark.parametrize("layer", [-1, 1])
def test_padded_run_gives_the_unpadded_tokens(name, layer):
    torch.manual_seed(0)
    backbone = create_backbone(name, "random").eval()
    for module in backbone.modules():  # random init barely attends: make attention matter
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.normal_(module.weight, std=0.1)
        if hasattr(module, "gamma"):  # DINOv2's layer scale starts at 1e-5
            torch.nn.init.ones_(module.gamma)
    p = backbone.patch_size
    x = torch.rand(2, 3, 5 * p, 7 * p)
    with torch.no_grad():
        plain = backbone(x, layer=layer)
        position, mask = backbone.padded_layout((5, 7), (8, 8))
        padded = torch.nn.functional.pad(x, (0, p, 0, 3 * p), value=0.7)  # what pads it must not matter
        tokens = backbone.forward_padded(padded, position, mask, layer)
        unmasked = backbone.forward_padded(padded, position, torch.ones_like(mask), layer)
    assert tokens.shape == (2, plain.shape[1], 8, 8) and mask.sum() == backbone.num_prefix_tokens + 35
    assert torch.allclose(tokens[..., :5, :7], plain, atol=1e-4), float((tokens[..., :5, :7] - plain).abs().max())
    assert (unmasked[..., :5, :7] - plain).abs().max() > 1e-3  # the mask is what keeps them equal


def test_padded_grid_sizes():
    assert padded_grid((64, 37)) == (64, 40) and padded_grid((1, 8)) == (GRID_QUANTUM, 8)
    # a 512 px crop's grid at the 1/8 rule: at most 8 padded sizes per side
    assert len({padded_grid((64, n)) for n in range(1, 65)}) == 64 // GRID_QUANTUM
    backbone = create_backbone("tiny_vit14", "random")
    with pytest.raises(ValueError, match="does not fit"):
        backbone.padded_layout((9, 4), (8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run on the device: docs/benchmarks.md)")
def test_cuda_graphs_replay_the_eager_features_for_any_crop_size():
    torch.manual_seed(0)
    features = DenseFeatures(create_backbone("dinov2_vits14", "random")).cuda().eval()
    sizes = [(512, 384), (512, 370), (384, 512), (512, 512), (300, 512), (512, 384), (512, 370), (512, 366)] * 2
    worst = 0.0
    with torch.no_grad():
        for h, w in sizes:
            image = torch.rand(1, 3, h, w, device="cuda")
            features.cuda_graphs = False
            eager = features.feature_grid(image).grid
            features.cuda_graphs = True
            graphed = features.feature_grid(image).grid
            assert graphed.shape == eager.shape
            worst = max(worst, float((graphed - eager).abs().max() / eager.abs().max()))
    assert len(features._graphs) >= 3  # (512, 384) and (512, 370) share a padded size; several captured
    assert worst < 0.02, worst  # bf16 autocast: the masked and unmasked attention kernels round differently


def test_preparing_graphs_is_nothing_on_the_cpu():
    features = DenseFeatures(create_backbone("tiny_vit14", "random")).eval()
    features.cuda_graphs = True
    assert features.prepare_graphs([(512, 384), (384, 512)]) == 0 and len(features._graphs) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run on the device: docs/benchmarks.md)")
def test_prepared_graphs_serve_every_crop_size_from_the_first_frame():
    """The estimator captures, when it loads a database, a graph for every crop size (15 padded
    grids at 512 px); frames of any size then replay them (none captured later) with the eager
    features, though the graphs share one memory pool."""
    from mveq_core.crop import crop_sizes

    torch.manual_seed(0)
    features = DenseFeatures(create_backbone("dinov2_vits14", "random")).cuda().eval()
    features.cuda_graphs = True
    assert features.prepare_graphs(crop_sizes(512)) == 15 and len(features._graphs) == 15
    assert features.prepare_graphs(crop_sizes(512)) == 0  # all held
    worst = 0.0
    with torch.no_grad():
        for h, w in [(512, 384), (140, 512), (512, 512), (512, 61), (300, 512), (512, 384), (512, 200)]:
            image = torch.rand(1, 3, h, w, device="cuda")
            graphed = features.feature_grid(image).grid
            features.cuda_graphs = False
            eager = features.feature_grid(image).grid
            features.cuda_graphs = True
            worst = max(worst, float((graphed - eager).abs().max() / eager.abs().max()))
    assert len(features._graphs) == 15 and not features._graphs._sightings  # every frame replayed a prepared graph
    assert worst < 0.02, worst


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU (run on the device: docs/benchmarks.md)")
def test_the_estimator_captures_every_crop_size_at_load_and_for_a_new_input_size(procedural_mesh):
    """The estimator captures every crop size's graph when it loads a database (7 grids at 256 px);
    ``config.input_size`` changed at run time (ROS ``input_size``): the next frame captures every
    crop size of the new input size at once (11 more at 384 px)."""
    from dataclasses import replace

    from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
    from mveq_core.crop import crop_sizes
    from mveq_core.pose import PoseConfig, PoseEstimator

    features = DenseFeatures(create_backbone("dinov2_vits14", "random")).cuda().eval()
    db = build_database_from_mesh(features, procedural_mesh, "toy", CadDatabaseConfig(views=4, image_size=128, max_features=2000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS), progress=False)
    features.cuda_graphs = True
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256, refine_with_crop=False))
    expected = {padded_grid(features.grid_size(h, w)) for h, w in crop_sizes(256)}
    assert len(expected) == 7 and len(features._graphs) == 7  # grids of 32 cells a side at the 1/8 rule: 8..32 by 8, both ways
    estimator.config = replace(estimator.config, input_size=384)
    image = (torch.rand(240, 320, 3) * 255).byte().numpy()
    estimator.estimate(image, np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]]), box=[100, 60, 180, 200])
    assert len(features._graphs) == 7 + 11 and not features._graphs._sightings  # the frame replayed a prepared graph
