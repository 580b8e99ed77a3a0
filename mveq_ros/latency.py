"""End-to-end latency of the pose_estimator node: image message in -> result message out.

Runs the node in this process (real rclpy, real DDS transport over loopback), publishes rendered
640 x 480 frames of an object at a fixed rate with the send time as the header stamp, and records
when the node's outputs for each stamp arrive: ``~/markers`` (published for every processed frame,
pose or not) and ``~/<object>/pose`` (frames with a pose).

    python -m mveq_ros.latency --mesh object.glb --backbone dinov2_vits14 --weights random --rate 30 --seconds 20

The node builds its estimator from its parameters as a launched node does (the database is saved to
a file and named in ``objects``); ``--param NAME=VALUE`` sets any node parameter (YAML values:
``--param tracking_mode=true --param pnp_backend=gpu``). ``--stream orbit`` sends a smooth orbit
(3 degrees a frame, played forwards then backwards so it never jumps), the stream tracking mode
is for; ``random`` sends independent random views.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np
import yaml


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True)
    parser.add_argument("--units", default="m")
    parser.add_argument("--db", default=None, help="database file for the node (its header names the features: --model/--backbone/--weights/--adapter then unused; default: a 96-view CAD database of --mesh)")
    parser.add_argument("--model", default=None, choices=[None, "offline-default"])
    parser.add_argument("--backbone", default="dinov2_vits14")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rate", type=float, default=30.0, help="input frames per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of frames sent first and not counted (CUDA-graph captures, first-frame work)")
    parser.add_argument("--frames", type=int, default=30, help="distinct rendered frames, cycled")
    parser.add_argument("--stream", choices=["random", "orbit"], default="random", help="random views, or a smooth orbit played back and forth")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a node parameter (YAML value), repeatable")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param {item!r}: expected NAME=VALUE")
        overrides[name] = yaml.safe_load(value)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
    from mveq_core.benchmarks.tracking_mode import render_stream
    from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig, resolve_device
    from mveq_core.metrics.pose import query_pose_error
    from mveq_core.provenance import provenance, write_result_json
    from mveq_core.render import load_mesh

    from . import conversions as conv
    from .pose_node import PoseEstimatorNode, topic_name

    device = str(resolve_device(args.device))
    config = OFFLINE_DEFAULT if args.model == "offline-default" else FeatureConfig(backbone=args.backbone, weights=args.weights, adapter=args.adapter)
    from dataclasses import replace

    mesh = load_mesh(args.mesh, args.units)
    workdir = tempfile.mkdtemp(prefix="mveq_latency_")
    db_path = args.db  # the node loads it
    if db_path is None:  # the documented figures' templates; the node then builds its own features from the database's header
        features = DenseFeatures.create(replace(config, device=device, precision=args.precision))
        db_path = build_database_from_mesh(features, mesh, "object", CadDatabaseConfig(**WHOLE_RENDERS)).save(os.path.join(workdir, "object.mvdb"))
        del features
    if args.stream == "orbit":
        frames = render_stream(mesh, args.frames, gap=(0, 0))
        frames = frames + frames[-2:0:-1]  # forwards, then backwards: the stream never jumps
        rgbs, K, truth = [f.rgb for f in frames], frames[0].K, [f.T_cam_obj for f in frames]
    else:
        queries = render_queries(mesh, QueryConfig(count=args.frames))
        rgbs, K, truth = [q.rgb for q in queries], queries[0].K, [q.T_cam_obj for q in queries]
    images = [conv.rgb8_to_image(rgb, Header()) for rgb in rgbs]

    rclpy.init()
    params = {"objects": [f"object={db_path}"], "device": device, "precision": args.precision, **overrides}
    node = PoseEstimatorNode(parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    unknown = sorted(k for k in params if not node.has_parameter(k))
    if unknown:
        shutil.rmtree(workdir, ignore_errors=True)
        parser.error(f"--param: the pose_estimator node has no parameter {', '.join(unknown)}")
    if not node.estimator.databases:  # a missing or broken --db: the node logged why
        shutil.rmtree(workdir, ignore_errors=True)
        parser.error(f"{db_path}: the node loaded no database from it (its log above says why)")
    probe = rclpy.create_node("latency_probe")
    received: dict[str, dict[int, float]] = {"markers": {}, "pose": {}}
    poses: dict[int, np.ndarray] = {}  # stamp -> the published pose

    def stamp_ns(header) -> int:
        return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec

    probe.create_subscription(MarkerArray, "/pose_estimator/markers", lambda m: received["markers"].setdefault(stamp_ns(m.markers[0].header) if m.markers else 0, time.time_ns()), 100)

    def on_pose(m) -> None:
        received["pose"].setdefault(stamp_ns(m.header), time.time_ns())
        poses.setdefault(stamp_ns(m.header), conv.pose_msg_to_matrix(m.pose))

    probe.create_subscription(PoseStamped, f"/pose_estimator/{topic_name('object')}/pose", on_pose, 100)
    image_pub = probe.create_publisher(Image, "/image", 10)
    info_pub = probe.create_publisher(CameraInfo, "/camera_info", 10)
    # One single-threaded executor per node, as `ros2 run` would give each node its own process:
    # rclpy's MultiThreadedExecutor costs so much GIL time that it slows the node's worker down.
    executors = []
    for n in (node, probe):
        executor = SingleThreadedExecutor()
        executor.add_node(n)
        threading.Thread(target=executor.spin, daemon=True).start()
        executors.append(executor)
    deadline = time.time() + 30
    while image_pub.get_subscription_count() == 0 and time.time() < deadline:
        time.sleep(0.05)
    info = CameraInfo()
    info.height, info.width = rgbs[0].shape[:2]
    info.k = list(K.reshape(-1))
    sent: list[int] = []
    sent_frame: dict[int, int] = {}  # stamp -> index of the frame sent
    period = 1.0 / args.rate
    start = time.time()
    next_time = start
    i = 0
    while time.time() - start < args.warmup + args.seconds:
        counted = time.time() - start >= args.warmup
        now_ns = time.time_ns()
        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
        msg = images[i % len(images)]
        msg.header = header
        info.header = header
        info_pub.publish(info)
        image_pub.publish(msg)
        if counted:
            sent.append(now_ns)
            sent_frame[now_ns] = i % len(images)
        i += 1
        next_time += period
        time.sleep(max(0.0, next_time - time.time()))
    idle_deadline = time.time() + 60.0  # let the frame in flight finish
    while time.time() < idle_deadline and (node._worker.pending is not None or node.frames_processed + node.frames_dropped < node.frames_received - 1):
        time.sleep(0.1)
    time.sleep(1.0)
    for executor in executors:
        executor.shutdown(timeout_sec=2.0)
    node.shutdown_worker()

    def stats(kind):
        lat = [(received[kind][s] - s) / 1e6 for s in sent if s in received[kind]]
        if not lat:
            return {"count": 0}
        return {"count": len(lat), "median_ms": float(np.median(lat)), "p90_ms": float(np.percentile(lat, 90)), "max_ms": float(np.max(lat))}

    errors = [query_pose_error(T, truth[sent_frame[s]]) for s, T in poses.items() if s in sent_frame]
    processed = [s for s in sent if s in received["markers"]]
    report = {
        "features": node.estimator.features.describe(),
        "device": device,
        "node_parameters": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in params.items()},
        "stream": args.stream,
        "input_rate_hz": args.rate,
        "frames_sent": len(sent),
        "warmup_s": args.warmup,
        "frames_processed": len(processed),  # of the counted frames (after the warm-up)
        "processed_rate_hz": len(processed) / args.seconds,
        "node_totals": {"received": node.frames_received, "processed": node.frames_processed, "dropped": node.frames_dropped},
        "latency_any_result": stats("markers"),
        "latency_pose": stats("pose"),
        # of the processed frames, the share whose published pose is within 5 degrees and 5 cm of the truth
        "success_5deg_5cm_of_processed": sum(r < 5 and t < 5 for r, t in errors) / max(len(processed), 1),
        "median_rotation_error_deg": float(np.median([r for r, _ in errors])) if errors else None,
        "tracking_states": dict(node.object_states),
    }
    report["provenance"] = provenance(device, ["mveq_ros.latency", *(argv if argv is not None else sys.argv[1:])])
    print(json.dumps(report, indent=2))
    if args.out:
        write_result_json(args.out, report)
    node.destroy_node()
    probe.destroy_node()
    rclpy.try_shutdown()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
