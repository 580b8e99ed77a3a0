import numpy as np
import pytest
import torch

from mveq_core.metrics.equivariance import ape_pcdp, nearest_neighbour_transfer


def test_ape_and_pcdp_hand_computed():
    # image 200 x 100: shortest edge 100 px; errors 0, 4, 8, 30 px -> 0, 4, 8, 30 %
    result = ape_pcdp(np.array([0.0, 4.0, 8.0, 30.0]), shortest_edge=100)
    assert result["APE"] == pytest.approx(10.5)
    assert result["PCDP@5"] == pytest.approx(50.0)
    assert result["PCDP@10"] == pytest.approx(75.0)
    assert result["PCDP@20"] == pytest.approx(75.0)
    assert result["count"] == 4


def test_nearest_neighbour_transfer_recovers_identity_and_chunks():
    desc = torch.nn.functional.normalize(torch.randn(500, 16), dim=1)
    xy = torch.rand(500, 2) * 100
    np.testing.assert_array_equal(nearest_neighbour_transfer(desc, desc, xy, chunk=64).numpy(), xy.numpy())


def test_evaluator_with_geometry_exact_features_is_perfect(procedural_mesh):
    """Features equal to the rendered object coordinates transfer pixels exactly."""
    from mveq_core.benchmarks.equivariance import EquivarianceConfig, pair_errors
    from mveq_core.geometry import depth_to_object_points
    from mveq_core.objects import MeshObject
    from mveq_core.render import ViewConfig

    obj = MeshObject(procedural_mesh, "toy", ViewConfig(image_size=96, views=12, inplane_rotation=False))
    va, vb = obj.view(0), obj.view(1)

    class CoordinateFeatures:
        device = torch.device("cpu")

    def coordinate_grid(view):
        grid = np.zeros((3, 96, 96), np.float32)
        xy, xyz = depth_to_object_points(view.depth, view.K, view.T_cam_obj, view.mask)
        grid[:, xy[:, 1].astype(int), xy[:, 0].astype(int)] = (xyz / obj.extent).T * 50
        return torch.from_numpy(grid)[None]

    # Random Fourier features of the coordinates make cosine similarity peak at the same 3D point.
    W = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))

    def fourier(grid):
        proj = torch.einsum("bchw,cd->bdhw", grid, W)
        return torch.cat([proj.cos(), proj.sin()], dim=1)

    errors = pair_errors(CoordinateFeatures(), fourier(coordinate_grid(va)), fourier(coordinate_grid(vb)), va, vb, EquivarianceConfig(queries_per_pair=300), np.random.default_rng(0))
    assert len(errors) == 300
    assert np.median(errors) < 1.0
    assert ape_pcdp(errors, 96)["PCDP@5"] > 95
