#!/usr/bin/env bash
# Issue 4 on the H100: end-to-end latency of the pose_estimator node (image message in -> result
# message out) at 30 Hz input, with the real rclpy (ROS 2 Kilted wheels for Python 3.12, carried in
# .rosw) over loopback DDS. Random-init weights (no pretrained weights can travel with ROS here).
set -euo pipefail
. scripts/device/setup.sh
python3 -m pip install -q --no-index --no-deps --no-compile --prefix /tmp/rosp .rosw/*.whl
SP=/tmp/rosp/lib/python3.12/site-packages
export PYTHONPATH=$SP:$PYTHONPATH _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 AMENT_PREFIX_PATH=/tmp/rosp
export LD_LIBRARY_PATH=/tmp/rosp/lib:$(ls -d $SP/ros_*.libs | tr '\n' ':')${LD_LIBRARY_PATH:-}
export ROS_DOMAIN_ID=42 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
python3 -c "import rclpy; print('rclpy', rclpy.__file__)"
M=mveq_core/assets/objects/mveq_toy_drill.glb
for b in dinov2_vits14 dinov2_vitb14; do
  python3 -m mveq_ros.latency --mesh $M --backbone $b --weights random --device cuda --rate 30 --seconds 20 --out "$OUT/latency_$b.json" 2>&1 | grep -v "^\[" | tail -30
done
