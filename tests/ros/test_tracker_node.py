"""The point_tracker node over real rclpy: queries on a topic, PointCloud2 tracks out."""

import math
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")

from geometry_msgs.msg import Point32, PolygonStamped  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from mveq_core.geometry import intrinsics_from_values, make_transform, project_points, rotation_matrix_axis_angle, transform_points  # noqa: E402
from mveq_core.render import render_view  # noqa: E402
from mveq_core.tracking import Tracker, TrackerConfig  # noqa: E402
from mveq_ros import conversions as conv  # noqa: E402
from mveq_ros.tracker_node import PointTrackerNode  # noqa: E402
from tests.helpers import CoordinateFeatures, coordinate_coloured  # noqa: E402

K = intrinsics_from_values(220.0, 220.0, 95.5, 71.5)


def test_tracks_published_as_pointcloud2_with_the_right_fields(ros, procedural_mesh, spinner_factory):
    import rclpy

    mesh = coordinate_coloured(procedural_mesh)[0]
    poses = [make_transform(rotation_matrix_axis_angle(np.array([0, 1.0, 0]), math.radians(4 * t)), np.array([0.003 * t, 0.0, 0.6])) for t in range(4)]
    views = [render_view(mesh, K, T, (144, 192), None, False, flat=True) for T in poses]
    # query: object points near the middle of the first view
    ys, xs = np.nonzero(views[0].mask)
    pick = np.argsort((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)[:5]
    query_xy = np.stack([xs[pick], ys[pick]], 1).astype(float)
    from mveq_core.geometry import unproject_points

    xyz_cam = unproject_points(query_xy, views[0].depth[ys[pick], xs[pick]].astype(float), K)
    xyz_obj = transform_points(np.linalg.inv(poses[0]), xyz_cam)

    tracker = Tracker(CoordinateFeatures(frequency=60.0), TrackerConfig(patch_stride=None, softmax_radius_px=3.0, softmax_temperature=0.05))
    node = PointTrackerNode(tracker=tracker)
    probe = rclpy.create_node("tracker_probe")
    clouds = []
    probe.create_subscription(PointCloud2, "/point_tracker/tracks", clouds.append, 10)
    image_pub = probe.create_publisher(Image, "/image", 10)
    query_pub = probe.create_publisher(PolygonStamped, "/point_tracker/queries", 10)
    spinner = spinner_factory(node, probe)
    assert spinner.wait_for(lambda: image_pub.get_subscription_count() > 0 and query_pub.get_subscription_count() > 0, 20)

    polygon = PolygonStamped()
    polygon.polygon.points = [Point32(x=float(x), y=float(y)) for x, y in query_xy]
    query_pub.publish(polygon)
    time.sleep(0.3)
    for t, view in enumerate(views):
        header = Header(frame_id="cam")
        header.stamp.sec = t + 1
        image_pub.publish(conv.rgb8_to_image(view.rgb, header))
        assert spinner.wait_for(lambda: len(clouds) >= t + 1, 30)
    last = clouds[-1]
    assert [f.name for f in last.fields] == ["u", "v", "visible", "id", "score"] and last.header.stamp.sec == 4
    tracks = conv.cloud_to_tracks(last)
    expected = project_points(transform_points(poses[-1], xyz_obj), K)
    assert np.abs(np.stack([tracks["u"], tracks["v"]], 1) - expected).max() < 2.0
    assert tracks["visible"].all() and tracks["id"].tolist() == [0, 1, 2, 3, 4]
    node.shutdown_worker()
    node.destroy_node()
