#!/usr/bin/env bash
# Issue 10: `ros2 launch mveq_ros pose.launch.py` for real from the README's .venv. ROS 2 launch is not
# on PyPI: the pure-Python packages of the jazzy branches of ros2/launch, ros2/launch_ros and
# ros2/ros2cli are pip-installed into SCRATCH (outside the repository), with a local stand-in for
# composition_interfaces (absent on PyPI; composable nodes are not used). Then the launch starts the
# node, scripts/ros/launch_probe.py sends it rendered frames and checks its pose and status, and the
# launch is stopped with SIGINT. usage: scripts/ros/launch_check.sh SRC SCRATCH [LAUNCH_ARG:=VALUE ...]
#   SRC holds launch/, launch_ros/ and ros2cli/ (checkouts of the jazzy branches)
set -euo pipefail
SRC=$(realpath "$1"); SCRATCH=$(realpath -m "$2"); shift 2  # the rest: extra launch arguments (e.g. config:=FILE)
cd "$(dirname "$0")/../.."
. .venv/bin/activate
mkdir -p "$SCRATCH/stub/composition_interfaces"
if [ ! -d "$SCRATCH/site/launch_ros" ]; then
  for p in launch/launch launch/launch_xml launch/launch_yaml launch_ros/launch_ros launch_ros/ros2launch ros2cli/ros2cli ros2cli/ros2pkg; do
    python -m pip install -q --no-deps --no-build-isolation --target "$SCRATCH/site" "$SRC/$p" 2>&1 | grep -v "Target directory\|license_expression\|!!" || true
  done
  python -m pip install -q --target "$SCRATCH/site" osrf-pycommon lark 2>&1 | grep -v "Target directory\|is ignored" || true
fi
echo '"""Stand-in for composition_interfaces (not on PyPI)."""' > "$SCRATCH/stub/composition_interfaces/__init__.py"
printf 'class LoadNode:\n    class Request:\n        pass\n\n    class Response:\n        pass\n\n\nclass UnloadNode(LoadNode):\n    pass\n\n\nclass ListNodes(LoadNode):\n    pass\n' > "$SCRATCH/stub/composition_interfaces/srv.py"
export PYTHONPATH="$SCRATCH/site:$SCRATCH/stub" AMENT_PREFIX_PATH="$PWD/.venv" ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
set -m  # job control: a background job keeps SIGINT (non-interactive shells ignore it otherwise)
"$SCRATCH/site/bin/ros2" launch mveq_ros pose.launch.py device:=cpu "$@" > "$SCRATCH/launch.log" 2>&1 &
LAUNCH=$!
set +e
python scripts/ros/launch_probe.py --timeout 180
PROBE=$?
kill -INT $LAUNCH; wait $LAUNCH
echo "launch exit status $? (SIGINT); its log: $SCRATCH/launch.log"
grep -E "process started|ready:|finished cleanly|ERROR" "$SCRATCH/launch.log" | cut -c1-160
exit $PROBE
