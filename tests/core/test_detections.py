"""One reader for 2D detection files: BOP default detections and frame-named rows."""

import json

import pytest

from mveq_core.benchmarks.detections import bop_key, frame_key, read_detections
from mveq_core.benchmarks.real_pose import load_frame_detections
from mveq_core.benchmarks.ycbv import load_detections
from mveq_core.io import MveqError


def test_both_layouts_grouped_best_first(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([
        {"scene_id": 48, "image_id": 1, "category_id": 2, "bbox": [10, 20, 30, 40], "score": 0.4, "time": 0.1},
        {"scene_id": 48, "image_id": 1, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.9},
        {"frame": "lm/000019", "object": "obj_000001", "bbox": [1, 2, 3, 4]},
    ]))
    bop = read_detections(path, lambda d: bop_key(d) if "scene_id" in d else None)
    assert [d["score"] for d in bop[(48, 1, 2)]] == [0.9, 0.4] and bop[(48, 1, 2)][1]["box"] == [10, 20, 40, 60]
    assert bop[(48, 1, 2)][1]["time"] == 0.1 and bop[(48, 1, 2)][0]["time"] == 0.0
    frames = load_frame_detections(path)
    assert frames[("000048/000001", "obj_000002")][0]["box"] == [0, 0, 5, 5]
    assert frames[("lm/000019", "obj_000001")] == [{"bbox": [1, 2, 3, 4], "box": [1, 2, 4, 6], "score": 1.0, "time": 0.0}]
    assert frame_key({"frame": "a", "object": "b"}) == ("a", "b")


def test_errors_name_the_file_and_row(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"scene_id": 1, "image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4]}, {"scene_id": 1, "image_id": 2, "bbox": [1, 2, 3]}]))
    with pytest.raises(MveqError, match="bad.json: detection 1 lacks or mangles a field"):
        load_detections(path)
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(MveqError, match="bad.json: expected a JSON list"):
        load_frame_detections(path)
