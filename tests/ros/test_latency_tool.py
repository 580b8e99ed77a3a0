"""`python -m mveq_ros.latency`: the node built from its parameters as launched, a smooth orbit
stream, node parameters from --param, a JSON report with provenance; unknown parameters refused."""

import json
import subprocess
import sys

import pytest

from mveq_core.bundled import SAMPLE_OBJECT
from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.render import load_mesh


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory):
    features = DenseFeatures.create(FeatureConfig(backbone="tiny_vit14", weights="random"))
    db = build_database_from_mesh(features, load_mesh(SAMPLE_OBJECT), "drill", CadDatabaseConfig(views=8, image_size=128, **WHOLE_RENDERS), progress=False)
    return db.save(tmp_path_factory.mktemp("db") / "drill.mvdb")


def _latency(*args, timeout=240):
    cmd = [sys.executable, "-m", "mveq_ros.latency", "--mesh", str(SAMPLE_OBJECT), "--device", "cpu", "--frames", "4", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_node_latency_report_with_parameters_and_orbit(tiny_db, tmp_path):
    out = tmp_path / "latency.json"
    proc = _latency("--db", str(tiny_db), "--stream", "orbit", "--rate", "4", "--seconds", "2", "--warmup", "0.5",
                    "--param", "tracking_mode=true", "--param", "input_size=192", "--param", "publish_debug_image=false", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["stream"] == "orbit"
    assert report["node_parameters"]["tracking_mode"] is True and report["node_parameters"]["input_size"] == 192
    assert report["node_parameters"]["objects"] == [f"object={tiny_db}"]
    assert 7 <= report["frames_sent"] <= 9  # 2 s at 4 Hz counted; the 0.5 s warm-up is not
    assert 1 <= report["frames_processed"] <= report["frames_sent"]
    assert report["latency_any_result"]["count"] == report["frames_processed"]
    assert report["latency_any_result"]["median_ms"] > 0
    assert report["features"].startswith("tiny_vit14")
    assert report["provenance"]["argv"][0] == "mveq_ros.latency" and "--param" in report["provenance"]["argv"]


def test_unknown_node_parameter_is_refused(tiny_db):
    proc = _latency("--db", str(tiny_db), "--seconds", "1", "--param", "no_such_setting=3")
    assert proc.returncode == 2
    assert "the pose_estimator node has no parameter no_such_setting" in proc.stderr


def test_missing_database_is_refused(tmp_path):
    proc = _latency("--db", str(tmp_path / "missing.mvdb"), "--seconds", "1")
    assert proc.returncode == 2
    assert f"{tmp_path / 'missing.mvdb'}: the node loaded no database from it" in proc.stderr
