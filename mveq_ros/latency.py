"""End-to-end latency of the pose_estimator node: image message in -> result message out.

Runs the node in this process (real rclpy, real DDS transport over loopback), publishes rendered
640 x 480 frames of an object at a fixed rate with the send time as the header stamp, and records
when the node's outputs for each stamp arrive: ``~/markers`` (published for every processed frame,
pose or not) and ``~/<object>/pose`` (frames with a pose).

    python -m mveq_ros.latency --mesh object.glb --backbone dinov2_vits14 --weights random --rate 30 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", required=True)
    parser.add_argument("--units", default="m")
    parser.add_argument("--db", default=None, help="database (default: a 96-view CAD database of --mesh)")
    parser.add_argument("--model", default=None, choices=[None, "offline-default"])
    parser.add_argument("--backbone", default="dinov2_vits14")
    parser.add_argument("--weights", default="random")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rate", type=float, default=30.0, help="input frames per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=30, help="distinct rendered frames, cycled")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header
    from visualization_msgs.msg import MarkerArray

    from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
    from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh
    from mveq_core.database import load_database
    from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig, resolve_device
    from mveq_core.pose import PoseEstimator
    from mveq_core.render import load_mesh

    from . import conversions as conv
    from .pose_node import PoseEstimatorNode, topic_name

    device = str(resolve_device(args.device))
    config = OFFLINE_DEFAULT if args.model == "offline-default" else FeatureConfig(backbone=args.backbone, weights=args.weights, adapter=args.adapter)
    from dataclasses import replace

    features = DenseFeatures.create(replace(config, device=device, precision=args.precision))
    mesh = load_mesh(args.mesh, args.units)
    db = load_database(args.db) if args.db else build_database_from_mesh(features, mesh, "object", CadDatabaseConfig(**WHOLE_RENDERS))  # the documented figures' templates
    queries = render_queries(mesh, QueryConfig(count=args.frames))
    images = [conv.rgb8_to_image(q.rgb, Header()) for q in queries]
    K = queries[0].K

    rclpy.init()
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db]))
    probe = rclpy.create_node("latency_probe")
    received: dict[str, dict[int, float]] = {"markers": {}, "pose": {}}

    def stamp_ns(header) -> int:
        return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec

    probe.create_subscription(MarkerArray, "/pose_estimator/markers", lambda m: received["markers"].setdefault(stamp_ns(m.markers[0].header) if m.markers else 0, time.time_ns()), 100)
    probe.create_subscription(PoseStamped, f"/pose_estimator/{topic_name(db.name)}/pose", lambda m: received["pose"].setdefault(stamp_ns(m.header), time.time_ns()), 100)
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
    info.width, info.height = queries[0].rgb.shape[1], queries[0].rgb.shape[0]
    info.k = list(K.reshape(-1))
    sent: list[int] = []
    period = 1.0 / args.rate
    start = time.time()
    next_time = start
    i = 0
    while time.time() - start < args.seconds:
        now_ns = time.time_ns()
        header = Header(frame_id="camera")
        header.stamp.sec, header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
        msg = images[i % len(images)]
        msg.header = header
        info.header = header
        info_pub.publish(info)
        image_pub.publish(msg)
        sent.append(now_ns)
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

    report = {
        "features": features.describe(),
        "device": device,
        "input_rate_hz": args.rate,
        "frames_sent": len(sent),
        "frames_processed": node.frames_processed,
        "frames_dropped": node.frames_dropped,
        "processed_rate_hz": node.frames_processed / args.seconds,
        "latency_any_result": stats("markers"),
        "latency_pose": stats("pose"),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    node.destroy_node()
    probe.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
