#!/usr/bin/env bash
# Issues 4 and 11 on the GPU: end-to-end latency of the pose_estimator node (image message in ->
# result message out) at 30 Hz input, with the real rclpy (ROS 2 Kilted wheels for Python 3.12)
# over loopback DDS. The wheels are 44 MB: they travel in two calls, .rosw2 (ros-fastdds alone:
# `ros_latency.sh stage`) then .rosw (the rest) with the run itself; both install into /tmp/rosp,
# which lasts while the machine stays warm.
# usage: ros_latency.sh stage | session4 | session11 | session11b | session13
set -euo pipefail
install_wheels() { for d in "$@"; do [ -d "$d" ] && python3 -m pip install -q --no-index --no-deps --no-compile --prefix /tmp/rosp "$d"/*.whl; done; return 0; }
if [ "${1:-session4}" = stage ]; then install_wheels .rosw2; ls /tmp/rosp/lib/python3.12/site-packages | head -3; exit 0; fi
. scripts/device/setup.sh
install_wheels .rosw .rosw2
SP=/tmp/rosp/lib/python3.12/site-packages
export PYTHONPATH=$SP:$PYTHONPATH _ROS_WHEELS_BOOTSTRAP_COMPLETE=1 AMENT_PREFIX_PATH=/tmp/rosp
export LD_LIBRARY_PATH=/tmp/rosp/lib:$(ls -d $SP/ros_*.libs | tr '\n' ':')${LD_LIBRARY_PATH:-}
export ROS_DOMAIN_ID=42 ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
python3 -c "import rclpy; print('rclpy', rclpy.__file__)"
M=mveq_core/assets/objects/mveq_toy_drill.glb
run() {  # run NAME ARGS...
  local name=$1; shift
  timeout ${LIMIT:-200} python3 -m mveq_ros.latency --mesh $M --device cuda --rate 30 --seconds 20 --out "$OUT/ros_$name.json" "$@" 2>&1 | grep -v "^\[" | tail -8 || echo "$name: stopped (exit $?)"
}
SWITCHES=(--param pnp_backend=gpu --param pnp_compile=true --param box_queries=true --param cuda_graphs=true)
case ${1:-session4} in
  session4)  # the session-4 rows: random views, node defaults, random-init weights
    for b in dinov2_vits14 dinov2_vitb14; do run "$b" --backbone $b --weights random; done ;;
  session11b)  # the offline default, tracking + switches, with and without the debug image (what the overlay costs the node)
    LIMIT=200 run vits14_offline_orbit_tracking_switches_nodebug --model offline-default --stream orbit --frames 60 --warmup 8 --param tracking_mode=true "${SWITCHES[@]}" --param publish_debug_image=false ;;
  session13)  # the offline default, tracking + switches, every crop size's graph captured at start (session 13), without and with match_dims
    LIMIT=200 run vits14_s13_orbit_tracking_switches --model offline-default --stream orbit --frames 60 --warmup 8 --param tracking_mode=true "${SWITCHES[@]}"
    LIMIT=200 run vits14_s13_orbit_tracking_switches_dims192 --model offline-default --stream orbit --frames 60 --warmup 8 --param tracking_mode=true "${SWITCHES[@]}" --param match_dims=192 ;;
  session11)  # today's defaults against tracking mode and the camera-rate switches, on a smooth orbit and on random views
    run vitb14_random_defaults --backbone dinov2_vitb14 --weights random
    run vitb14_orbit_tracking --backbone dinov2_vitb14 --weights random --stream orbit --frames 60 --warmup 8 --param tracking_mode=true
    LIMIT=260 run vitb14_orbit_tracking_switches --backbone dinov2_vitb14 --weights random --stream orbit --frames 60 --warmup 8 --param tracking_mode=true "${SWITCHES[@]}"
    LIMIT=260 run vits14_offline_orbit_tracking_switches --model offline-default --stream orbit --frames 60 --warmup 8 --param tracking_mode=true "${SWITCHES[@]}" ;;
esac
