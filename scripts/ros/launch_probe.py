"""Issue 10: talk to a pose_estimator started by `ros2 launch mveq_ros pose.launch.py` (namespace
mveq, default topics): publish rendered frames of the bundled drill with camera_info, wait for its
pose and per-object status, compare the pose with the render's. Exit 0 when a pose within 5° and
5 cm arrives. usage: python3 scripts/ros/launch_probe.py [--timeout S]"""

import argparse
import sys
import time

import torch._dynamo  # noqa: F401  (before the first GL context)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from mveq_core.benchmarks.rendered_pose import QueryConfig, render_queries
    from mveq_core.bundled import SAMPLE_NAME, SAMPLE_OBJECT
    from mveq_core.metrics.pose import query_pose_error
    from mveq_core.render import load_mesh
    from mveq_ros import conversions as conv

    query = render_queries(load_mesh(SAMPLE_OBJECT), QueryConfig(count=1, seed=3))[0]
    rclpy.init()
    node = rclpy.create_node("mveq_launch_probe")
    poses, statuses = [], []
    node.create_subscription(PoseStamped, f"/mveq/pose_estimator/{SAMPLE_NAME}/pose", poses.append, 10)
    node.create_subscription(DiagnosticArray, f"/mveq/pose_estimator/{SAMPLE_NAME}/status", statuses.append, 10)
    image_pub = node.create_publisher(Image, "/camera/color/image_raw", 10)
    info_pub = node.create_publisher(CameraInfo, "/camera/color/camera_info", 10)
    info = CameraInfo()
    info.height, info.width = query.rgb.shape[:2]
    info.k = [float(v) for v in query.K.reshape(-1)]
    info.distortion_model = "plumb_bob"
    start, sent = time.monotonic(), 0
    while time.monotonic() - start < args.timeout and not (poses and statuses):
        if image_pub.get_subscription_count() > 0 and sent < 50:
            header = Header(frame_id="camera_color_optical_frame", stamp=node.get_clock().now().to_msg())
            msg = conv.rgb8_to_image(query.rgb, header)
            info.header = header
            info_pub.publish(info)
            time.sleep(0.05)
            image_pub.publish(msg)
            sent += 1
        rclpy.spin_once(node, timeout_sec=1.0)
    ok = False
    if poses:
        rot, cm = query_pose_error(conv.pose_msg_to_matrix(poses[0].pose), query.T_cam_obj)
        ok = rot < 5.0 and cm < 5.0
        print(f"pose from the launched node: rotation error {rot:.2f}°, translation error {cm:.2f} cm ({sent} frames sent)")
    else:
        print(f"no pose within {args.timeout:.0f} s ({sent} frames sent)")
    if statuses:
        print("status:", {v.key: v.value for v in statuses[0].status[0].values})
    node.destroy_node()
    rclpy.shutdown()
    return 0 if ok and statuses else 1


if __name__ == "__main__":
    sys.exit(main())
