import numpy as np
import pytest
import trimesh

from mveq_core.geometry import intrinsics_from_values, look_at, project_points, transform_points
from mveq_core.render import Renderer, load_mesh


@pytest.fixture(scope="module")
def renderer():
    with Renderer(128, 96) as r:
        yield r


def _quad(half=0.05):
    v = [[-half, -half, 0], [half, -half, 0], [half, half, 0], [-half, half, 0]]
    return trimesh.Trimesh(vertices=v, faces=[[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]], process=False)


def test_pixel_centres_at_integers(renderer):
    # A 0.1 m square 0.5 m ahead spans u in [cx - 30, cx + 30]: with cx = 63.6 the covered pixel
    # centres are 34..93 exactly (an OpenGL half-pixel offset would give 35..94).
    K = intrinsics_from_values(300, 300, 63.6, 47.6)
    T = np.eye(4)
    T[2, 3] = 0.5
    out = renderer.render(_quad(), K, T)
    cols = np.nonzero(out.mask.any(0))[0]
    rows = np.nonzero(out.mask.any(1))[0]
    assert (cols.min(), cols.max(), rows.min(), rows.max()) == (34, 93, 18, 77)
    np.testing.assert_allclose(out.depth[out.mask], 0.5, atol=1e-5)


def test_opencv_pose_convention(renderer):
    # A small sphere at object (+0.05, 0, 0) must appear right of a camera looking at the origin
    # from -z with y down, and where K projects it.
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.01)
    sphere.apply_translation([0.05, 0.02, 0.0])
    T = look_at(np.array([0.0, 0.0, -0.6]), up=np.array([0.0, -1.0, 0.0]))
    K = intrinsics_from_values(300, 300, 63.5, 47.5)
    out = renderer.render(sphere, K, T)
    ys, xs = np.nonzero(out.mask)
    expected = project_points(transform_points(T, np.array([[0.05, 0.02, 0.0]])), K)[0]
    assert abs(xs.mean() - expected[0]) < 0.6 and abs(ys.mean() - expected[1]) < 0.6
    assert out.depth[out.mask].min() == pytest.approx(0.6 - 0.01, abs=2e-3)


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_loads_textured_and_coloured_meshes_in_millimetres(tmp_path, renderer, suffix, procedural_mesh):
    mesh = procedural_mesh.copy()
    if suffix == ".ply":  # vertex colours
        mesh = trimesh.creation.box(extents=(0.1, 0.1, 0.1))
        mesh.visual.vertex_colors = np.tile([200, 30, 30, 255], (len(mesh.vertices), 1))
    mesh.apply_scale(1000.0)  # write in millimetres
    path = tmp_path / f"object{suffix}"
    mesh.export(path)
    loaded = load_mesh(path, units="mm")
    extent = float(np.max(loaded.bounds[1] - loaded.bounds[0]))
    assert extent == pytest.approx(0.1 if suffix == ".ply" else 0.2, rel=1e-3)
    T = look_at(np.array([0.0, -0.5, 0.2]))
    out = renderer.render(loaded, intrinsics_from_values(150, 150, 63.5, 47.5), T)
    assert out.mask.sum() > 500
    colours = out.rgb[out.mask].astype(float)
    if suffix == ".ply":
        assert colours[:, 0].mean() > 2 * colours[:, 1].mean()  # red stays red
    else:
        assert colours.std(0).mean() > 20  # texture shows up


def test_missing_mesh_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.obj"):
        load_mesh(tmp_path / "nothing.obj")
