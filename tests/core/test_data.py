import numpy as np
import pytest

from mveq_core.geometry import depth_to_object_points, view_angle_deg
from mveq_core.io import MveqError
from mveq_core.objects import MeshObject, find_meshes
from mveq_core.pairs import PairConfig, PairDataset, PairSampler
from mveq_core.render import ViewConfig
from mveq_core.render_folders import open_render_folders, write_render_folder

SMALL = ViewConfig(image_size=96, views=12, inplane_rotation=False)


@pytest.fixture(scope="module")
def render_root(tmp_path_factory, procedural_mesh):
    root = tmp_path_factory.mktemp("renders")
    write_render_folder(root, MeshObject(procedural_mesh, "toy", SMALL), progress=False)
    return root


def test_render_folder_roundtrip(render_root, procedural_mesh):
    (obj,) = open_render_folders(render_root)
    assert obj.name == "toy" and obj.num_views() == 12
    assert obj.extent == pytest.approx(0.2, rel=1e-6)
    live = MeshObject(procedural_mesh, "toy", SMALL)
    for i in (0, 7):
        view = obj.view(i)
        np.testing.assert_allclose(view.T_cam_obj, live.pose(i), atol=1e-9)
        assert view.rgb.shape == (96, 96, 3) and view.mask.any()
        # 16-bit depth at 0.1 mm: object points from the stored depth lie on the mesh's bounds
        _, xyz = depth_to_object_points(view.depth, view.K, view.T_cam_obj, view.mask)
        lo, hi = procedural_mesh.bounds
        assert (xyz >= lo - 1e-3).all() and (xyz <= hi + 1e-3).all()


def test_pair_sampler_respects_the_paper_constraints(render_root):
    sampler = PairSampler(open_render_folders(render_root), PairConfig(points_per_view=500, geometric_augment=0.0))
    for seed in range(4):
        pair = sampler.sample(np.random.default_rng(seed))
        assert pair["xy_a"].shape == (500, 2) and pair["xyz_b"].shape == (500, 3)
        # object-normalised: the largest bounding-box side is 1
        assert np.abs(pair["xyz_a"]).max() <= 0.5 + 1e-2
    obj = sampler.objects[0]
    for seed in range(20):
        a, b = sampler._pick_views(obj, np.random.default_rng(seed))
        assert a != b and view_angle_deg(obj.pose(a), obj.pose(b)) < 120


def test_matched_pixels_are_true_correspondences_after_augmentation(render_root):
    config = PairConfig(points_per_view=400, matched_fraction=0.5, geometric_augment=1.0, background="black", color_augment=False)
    sampler = PairSampler(open_render_folders(render_root), config)
    pair = sampler.sample(np.random.default_rng(5))
    d = np.linalg.norm(pair["xyz_a"][:200] - pair["xyz_b"][:200], axis=1)
    assert np.median(d) < 1e-3  # the same 3D point (object-normalised units)
    for tag in ("a", "b"):  # the warp moved image and points together: valid points sit on the object
        xy = np.round(pair[f"xy_{tag}"][pair[f"valid_{tag}"]]).astype(int)
        on_object = pair[f"rgb_{tag}"][xy[:, 1], xy[:, 0]].max(axis=1) > 0
        assert on_object.mean() > 0.95


def test_dataset_items_depend_only_on_seed_and_index(render_root):
    sampler = PairSampler(open_render_folders(render_root), PairConfig(points_per_view=100))
    one = PairDataset(sampler, seed=3, start=0, stop=10)[4]
    two = PairDataset(sampler, seed=3, start=4, stop=10)[0]
    for key in one:
        assert (one[key] == two[key]).all(), key


def test_mesh_folder_in_objaverse_layout(tmp_path, procedural_mesh):
    sub = tmp_path / "glbs" / "000-001"
    sub.mkdir(parents=True)
    procedural_mesh.export(sub / "abc123.glb")
    (paths,) = [find_meshes(tmp_path / "glbs")]
    assert [p.name for p in paths] == ["abc123.glb"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MveqError, match="no mesh files"):
        find_meshes(empty)
