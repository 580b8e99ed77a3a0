"""ROS packaging: launch descriptions and the installed share/ layout."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("launch_ros") is None, reason="launch_ros is not installed (ROS 2 launch is not on PyPI)")
@pytest.mark.parametrize("name, executables", [("pose.launch.py", {"pose_estimator", "point_tracker"}), ("tracking.launch.py", {"point_tracker"})])
def test_launch_files_describe_the_nodes(name, executables):
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument

    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), ROOT / "launch" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
    arguments = {e.name for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    assert {"image_topic", "config", "namespace"} <= arguments
    if name == "pose.launch.py":
        assert {"camera_info_topic", "objects", "db", "device", "use_tracker"} <= arguments
    text = (ROOT / "launch" / name).read_text()
    assert all(f'executable="{e}"' in text for e in executables)


def test_pip_install_puts_launch_config_and_ament_marker_under_share(tmp_path):
    prefix = tmp_path / "prefix"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-compile", "--ignore-installed", "--quiet", "--prefix", str(prefix), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    share = prefix / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "mveq_ros").is_file()
    assert (share / "mveq_ros" / "package.xml").is_file()
    assert (share / "mveq_ros" / "launch" / "pose.launch.py").is_file()
    assert (share / "mveq_ros" / "launch" / "tracking.launch.py").is_file()
    assert (share / "mveq_ros" / "config" / "pose.yaml").is_file()
    assert (share / "mveq_ros" / "config" / "tracking.yaml").is_file()
    assert {"mveq", "pose_estimator", "point_tracker"} <= {p.name for p in (prefix / "bin").iterdir()}
    site = next(prefix.glob("lib/python3*/site-packages"))
    assert (site / "mveq_core" / "assets" / "databases" / "mveq_toy_drill.mvdb").is_file()  # the sample ships


def _check_ros_layout(prefix: Path) -> None:
    share = prefix / "share"
    assert (share / "ament_index" / "resource_index" / "packages" / "mveq_ros").is_file()
    for relative in ("package.xml", "launch/pose.launch.py", "launch/tracking.launch.py", "config/pose.yaml", "config/tracking.yaml"):
        path = share / "mveq_ros" / relative
        assert path.is_file() and path.read_bytes() == (ROOT / relative).read_bytes(), relative
    for exe in ("pose_estimator", "point_tracker", "mveq"):
        assert os.access(prefix / "lib" / "mveq_ros" / exe, os.X_OK), exe


def test_readme_setup_gives_the_ros_layout():
    """After `bash scripts/setup_env.sh` (an editable install) the venv is a ROS 2 package prefix."""
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.fail(f"run the tests with the README's environment ({ROOT / '.venv'}), not {sys.prefix}")
    _check_ros_layout(Path(sys.prefix))


def test_ros_setup_writes_the_layout_into_a_prefix(tmp_path):
    from mveq_core.cli import main

    (tmp_path / "bin").mkdir()
    for exe in ("pose_estimator", "point_tracker", "mveq"):
        (tmp_path / "bin" / exe).symlink_to(Path(sys.prefix) / "bin" / exe)
    assert main(["-q", "ros-setup", "--prefix", str(tmp_path)]) == 0
    _check_ros_layout(tmp_path)
    assert main(["-q", "ros-setup", "--prefix", str(tmp_path)]) == 0  # idempotent
    assert main(["-q", "ros-setup", "--prefix", str(tmp_path / "empty")]) == 2  # no console scripts there
