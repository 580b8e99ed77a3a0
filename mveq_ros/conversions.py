"""Message conversions: sensor_msgs Image/CameraInfo <-> numpy, PoseResult -> pose, TF, markers, clouds.

Uses cv_bridge for images when it is importable (ROS installs); otherwise the converter here handles
rgb8, bgr8, rgba8, bgra8, mono8, mono16, 16UC1 and 32FC1, honouring ``step`` padding and
``is_bigendian``. Any other encoding is rejected with an error that names it.
"""

from __future__ import annotations

import numpy as np

# encoding -> (channels, numpy dtype)
ENCODINGS = {
    "rgb8": (3, np.uint8),
    "bgr8": (3, np.uint8),
    "rgba8": (4, np.uint8),
    "bgra8": (4, np.uint8),
    "mono8": (1, np.uint8),
    "8UC1": (1, np.uint8),
    "mono16": (1, np.uint16),
    "16UC1": (1, np.uint16),
    "32FC1": (1, np.float32),
}

try:  # ROS installs have cv_bridge; the PyPI wheels do not
    from cv_bridge import CvBridge  # type: ignore

    _BRIDGE = CvBridge()
except Exception:  # pragma: no cover - depends on the installation
    _BRIDGE = None


class ImageConversionError(ValueError):
    """An image message that cannot be turned into an array (the message says why)."""


