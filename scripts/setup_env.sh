#!/usr/bin/env bash
# Set up everything mveq needs on a fresh Debian/Ubuntu machine: system GL libraries for headless
# rendering, a Python 3.11 virtual environment in .venv with the pinned packages, and mveq itself.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # EGL / OSMesa for headless rendering; opencv-doc holds the real graffiti image pairs used by tests.
  $SUDO apt-get install -y -q --no-install-recommends libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 opencv-doc
fi

PYTHON="${PYTHON:-python3.11}"
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt -r requirements-ros.txt -r requirements-test.txt
.venv/bin/python -m pip install -q --no-deps -e .
# An editable install writes no share/ files: link the ROS 2 layout (ament index entry, launch and
# config files, lib/mveq_ros executables) into .venv so `ros2 launch mveq_ros ...` finds the package.
.venv/bin/mveq ros-setup --prefix "$PWD/.venv" > /dev/null
echo "mveq environment ready: . .venv/bin/activate"
