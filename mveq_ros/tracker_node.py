"""ROS 2 node ``point_tracker``: tracks query points frame to frame with mveq_core's Tracker.

Query points come from the ``query_points`` parameter ([x0, y0, x1, y1, ...] pixels), from the
``~/queries`` topic (geometry_msgs/PolygonStamped of pixel coordinates), or from a grid inside the
latest ``mask`` (``grid_spacing`` > 0). The first image after new queries is the reference frame.
Publishes ``~/tracks`` (sensor_msgs/PointCloud2: u, v, visible, id, score) and ``~/overlay``.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
from geometry_msgs.msg import PolygonStamped
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import Image, PointCloud2

from mveq_core.settings import from_values
from mveq_core.tracking import Tracker, TrackerConfig, grid_points_in_mask

from . import conversions as conv
from .parameters import declare_settings
from .worker import NewestFrameWorker, run_node


class PointTrackerNode(Node):
    def __init__(self, tracker: Tracker | None = None, **kwargs):
        super().__init__("point_tracker", **kwargs)
        self._declare_parameters()
        self.tracker = tracker if tracker is not None else self._build_tracker()
        self._lock = threading.Lock()
        self._mask: np.ndarray | None = None
        self._new_queries: np.ndarray | None = None
        points = np.asarray(self.get_parameter("query_points").value, dtype=np.float32)
        if points.size >= 2 and points.size % 2 == 0:
            self._new_queries = points.reshape(-1, 2)
        elif points.size > 1:
            self.get_logger().error(f"query_points has {points.size} values: expected x, y pairs; ignored")
        self.tracks_publisher = self.create_publisher(PointCloud2, "~/tracks", 10)
        self.overlay_publisher = self.create_publisher(Image, "~/overlay", QoSProfile(depth=2))
        self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data)
        self.create_subscription(PolygonStamped, "~/queries", self._on_queries, 10)
        self.create_subscription(Image, "mask", self._on_mask, qos_profile_sensor_data)
        self._worker = NewestFrameWorker(self._process_latest, self.get_logger(), "tracker_worker")

    def _build_tracker(self) -> Tracker:
        from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig, resolve_device

        g = lambda name: self.get_parameter(name).value  # noqa: E731
        config = replace(OFFLINE_DEFAULT) if g("model") == "offline-default" else FeatureConfig()
        overrides = {k: g(k) for k in ("backbone", "weights", "adapter") if g(k)}
        config = replace(config, device=str(resolve_device(g("device"))), **overrides)
        features = DenseFeatures.create(config)
        self.get_logger().info(f"features: {features.describe()}")
        video = (g("video_height"), g("video_width")) if g("video_height") > 0 and g("video_width") > 0 else None
        return Tracker(features, replace(from_values(TrackerConfig(), g), video_size=video))

    def _declare_parameters(self) -> None:
        P = ParameterType
        d = lambda text, kind: ParameterDescriptor(description=text, type=kind)  # noqa: E731
        defaults = TrackerConfig()  # tracking defaults: the dataclass's (one source)
        self.declare_parameter("query_points", [0.0], d("initial queries [x0, y0, x1, y1, ...] in pixels ([] or [0.0]: none)", P.PARAMETER_DOUBLE_ARRAY))
        self.declare_parameter("grid_spacing", 0, d("> 0: query a grid of this spacing inside the latest 'mask'", P.PARAMETER_INTEGER))
        self.declare_parameter("model", "offline-default", d("features preset", P.PARAMETER_STRING))
        self.declare_parameter("backbone", "", d("override the backbone", P.PARAMETER_STRING))
        self.declare_parameter("weights", "", d("override the weights", P.PARAMETER_STRING))
        self.declare_parameter("adapter", "", d("override the adapter", P.PARAMETER_STRING))
        self.declare_parameter("device", "auto", d("cpu, cuda, cuda:N or auto", P.PARAMETER_STRING))
        declare_settings(self, defaults)  # tracking settings: names, defaults and help from TrackerConfig
        # video_size is a pair (a ROS parameter holds one number): two parameters, 0 = native size
        self.declare_parameter("video_height", defaults.video_size[0], d("frames are resized to this height for the ViT (0: native)", P.PARAMETER_INTEGER))
        self.declare_parameter("video_width", defaults.video_size[1], d("frames are resized to this width for the ViT (0: native)", P.PARAMETER_INTEGER))
        self.declare_parameter("publish_overlay", True, d("publish ~/overlay", P.PARAMETER_BOOL))

    def _on_queries(self, msg: PolygonStamped) -> None:
        points = np.array([[p.x, p.y] for p in msg.polygon.points], dtype=np.float32).reshape(-1, 2)
        if len(points) == 0:
            self.get_logger().warning("empty query polygon ignored")
            return
        with self._lock:
            self._new_queries = points

    def _on_mask(self, msg: Image) -> None:
        try:
            mask = conv.image_to_mask(msg)
        except ValueError as exc:
            self.get_logger().warning(f"mask ignored: {exc}", throttle_duration_sec=5.0)
            return
        with self._lock:
            self._mask = mask
            spacing = self.get_parameter("grid_spacing").value
            if spacing > 0 and not self.tracker.active and self._new_queries is None:
                points = grid_points_in_mask(mask, spacing)
                if len(points):
                    self._new_queries = points

    def _on_image(self, msg: Image) -> None:
        self._worker.offer(msg)

    @property
    def frames_dropped(self) -> int:
        return self._worker.dropped

    def _process_latest(self, msg: Image) -> None:
        with self._lock:
            queries, self._new_queries = self._new_queries, None
        self.process(msg, queries)

    def process(self, msg: Image, queries: np.ndarray | None) -> None:
        try:
            rgb = conv.image_to_rgb8(msg)
        except ValueError as exc:
            self.get_logger().warning(f"image skipped: {exc}", throttle_duration_sec=5.0)
            return
        if queries is not None:
            self.tracker.start(rgb, queries)
            self._query_count = len(queries)
        if not self.tracker.active:
            self.get_logger().info("no query points yet (query_points, ~/queries or a mask with grid_spacing)", throttle_duration_sec=10.0)
            return
        xy, visible, score = self.tracker.step(rgb)
        self.tracks_publisher.publish(conv.tracks_cloud(msg.header, xy, visible, score))
        if self.get_parameter("publish_overlay").value and self.overlay_publisher.get_subscription_count() > 0:
            import cv2

            overlay = rgb.copy()
            for (x, y), ok in zip(np.round(xy).astype(int), visible):
                cv2.circle(overlay, (int(x), int(y)), 3, (0, 220, 0) if ok else (220, 0, 0), -1)
            self.overlay_publisher.publish(conv.rgb8_to_image(overlay, msg.header))

    def shutdown_worker(self) -> bool:
        """Stop the frame worker; True when it has ended (see NewestFrameWorker.stop)."""
        return self._worker.stop()


def main(args=None) -> None:
    run_node(PointTrackerNode, "point_tracker", args)


if __name__ == "__main__":
    main()
