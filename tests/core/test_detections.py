"""One reader for 2D detection files: BOP default detections and frame-named rows."""

import json

import numpy as np
import pytest

from mveq_core.benchmarks.detections import bop_key, frame_key, mask_run_lengths, read_detections
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


def test_segmentation_masks_are_read_and_checked(tmp_path, monkeypatch):
    """A detection's ``segmentation`` (COCO run-length mask, as CNOS and SAM write it) decodes to the
    mask it encodes, also when the first pixel is foreground; wrong sizes, wrong run sums, polygons
    and compressed strings without pycocotools are clear errors."""
    import sys

    from mveq_core.benchmarks.detections import detection_mask

    mask = np.zeros((6, 5), bool)
    mask[1:4, 2:5] = True
    mask[5, 0] = True
    corner = mask.copy()
    corner[0, 0] = True  # the column-major first pixel: the counts start with an empty background run
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"frame": "f", "object": "o", "bbox": [2, 1, 3, 3], "segmentation": mask_run_lengths(mask)},
                                {"frame": "g", "object": "o", "bbox": [0, 0, 5, 6], "segmentation": mask_run_lengths(corner)},
                                {"frame": "h", "object": "o", "bbox": [0, 0, 1, 1]}]))
    rows = load_frame_detections(path)
    assert np.array_equal(detection_mask(rows[("f", "o")][0], (6, 5)), mask)
    assert mask_run_lengths(corner)["counts"][0] == 0 and np.array_equal(detection_mask(rows[("g", "o")][0], (6, 5)), corner)
    assert detection_mask(rows[("h", "o")][0], (6, 5)) is None and "segmentation" not in rows[("h", "o")][0]
    entry = rows[("f", "o")][0]
    with pytest.raises(MveqError, match=r"d.json f: segmentation size \[6, 5\] differs from the image's \[480, 640\]"):
        detection_mask(entry, (480, 640), "d.json f")
    with pytest.raises(MveqError, match="counts must be non-negative runs summing to 6 x 5 = 30 pixels, got 29"):
        detection_mask({"segmentation": {"size": [6, 5], "counts": [29]}}, (6, 5))
    with pytest.raises(MveqError, match=r"segmentation size must be \[h, w\], got \[6\]"):
        detection_mask({"segmentation": {"size": [6], "counts": [30]}}, (6, 5))
    with pytest.raises(MveqError, match="polygons are not read"):
        detection_mask({"segmentation": [[1, 2, 3, 4, 5, 6]]}, (6, 5))
    monkeypatch.setitem(sys.modules, "pycocotools", None)  # as where it is not installed
    with pytest.raises(MveqError, match=r"compressed \(string\) RLE needs pycocotools"):
        detection_mask({"segmentation": {"size": [6, 5], "counts": "52203"}}, (6, 5))