def image_to_array(msg) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as an (H, W) or (H, W, C) array of its own dtype."""
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise ImageConversionError(f"unsupported image encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"image of zero size ({width} x {height})")
    channels, dtype = ENCODINGS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} < width {width} x {channels} channels x {np.dtype(dtype).itemsize} bytes ({row_bytes})")
    data = bytes(msg.data) if not isinstance(msg.data, (bytes, bytearray)) else msg.data
    if len(data) < step * (height - 1) + row_bytes:
        raise ImageConversionError(f"data has {len(data)} bytes but height {height} x step {step} needs {step * height}")
    if _BRIDGE is not None:
        try:
            return np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        except Exception:  # fall back to our converter on cv_bridge's own failures
            pass
    rows = np.frombuffer(data, dtype=np.uint8, count=step * (height - 1) + row_bytes)
    rows = np.lib.stride_tricks.as_strided(rows, shape=(height, row_bytes), strides=(step, 1))
    big = bool(msg.is_bigendian)
    typed = np.dtype(dtype).newbyteorder(">" if big else "<") if np.dtype(dtype).itemsize > 1 else np.dtype(dtype)
    array = np.ascontiguousarray(rows).view(typed).astype(dtype, copy=False)
    if not array.flags.writeable:  # a view of the message's buffer: give the caller its own pixels
        array = array.copy()
    return array.reshape(height, width, channels) if channels > 1 else array.reshape(height, width)


def image_to_rgb8(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a colour or grey image message."""
    array = image_to_array(msg)
    encoding = msg.encoding
    if encoding == "rgb8":
        return np.ascontiguousarray(array)
    if encoding == "bgr8":
        return np.ascontiguousarray(array[..., ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(array[..., :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(array[..., 2::-1])
    if encoding in ("mono8", "8UC1"):
        return np.repeat(array[..., None], 3, axis=2)
    if encoding in ("mono16", "16UC1"):
        return np.repeat((array >> 8).astype(np.uint8)[..., None], 3, axis=2)
    raise ImageConversionError(f"{encoding!r} holds depth or float data, not a colour image")


def image_to_mask(msg) -> np.ndarray:
    """(H, W) bool mask: non-zero pixels of a mono or colour image message."""
    array = image_to_array(msg)
    return array.any(axis=2) if array.ndim == 3 else array > 0


def image_to_depth(msg, shape: tuple[int, int] | None = None) -> np.ndarray:
    """(H, W) float32 metres, NaN where invalid, from a depth image message (REP 118: 16UC1 in
    millimetres, 32FC1 in metres); ``shape``: the colour image's (H, W), which it must match."""
    if msg.encoding not in ("16UC1", "mono16", "32FC1"):
        raise ImageConversionError(f"depth encoding {msg.encoding!r} is not 16UC1 (mm) or 32FC1 (m)")
    from mveq_core.depth import check_depth, depth_in_metres

    array = image_to_array(msg)
    return check_depth(depth_in_metres(array), array.shape if shape is None else shape, name="depth image")


def rgb8_to_image(rgb: np.ndarray, header):
    """sensor_msgs/Image (rgb8) from an (H, W, 3) uint8 array."""
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb, dtype=np.uint8).tobytes()
    return msg


def array_to_image(array: np.ndarray, encoding: str, header=None, step: int | None = None, big_endian: bool = False):
    """sensor_msgs/Image of any supported encoding (tests and tools use it; ``step`` may pad rows)."""
    from sensor_msgs.msg import Image

    channels, dtype = ENCODINGS[encoding]
    array = np.asarray(array, dtype=np.dtype(dtype).newbyteorder(">" if big_endian else "<"))
    h, w = array.shape[:2]
    row = array.reshape(h, -1).view(np.uint8).reshape(h, -1)
    step = step or row.shape[1]
    padded = np.zeros((h, step), np.uint8)
    padded[:, : row.shape[1]] = row
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding, msg.step = h, w, encoding, step
    msg.is_bigendian = int(big_endian)
    msg.data = padded.tobytes()
    return msg


def camera_info_to_K(msg) -> tuple[np.ndarray, np.ndarray | None]:
    """(K (3, 3), distortion or None) of a sensor_msgs/CameraInfo; invalid intrinsics raise ValueError."""
    from mveq_core.geometry import check_intrinsics

    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"camera_info has invalid intrinsics K = {K.reshape(-1).tolist()}")
    K = check_intrinsics(K, "camera_info K")
    d = np.asarray(msg.d, dtype=np.float64)
    if d.size and not np.all(np.isfinite(d)):
        raise ValueError(f"camera_info has non-finite distortion {d.tolist()}")
    if msg.distortion_model not in ("", "plumb_bob", "rational_polynomial") and d.size and np.any(d):
        raise ValueError(f"camera_info distortion model {msg.distortion_model!r} is not supported (plumb_bob, rational_polynomial)")
    return K, (d if d.size and np.any(d) else None)


def quaternion_xyzw(R: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(R).as_quat()  # (x, y, z, w)


def pose_stamped(T: np.ndarray, header):
    from geometry_msgs.msg import PoseStamped

    msg = PoseStamped()
    msg.header = header
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in T[:3, 3])
    q = quaternion_xyzw(T[:3, :3])
    msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = (float(v) for v in q)
    return msg


def pose_msg_to_matrix(pose) -> np.ndarray:
    """(4, 4) from a geometry_msgs/Pose."""
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    q = pose.orientation
    T[:3, :3] = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
    T[:3, 3] = [pose.position.x, pose.position.y, pose.position.z]
    return T


def transform_stamped(T: np.ndarray, header, child_frame: str):
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped()
    msg.header = header
    msg.child_frame_id = child_frame
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (float(v) for v in T[:3, 3])
    q = quaternion_xyzw(T[:3, :3])
    msg.transform.rotation.x, msg.transform.rotation.y, msg.transform.rotation.z, msg.transform.rotation.w = (float(v) for v in q)
    return msg


def object_marker(T: np.ndarray | None, header, marker_id: int, name: str, bbox, mesh_path: str | None):
    """A mesh marker (file:// resource) when the mesh file exists, else a box; DELETE when T is None."""
    import os

    from visualization_msgs.msg import Marker

    marker = Marker()
    marker.header = header
    marker.ns = name
    marker.id = marker_id
    if T is None:
        marker.action = Marker.DELETE
        return marker
    marker.action = Marker.ADD
    lo, hi = np.asarray(bbox[0], float), np.asarray(bbox[1], float)
    if mesh_path and os.path.isfile(mesh_path):
        marker.type = Marker.MESH_RESOURCE
        marker.mesh_resource = "file://" + os.path.abspath(mesh_path)
        marker.mesh_use_embedded_materials = True
        marker.scale.x = marker.scale.y = marker.scale.z = 1.0
        centre_T = T
    else:
        marker.type = Marker.CUBE
        marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in np.maximum(hi - lo, 1e-3))
        centre_T = T.copy()
        centre_T[:3, 3] = T[:3, :3] @ ((lo + hi) / 2) + T[:3, 3]
    marker.pose = pose_stamped(centre_T, header).pose
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = 0.1, 0.9, 0.2, 0.6
    return marker


def tracks_cloud(header, xy: np.ndarray, visible: np.ndarray, scores: np.ndarray, ids: np.ndarray | None = None):
    """sensor_msgs/PointCloud2 with fields u, v (float32 pixels), visible (uint8), id (uint32), score (float32)."""
    from sensor_msgs.msg import PointCloud2, PointField

    n = len(xy)
    ids = np.arange(n, dtype=np.uint32) if ids is None else np.asarray(ids, np.uint32)
    dtype = np.dtype([("u", "<f4"), ("v", "<f4"), ("visible", "u1"), ("pad", "u1", (3,)), ("id", "<u4"), ("score", "<f4")])
    data = np.zeros(n, dtype=dtype)
    data["u"], data["v"] = xy[:, 0], xy[:, 1]
    data["visible"] = np.asarray(visible, bool)
    data["id"] = ids
    data["score"] = scores
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = 1, n
    msg.fields = [
        PointField(name="u", offset=0, datatype=PointField.FLOAT32, count=1),
        PointField(name="v", offset=4, datatype=PointField.FLOAT32, count=1),
        PointField(name="visible", offset=8, datatype=PointField.UINT8, count=1),
        PointField(name="id", offset=12, datatype=PointField.UINT32, count=1),
        PointField(name="score", offset=16, datatype=PointField.FLOAT32, count=1),
    ]
    msg.is_bigendian = False  # fields are written little-endian explicitly
    msg.point_step = dtype.itemsize
    msg.row_step = dtype.itemsize * n
    msg.is_dense = True
    msg.data = data.tobytes()
    return msg


def cloud_to_tracks(msg) -> dict[str, np.ndarray]:
    """Read back a tracks cloud written by :func:`tracks_cloud` (tests, tools)."""
    offsets = {f.name: f.offset for f in msg.fields}
    raw = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.width * msg.height, msg.point_step)

    def field(name, dtype):
        return raw[:, offsets[name] : offsets[name] + np.dtype(dtype).itemsize].copy().view(dtype).reshape(-1)

    return {"u": field("u", "<f4"), "v": field("v", "<f4"), "visible": field("visible", "u1").astype(bool), "id": field("id", "<u4"), "score": field("score", "<f4")}
