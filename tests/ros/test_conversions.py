import numpy as np
import pytest

pytest.importorskip("sensor_msgs", reason="ROS message packages not installed")

from sensor_msgs.msg import CameraInfo  # noqa: E402

from mveq_ros import conversions as conv  # noqa: E402


@pytest.mark.parametrize("encoding", list(conv.ENCODINGS))
@pytest.mark.parametrize("big_endian", [False, True])
def test_every_encoding_roundtrips_with_row_padding(encoding, big_endian):
    channels, dtype = conv.ENCODINGS[encoding]
    rng = np.random.default_rng(0)
    shape = (5, 7, channels) if channels > 1 else (5, 7)
    array = (rng.random(shape) * 1000).astype(dtype) if dtype != np.uint8 else rng.integers(0, 256, shape).astype(np.uint8)
    msg = conv.array_to_image(array, encoding, step=7 * channels * np.dtype(dtype).itemsize + 6, big_endian=big_endian)
    np.testing.assert_array_equal(conv.image_to_array(msg), array)


def test_colour_conversions():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    assert np.array_equal(conv.image_to_rgb8(conv.array_to_image(rgb[..., ::-1], "bgr8")), rgb)
    bgra = np.concatenate([rgb[..., ::-1], np.full((4, 6, 1), 255, np.uint8)], axis=2)
    assert np.array_equal(conv.image_to_rgb8(conv.array_to_image(bgra, "bgra8")), rgb)
    grey = conv.image_to_rgb8(conv.array_to_image(rgb[..., 0], "mono8"))
    assert grey.shape == (4, 6, 3) and np.array_equal(grey[..., 2], rgb[..., 0])
    with pytest.raises(ValueError, match="32FC1"):
        conv.image_to_rgb8(conv.array_to_image(np.zeros((2, 2), np.float32), "32FC1"))


def test_bad_images_name_the_problem():
    msg = conv.array_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.encoding = "yuv422"
    with pytest.raises(ValueError, match="'yuv422'"):
        conv.image_to_rgb8(msg)
    msg = conv.array_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.height = 40
    with pytest.raises(ValueError, match="data has 48 bytes"):
        conv.image_to_rgb8(msg)
    msg = conv.array_to_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    msg.step = 5
    with pytest.raises(ValueError, match="step 5"):
        conv.image_to_rgb8(msg)
    msg.height = msg.width = 0
    with pytest.raises(ValueError, match="zero size"):
        conv.image_to_rgb8(msg)


def test_camera_info_validation():
    info = CameraInfo()
    info.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    K, dist = conv.camera_info_to_K(info)
    assert K[0, 0] == 500 and dist is None
    info.d = [0.1, -0.05, 0.0, 0.0, 0.0]
    info.distortion_model = "plumb_bob"
    assert conv.camera_info_to_K(info)[1].tolist() == [0.1, -0.05, 0.0, 0.0, 0.0]
    info.k = [0.0] * 9
    with pytest.raises(ValueError, match="invalid intrinsics"):
        conv.camera_info_to_K(info)
    info.k = [float("nan")] * 9
    with pytest.raises(ValueError, match="invalid intrinsics"):
        conv.camera_info_to_K(info)


def test_pose_and_tracks_messages():
    from std_msgs.msg import Header

    from mveq_core.geometry import make_transform, random_rotation

    T = make_transform(random_rotation(np.random.default_rng(3)), np.array([0.1, -0.2, 0.7]))
    msg = conv.pose_stamped(T, Header(frame_id="cam"))
    np.testing.assert_allclose(conv.pose_msg_to_matrix(msg.pose), T, atol=1e-9)
    tf = conv.transform_stamped(T, Header(frame_id="cam"), "obj")
    assert tf.child_frame_id == "obj" and tf.transform.translation.z == pytest.approx(0.7)
    xy = np.array([[1.5, 2.5], [10.0, 20.0]], np.float32)
    cloud = conv.tracks_cloud(Header(frame_id="cam"), xy, np.array([True, False]), np.array([0.9, 0.2], np.float32))
    assert [f.name for f in cloud.fields] == ["u", "v", "visible", "id", "score"]
    back = conv.cloud_to_tracks(cloud)
    np.testing.assert_allclose(back["u"], xy[:, 0])
    np.testing.assert_allclose(back["v"], xy[:, 1])
    np.testing.assert_allclose(back["score"], [0.9, 0.2], rtol=1e-6)
    assert back["visible"].tolist() == [True, False] and back["id"].tolist() == [0, 1]
