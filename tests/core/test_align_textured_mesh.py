"""scripts/realdata/align_textured_mesh.py: a scan in another frame and unit is brought onto the set's model points."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import trimesh

from mveq_core.geometry import make_transform, rotation_matrix_axis_angle

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "realdata" / "align_textured_mesh.py"


def _load():
    spec = importlib.util.spec_from_file_location("align_textured_mesh", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _l_shape():
    # an asymmetric solid (two boxes), so exactly one rigid fit exists
    a = trimesh.creation.box(extents=(0.10, 0.03, 0.02))
    b = trimesh.creation.box(extents=(0.03, 0.06, 0.02))
    b.apply_translation((0.035, 0.045, 0.0))
    return trimesh.util.concatenate([a, b])


def test_scan_in_centimetres_and_another_frame_is_aligned(tmp_path, capsys):
    module = _load()
    model = _l_shape()
    points = model.sample(3000, seed=3)
    np.savetxt(tmp_path / "points.xyz", points)
    T = make_transform(rotation_matrix_axis_angle(np.array([0.3, -0.8, 0.52]) / np.linalg.norm([0.3, -0.8, 0.52]), 2.1), [0.2, -0.1, 0.05])
    scan = model.copy()
    scan.apply_transform(T)
    scan.apply_scale(100.0)  # centimetres
    scan.export(tmp_path / "scan.obj")
    out = tmp_path / "aligned.glb"
    assert module.main(["--mesh", str(tmp_path / "scan.obj"), "--scale", "0.01", "--points", str(tmp_path / "points.xyz"), "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["tied_fits"] == 1 and report["surface_distance_m"]["p95"] < 1e-3
    aligned = trimesh.load(str(out), force="mesh")
    np.testing.assert_allclose(aligned.bounds / 1000.0, model.bounds, atol=1e-3)  # written in millimetres


def test_mujoco_msh_round_trip(tmp_path):
    module = _load()
    v = np.random.default_rng(0).random((5, 3)).astype(np.float32)
    uv = np.random.default_rng(1).random((5, 2)).astype(np.float32)
    f = np.array([[0, 1, 2], [2, 3, 4]], np.int32)
    path = tmp_path / "m.msh"
    path.write_bytes(np.array([5, 0, 5, 2], np.int32).tobytes() + v.tobytes() + uv.tobytes() + f.tobytes())
    from PIL import Image

    Image.new("RGB", (4, 4), (200, 10, 10)).save(tmp_path / "t.png")
    mesh = module.load_msh(path, tmp_path / "t.png")
    np.testing.assert_allclose(mesh.vertices, v, rtol=1e-6)
    np.testing.assert_array_equal(mesh.faces, f)
    np.testing.assert_allclose(mesh.visual.uv[:, 1], 1.0 - uv[:, 1], rtol=1e-6)
    path.write_bytes(path.read_bytes() + b"xx")
    import pytest

    with pytest.raises(ValueError, match="unread bytes"):
        module.load_msh(path, None)
