"""Result files are strict JSON; diameters are exact and fast."""

import json

import numpy as np
import trimesh

from mveq_core.geometry import points_diameter
from mveq_core.io import write_json_atomic
from mveq_core.render import mesh_diameter


def test_non_finite_numbers_are_written_as_null(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic(path, {"a": float("inf"), "b": [1.5, float("nan"), np.float32(np.inf)], "c": np.array([1.0, -np.inf]), "d": 2})

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data == {"a": None, "b": [1.5, None, None], "c": [1.0, None], "d": 2}


def test_diameters():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(500, 3))
    brute = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1)).max()
    assert points_diameter(points) == brute
    assert points_diameter(np.zeros((1, 3))) == 0.0
    assert points_diameter(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0], [4, 0, 0.0]])) == 4.0  # degenerate hull
    box = trimesh.creation.box(extents=(0.3, 0.2, 0.1))
    assert abs(mesh_diameter(box) - np.linalg.norm([0.3, 0.2, 0.1])) < 1e-12
