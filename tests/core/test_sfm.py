"""Teach from an unposed video: SfM camera poses on a rendered orbit (relative rotations within 1°,
metric scale within 1 % from the object's size, from an ArUco marker and from two marked
points), keyframes, clear errors."""

import numpy as np
import pytest

from mveq_core.crop import mask_box
from mveq_core.geometry import intrinsics_from_values, look_at
from mveq_core.sfm import (
    SfMError,
    longest_side,
    metric,
    object_points,
    reconstruct,
    relative_motion_errors,
    select_keyframes,
    sharpness,
    size_points,
)

K = intrinsics_from_values(520.0, 520.0, 239.5, 179.5)


@pytest.fixture(scope="module")
def orbit():
    return drill_orbit()


def drill_orbit():
    """(images, OpenCV poses, the centred drill mesh): the bundled drill seen from 24 cameras on a
    ring (10° apart, 25° up). Also used by scripts/realdata's object-size checks."""
    import torch._dynamo  # noqa: F401  (before the first GL context)
    import trimesh

    from mveq_core.bundled import SAMPLE_OBJECT
    from mveq_core.render import load_mesh

    drill = load_mesh(SAMPLE_OBJECT)
    if isinstance(drill, trimesh.Scene):
        drill = drill.to_geometry() if hasattr(drill, "to_geometry") else drill.dump(concatenate=True)
    lo, hi = drill.bounds
    drill.apply_translation(-(lo + hi) / 2)
    images, poses = _ring(drill, 1.6 * float(np.linalg.norm(hi - lo)), 24, 10.0, 25.0)
    return images, poses, drill


@pytest.fixture(scope="module")
def orbit_rec(orbit):
    """SIFT + pycolmap reconstruction of the orbit's 24 views."""
    return reconstruct(orbit[0], K)


def _ring(scene, radius: float, count: int, step_deg: float, elevation_deg: float):
    """Renders of ``scene`` from ``count`` cameras on a ring around the origin (OpenCV poses)."""
    from mveq_core.render import render_view

    images, poses = [], []
    e = np.radians(elevation_deg)
    for k in range(count):
        a = np.radians(step_deg * k)
        T = look_at(radius * np.array([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)]), np.zeros(3))
        images.append(render_view(scene, K, T, (360, 480), None, False).rgb)
        poses.append(T)
    return images, poses


def _relative_errors(rec, poses):
    """Relative rotation errors (degrees) and scale ratios over every pair of registered cameras."""
    rot, _, scale = relative_motion_errors(rec.T_cam_world, poses)
    return rot, scale


def test_orbit_poses_and_scale_from_object_size(orbit, orbit_rec):
    images, poses, drill = orbit
    rec = orbit_rec
    assert rec.registered_share >= 0.9 and rec.reprojection_error < 1.0
    ids = object_points(rec)
    size = longest_side(np.asarray(drill.sample(20000, seed=0)))
    measured = size_points(images, rec, K, ids)
    assert 0.8 * len(ids) < len(measured) < len(ids)  # 478 of 557 measured
    m = metric(rec, size, ids, measured)
    rot, scale = _relative_errors(m, poses)
    assert np.median(rot) < 1.0 and rot.max() < 2.0
    # issue 13's 1 %: measured 0.53 %, the side measured on the points inside the drill's
    # silhouette in every view; on all points a few SfM points floating off the surface set the
    # extremes (measured 2.1 %)
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
    assert len(m.object_point_ids) == len(ids)  # the object keeps all its points
    _, all_points = _relative_errors(metric(rec, size, ids), poses)
    assert abs(np.median(all_points) - 1.0) > 0.015, np.median(all_points)


def test_points_off_the_silhouettes_do_not_set_the_size():
    """A point floating off an object lands outside its silhouette in some view and is left out of
    the size; a view whose mask misses the object (a failed cut) is not used."""
    import cv2

    from mveq_core.geometry import project_points, transform_points
    from mveq_core.sfm import Reconstruction, silhouette_consistent

    rng = np.random.default_rng(0)
    half = np.array([0.1, 0.04, 0.03])  # a 20 x 8 x 6 cm box
    face = rng.integers(0, 3, 400)
    surface = rng.uniform(-1, 1, (400, 3)) * half
    surface[np.arange(400), face] = np.sign(rng.uniform(-1, 1, 400)) * half[face]
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * half
    floater = np.array([[0.14, 0.0, 0.0]])  # 4 cm past one end
    points = np.vstack([surface, corners, floater])
    T = {k: look_at(0.6 * np.array([np.cos(a), np.sin(a), 0.4]), np.zeros(3)) for k, a in enumerate(np.radians([0, 40, 80, 120, 160]))}
    rec = Reconstruction(T, points, {}, 0.3, 5)
    masks = {}
    for k, Tk in T.items():
        hull = cv2.convexHull(np.round(project_points(transform_points(Tk, corners), K)).astype(np.int32))
        masks[k] = cv2.fillConvexPoly(np.zeros((360, 480), np.uint8), hull, 1).astype(bool)
    masks[4] = np.zeros((360, 480), bool)  # a failed cut
    ids = np.arange(len(points))
    assert longest_side(points) == pytest.approx(0.24, rel=1e-6)  # the floater sets the longest side
    kept = silhouette_consistent(rec, K, ids, masks)
    assert len(points) - 1 not in kept and len(kept) >= len(points) - 10, len(kept)
    assert longest_side(points[kept]) == pytest.approx(0.2, rel=1e-6)

    # the same through GrabCut on pictures of the box (bright on dark noise), what teaching does;
    # a keyframe the box fills gets no cut (GrabCut needs background)
    from mveq_core.sfm import object_masks

    T[5] = look_at(np.array([0.09, 0.0, 0.07]), np.zeros(3))
    rec = Reconstruction(T, points, {}, 0.3, 6)
    frames = {}
    for k, Tk in T.items():
        image = rng.integers(0, 60, (360, 480, 3)).astype(np.uint8)
        hull = cv2.convexHull(np.round(project_points(transform_points(Tk, corners), K)).astype(np.int32))
        frames[k] = cv2.fillConvexPoly(image, hull, (220, 200, 90))
    cut = object_masks(frames, rec, K, ids)
    assert sorted(cut) == [0, 1, 2, 3, 4], sorted(cut)
    for k in range(4):
        assert (cut[k] & masks[k]).sum() > 0.95 * (cut[k] | masks[k]).sum(), k
    assert longest_side(points[size_points(frames, rec, K, ids)]) == pytest.approx(0.2, rel=1e-6)


def test_longest_side_is_the_longest_edge_of_the_smallest_box(orbit):
    """The size a user measures with a ruler: the bundled drill's longest edge is 18.5 cm (its
    axis-aligned box), also when the drill is turned; its principal axis would read 22.4 cm."""
    from scipy.spatial.transform import Rotation

    _, _, drill = orbit
    points = np.asarray(drill.sample(20000, seed=0))
    assert longest_side(points) == pytest.approx(float(np.ptp(drill.vertices, axis=0).max()), rel=2e-3)
    turned = points @ Rotation.from_euler("xyz", [30, -50, 70], degrees=True).as_matrix().T
    assert longest_side(turned) == pytest.approx(longest_side(points), rel=2e-3)
    with pytest.raises(SfMError, match="too few"):
        longest_side(points[:3])


def _marker_plane(side: float, z: float, y: float):
    """A textured square (ArUco DICT_4X4_50 id 7 with a white border) of ``side`` metres of marker,
    lying at height ``z`` centred at (0, ``y``), facing up."""
    import cv2

    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50), 7, 240)
    image = np.pad(marker, 60, constant_values=255)  # white border: 1/4 of the marker side each way
    half = side * (image.shape[0] / marker.shape[0]) / 2
    return _textured_plane(image, half, half, z, y)


def _textured_plane(grey: np.ndarray, half_x: float, half_y: float, z: float, y: float):
    """The image ``grey`` on a 2 ``half_x`` x 2 ``half_y`` metre rectangle lying at height ``z``
    centred at (0, ``y``), facing up."""
    import trimesh
    from PIL import Image

    vertices = np.array([[-half_x, y - half_y, z], [half_x, y - half_y, z], [half_x, y + half_y, z], [-half_x, y + half_y, z]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)
    visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(np.repeat(grey[..., None], 3, 2)))
    return trimesh.Trimesh(vertices, [[0, 1, 2], [0, 2, 3]], visual=visual, process=False)


def test_scale_from_an_aruco_marker(orbit):
    import torch._dynamo  # noqa: F401
    import trimesh

    from mveq_core.sfm import marker_scale

    _, _, drill = orbit
    lo, hi = drill.bounds
    side = 0.5 * float(np.linalg.norm(hi - lo))
    scene = trimesh.Scene([drill, _marker_plane(side, float(lo[2]) - 0.002, float(hi[1]) + 0.8 * side)])  # between the drill and the cameras
    images, poses = _ring(scene, 2.2 * float(np.linalg.norm(hi - lo)), 16, 12.0, 45.0)
    rec = reconstruct(images, K)
    assert rec.registered_share >= 0.75
    scaled = rec.scaled(marker_scale(images, rec, K, side))
    _, scale = _relative_errors(scaled, poses)
    # issue 13's 1 %: measured 0.05 % with AprilTag corner refinement (the marker in 6 of 16
    # keyframes); OpenCV's sub-pixel corners sit inside the marker (1.1 % small even from the
    # ground-truth cameras) and gave 0.5-0.9 % here, 2.3 % with the marker behind the drill
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
    with pytest.raises(SfMError, match="ArUco marker .* found in 0 registered keyframes"):
        marker_scale([np.zeros_like(im) for im in images], rec, K, side)


def test_scale_from_a_charuco_board(orbit, tiny_features):
    """A ChArUco board in view (`--charuco SX,SY,SQUARE,MARKER`): its chessboard corners seen in
    several keyframes, triangulated with the SfM cameras, give the metric scale within 1 %, also
    through `teach`; a board nowhere in view, or a wrong layout, is an error saying so."""
    import torch._dynamo  # noqa: F401
    import trimesh

    from mveq_core.sfm import CharucoBoard, charuco_scale
    from mveq_core.teach import teach

    _, _, drill = orbit
    lo, hi = drill.bounds
    board = CharucoBoard(5, 4, 0.05, 0.038)
    image = board.opencv().generateImage((500, 400), marginSize=0)  # 100 px a square, the board's exact extent
    plane = _textured_plane(image, 0.125, 0.10, float(lo[2]) - 0.002, float(hi[1]) + 0.11)  # between the drill and the cameras
    images, poses = _ring(trimesh.Scene([drill, plane]), 2.2 * float(np.linalg.norm(hi - lo)), 16, 12.0, 45.0)
    rec = reconstruct(images, K)
    assert rec.registered_share >= 0.75
    _, scale = _relative_errors(rec.scaled(charuco_scale(images, rec, K, board)), poses)
    # issue 13's 1 %: measured 0.27 % (4-12 of the 12 corners in each of the 16 keyframes; 0.04 %
    # from the ground-truth cameras, so the rest is the reconstruction's own error)
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
    _, report, taught = teach(tiny_features, images, K, "drill", keyframes=16, progress=False, dense=None, charuco=board)
    assert report.scale_from == "charuco"
    _, scale = _relative_errors(taught, [poses[k] for k in report.keyframes])
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
    with pytest.raises(SfMError, match=r"ChArUco board \(5x4 squares, DICT_4X4_50\) found in 0 registered keyframes"):
        charuco_scale([np.zeros_like(im) for im in images], rec, K, board)
    with pytest.raises(ValueError, match="smaller than the square side"):
        CharucoBoard(5, 4, 0.05, 0.06)
    with pytest.raises(ValueError, match="unknown ArUco dictionary 'DICT_9X9'"):
        CharucoBoard(5, 4, 0.05, 0.038, "DICT_9X9").opencv()


def test_scale_from_two_marked_points(orbit, orbit_rec):
    """Two points a user marked (their pixels in two frames each, a quarter turn apart, 0.5 px of click noise) and a
    ruler's distance between them give the metric scale within issue 13's 1 %; a point marked in
    one registered frame, or in frames too close together to place it in depth, is refused."""
    from mveq_core.sfm import marked_points_scale

    _, poses, drill = orbit
    rec = orbit_rec
    rng = np.random.default_rng(0)
    ends = drill.vertices[[np.argmin(drill.vertices[:, 0]), np.argmax(drill.vertices[:, 0])]]  # the drill's two ends
    registered = sorted(rec.T_cam_world)
    marks = []
    for X, frames in zip(ends, ((registered[0], registered[9]), (registered[3], registered[12]))):  # 90° apart
        seen = {}
        for k in frames:
            x = K @ (poses[k][:3, :3] @ X + poses[k][:3, 3])
            seen[k] = x[:2] / x[2] + rng.normal(0.0, 0.5, 2)
        marks.append(seen)
    distance = float(np.linalg.norm(ends[0] - ends[1]))
    scaled = rec.scaled(marked_points_scale(rec, K, marks, distance))
    _, scale = _relative_errors(scaled, poses)
    # measured 0.63 % (0.7 % with exact pixels: the reconstruction's own error; in 3 frames 40° apart
    # 0.95 %; the object's size on the same reconstruction: 2.1 %)
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
    one = {registered[0]: marks[0][registered[0]]}
    with pytest.raises(SfMError, match="point A is marked in 1 registered keyframes: mark it in at least 2"):
        marked_points_scale(rec, K, [one, marks[1]], distance)
    with pytest.raises(SfMError, match="point A: its frames see it only .* deg apart"):
        marked_points_scale(rec, K, marks, distance, min_angle_deg=100.0)
    with pytest.raises(ValueError, match="distance must be positive"):
        marked_points_scale(rec, K, marks, 0.0)


def test_teach_with_marked_points_keeps_their_frames_and_the_scale(orbit, tiny_features):
    """`teach(..., marked=...)` (the CLI's --mark-a/--mark-b/--mark-distance): frames a point was
    marked in become keyframes even when the sharpness choice left them out, and the taught cameras'
    relative motions come out within 1° and metric within 1 %."""
    from mveq_core.teach import teach

    images, poses, drill = orbit
    ends = drill.vertices[[np.argmin(drill.vertices[:, 0]), np.argmax(drill.vertices[:, 0])]]
    frames = ((5, 13), (7, 15))  # the side SIFT registers (the other faces the drill's plain side)
    marks = []
    for X, pair in zip(ends, frames):
        marks.append({k: (K @ (poses[k][:3, :3] @ X + poses[k][:3, 3]))[:2] / (K @ (poses[k][:3, :3] @ X + poses[k][:3, 3]))[2] for k in pair})
    _, report, rec = teach(tiny_features, images, K, "drill", keyframes=12, progress=False, dense=None,
                           marked=(marks, float(np.linalg.norm(ends[0] - ends[1]))))
    assert {5, 7, 13, 15} <= set(report.keyframes) and len(report.keyframes) == 15, report.keyframes  # 5, 7, 15 added
    assert report.to_json()["scale_from"] == "marked_points"
    rot, scale = _relative_errors(rec, [poses[k] for k in report.keyframes])
    assert np.median(rot) < 1.0, np.median(rot)  # 0.58° measured; issue 13's acceptance: within 1° and 1 % scale after the given size
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)  # 0.27 % measured (exact pixels)
    with pytest.raises(ValueError, match="a marked point's frame 30 is not one of the 24 frames"):
        teach(tiny_features, images, K, "drill", marked=([{30: (1.0, 2.0), 1: (3.0, 4.0)}, marks[1]], 0.1))


def test_keyframes_prefer_sharp_frames():
    rng = np.random.default_rng(0)
    sharp = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    import cv2

    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    frames = [blurred, sharp, blurred, blurred, blurred, sharp]
    assert sharpness(sharp) > 10 * sharpness(blurred)
    assert select_keyframes(frames, 2) == [1, 5]
    assert select_keyframes(frames[:2], 5) == [0, 1]


def test_clear_errors():
    blank = [np.full((120, 160, 3), 128, np.uint8)] * 4
    with pytest.raises(SfMError, match="at least 3"):
        reconstruct(blank[:2], K)
    with pytest.raises(SfMError, match="too little overlap or parallax"):
        reconstruct(blank, K)
    with pytest.raises(ValueError, match="object size must be positive"):
        from mveq_core.sfm import Reconstruction

        metric(Reconstruction({}, np.zeros((20, 3)), {}, 0.0, 4), 0.0, np.arange(20))


def test_undistort_frames_puts_points_where_the_pinhole_camera_sees_them():
    """A calibrated phone camera's distortion (camera JSON ``dist``) is removed before SfM: a point
    drawn where the distorted lens images it lands where the pinhole camera K would."""
    import cv2

    from mveq_core.sfm import undistort_frames

    K2 = np.array([[150.0, 0, 79.5], [0, 150.0, 59.5], [0, 0, 1]])
    dist = np.array([-0.25, 0.08, 0.001, -0.002])
    X = np.array([[0.45, 0.3, 1.0]])
    pinhole = (K2 @ X[0])[:2] / X[0, 2]
    distorted = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K2, dist)[0].reshape(2)
    assert np.linalg.norm(distorted - pinhole) > 4.0  # the lens moves it by pixels
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.circle(image, tuple(np.round(distorted * 16).astype(int)), 24, (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    out = undistort_frames([image, image], K2, dist)
    assert len(out) == 2 and out[0].shape == image.shape
    ys, xs = np.nonzero(out[0][..., 0] > 127)
    assert np.linalg.norm([xs.mean() - pinhole[0], ys.mean() - pinhole[1]]) < 0.5
    with pytest.raises(ValueError, match="distortion coefficients"):
        undistort_frames([image], K2, [0.1, 0.2, 0.3])


def test_cli_build_from_video_names_the_problem(tmp_path, capsys):
    from mveq_core.cli import main

    base = ["-q", "db", "build-from-video", "--backbone", "tiny_vit14", "--weights", "random", "--device", "cpu", "--out", str(tmp_path / "o.mvdb")]
    assert main(base) == 2
    assert "give one of --sequence (posed), --video or --frames (unposed)" in capsys.readouterr().err
    assert main([*base, "--frames", str(tmp_path / "none"), "--K", "500,500,320,240", "--object-size", "0.2"]) == 2
    assert "none: image folder not found" in capsys.readouterr().err
    (tmp_path / "frames").mkdir()
    for k in range(4):
        import cv2

        cv2.imwrite(str(tmp_path / "frames" / f"{k}.png"), np.full((120, 160, 3), 128, np.uint8))
    assert main([*base, "--frames", str(tmp_path / "frames"), "--K", "500,500,80,60", "--object-size", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "too little overlap or parallax" in err
    (tmp_path / "cam.json").write_text('{"fx": 500, "fy": 500, "cx": 80, "cy": 60, "dist": [0.1, 0.2, 0.3]}')
    assert main([*base, "--frames", str(tmp_path / "frames"), "--camera", str(tmp_path / "cam.json"), "--object-size", "0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cam.json: dist: distortion coefficients: expected 4, 5, 8, 12 or 14 numbers" in err
    frames = [*base, "--frames", str(tmp_path / "frames"), "--K", "500,500,80,60"]
    for extra, message in ((["--mark-a", "0:10,20", "1:12,20"], "needs --mark-a, --mark-b and --mark-distance together"),
                           (["--mark-a", "0:10,20", "--mark-b", "0:30,20", "1:31,20", "--mark-distance", "0.1"], "--mark-a: mark the point in at least 2 frames"),
                           (["--mark-a", "0:10;20", "1:12,20", "--mark-b", "0:30,20", "1:31,20", "--mark-distance", "0.1"], "--mark-a expects FRAME:X,Y (e.g. 0:312.5,140), got '0:10;20'"),
                           (["--mark-a", "0:10,20", "9:12,20", "--mark-b", "0:30,20", "1:31,20", "--mark-distance", "0.1"], "--mark-a 9:12,20: frame 9 is not one of the 4 frames (0-3)"),
                           (["--mark-a", "0:10,20", "1:12,20", "--mark-b", "0:30,20", "1:31,20", "--mark-distance", "-1"], "--mark-distance must be positive metres"),
                           (["--mark-a", "0:10,20", "1:12,20", "--mark-b", "0:30,20", "1:31,20", "--mark-distance", "0.1", "--object-size", "0.2"], "give the scale one way"),
                           (["--charuco", "7,5,0.04"], "--charuco 7,5,0.04: expects SX,SY,SQUARE,MARKER"),
                           (["--charuco", "7,5,0.04,0.05"], "--charuco 7,5,0.04,0.05: ChArUco marker side must be positive and smaller than the square side"),
                           (["--charuco", "7,5,0.04,0.03", "--marker-dictionary", "DICT_9X9"], "--marker-dictionary: unknown ArUco dictionary 'DICT_9X9'"),
                           (["--charuco", "7,5,0.04,0.03", "--object-size", "0.2"], "give the scale one way")):
        assert main([*frames, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, err


def test_dense_feature_matching_registers_the_orbit(orbit):
    """The dense-descriptor matcher (our features at SIFT keypoints, mutual NN, COLMAP's geometric
    verification): colour-only stand-in features still register the orbit and get its rotations."""
    from tests.helpers import CoordinateFeatures

    images, poses, _ = orbit
    rec = reconstruct(images, K, features=CoordinateFeatures(frequency=20.0))
    assert rec.registered_share >= 0.75, rec.registered_share
    rot, _ = _relative_errors(rec, poses)
    assert np.median(rot) < 2.0, np.median(rot)  # colour-only descriptors: about 1.2° measured


def test_cli_teach_pictures_and_pose_from_the_taught_database(orbit, tmp_path, capsys):
    """`mveq db build-from-video --frames` on the rendered orbit (offline default model): database,
    report and pictures; then frames that were not keyframes get poses from that database whose
    relative motions match the ground truth, through the library and through the ROS node."""
    import cv2

    from mveq_core.cli import main
    from mveq_core.database import load_database
    from mveq_core.features import DenseFeatures
    from mveq_core.io import read_image_rgb, read_json
    from mveq_core.pose import PoseEstimator

    images, poses, drill = orbit
    frames = tmp_path / "frames"
    frames.mkdir()
    for k, image in enumerate(images):
        cv2.imwrite(str(frames / f"{k:03d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    size = longest_side(np.asarray(drill.sample(20000, seed=0)))
    out = tmp_path / "drill.mvdb"
    args = ["-q", "db", "build-from-video", "--frames", str(frames), "--K", "520,520,239.5,179.5", "--object-size", f"{size:.4f}",
            "--keyframes", "16", "--name", "drill", "--model", "offline-default", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "scale from the object's size: 1.5-5 % off on real objects" in printed  # the user is told what to expect
    assert "the object's size was measured on " in printed
    report = read_json(out.with_suffix(".report.json"))
    assert report["scale_from"] == "object_size"
    # 16 keyframes of 24 views 10° apart: SIFT registers 12 (measured; the others face the drill's
    # plain side), the sheet marks the rest "not registered"
    assert len(report["keyframes"]) == 16 and report["registered_share"] >= 0.7, report
    assert report["dense_points"] > 10 * report["object_points"], report  # 35,925 dense on 294 SfM points (measured)
    picture = read_image_rgb(out.with_suffix(".reconstruction.png")).astype(int)
    red = (picture[..., 0] > 180) & (picture[..., 1] < 80) & (picture[..., 2] < 80)
    blue = (picture[..., 2] > 150) & (picture[..., 0] < 80)
    assert red.sum() > 200 and blue.sum() > 200  # object points and cameras are drawn
    sheet = read_image_rgb(out.with_suffix(".keyframes.jpg")).astype(int)
    box_colour = (sheet[..., 0] > 200) & (sheet[..., 1] > 150) & (sheet[..., 1] < 235) & (sheet[..., 2] < 90)
    assert box_colour.sum() > 500  # the object's box drawn in the registered keyframes

    db = load_database(out)
    features = DenseFeatures.create(db.feature_config("cpu"))
    estimator = PoseEstimator(features, [db])
    registered = set(report["registered"])  # queries: views between two registered keyframes, not in the database
    held_out = [k for k in range(1, len(images) - 1) if k not in report["keyframes"] and {k - 1, k + 1} <= registered]
    assert len(held_out) >= 3, report
    T = {}
    boxes = {k: mask_box(images[k].max(-1) > 0) for k in held_out}  # the drill's box on the black render (a detector's box)
    for k in held_out:
        result = estimator.estimate(images[k], K, box=boxes[k])["drill"]
        assert result.success, (k, result.reason)
        T[k] = result.T_cam_obj
    rot, _, scale = relative_motion_errors(T, poses)
    # relative camera motion between held-out frames (posed in their boxes) vs the ground truth:
    # measured 1.4-2.5° (median 2.1°; without a box, the two-pass search: 1.4-3.0°, median 2.5°);
    # a wrong pose is tens of degrees off
    assert np.median(rot) < 3.0 and rot.max() < 5.0, rot
    # metric scale from the object size: 3.5-5.4 % here (measured), where 12 registered views see
    # only part of the drill (0.5 % from all 24 views: test_orbit_poses_and_scale_from_object_size)
    assert abs(np.median(scale) - 1.0) < 0.15, scale

    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    from mveq_ros.pose_node import PoseEstimatorNode

    rclpy.init()
    try:
        node = PoseEstimatorNode(parameter_overrides=[Parameter("objects", Parameter.Type.STRING_ARRAY, [str(out)]), Parameter("model", Parameter.Type.STRING, "offline-default"), Parameter("device", Parameter.Type.STRING, "cpu")])
        try:
            assert sorted(node.estimator.databases) == ["drill"]
            k = held_out[0]
            via_node = node.estimator.estimate(images[k], K, box=boxes[k])["drill"]
            assert via_node.success
            np.testing.assert_allclose(via_node.T_cam_obj, T[k], atol=1e-6)  # the same estimator path
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown()


def test_centre_window_keeps_keypoints_in_the_middle(orbit):
    """With centre_window every reconstructed observation lies in the central window (COLMAP's
    extraction masks), and the orbit, whose object stays in the middle, still reconstructs."""
    images, poses, _ = orbit
    rec = reconstruct(images, K, centre_window=0.6)
    assert rec.registered_share >= 0.9
    h, w = images[0].shape[:2]
    xy = np.concatenate([o[0] for o in rec.observations.values()])
    assert xy[:, 0].min() >= w * 0.2 - 1 and xy[:, 0].max() <= w * 0.8 + 1 and xy[:, 1].min() >= h * 0.2 - 1 and xy[:, 1].max() <= h * 0.8 + 1
    full = reconstruct(images, K)
    all_xy = np.concatenate([o[0] for o in full.observations.values()])
    assert (all_xy[:, 0] < w * 0.2).any() or (all_xy[:, 0] > w * 0.8).any() or (all_xy[:, 1] < h * 0.2).any() or (all_xy[:, 1] > h * 0.8).any()
    rot, _ = _relative_errors(rec, poses)
    assert np.median(rot) < 1.0
    with pytest.raises(ValueError, match="centre_window"):
        reconstruct(images[:3], K, centre_window=1.5)


def test_relative_motion_summary_of_exact_and_scaled_cameras():
    """The summary the real-data scripts report: exact cameras give 0° everywhere; cameras whose
    translations are all doubled keep their rotations and report a scale ratio of 2."""
    from mveq_core.sfm import relative_motion_summary

    poses = [look_at(np.array([np.cos(a), np.sin(a), 0.3]), np.zeros(3)) for a in np.radians([0, 20, 45, 70])]
    exact = relative_motion_summary(dict(enumerate(poses)), poses, spread="p90")
    assert exact["pairs"] == 6 and exact["median_rotation_error_deg"] < 1e-4 and exact["p90_rotation_error_deg"] < 1e-4  # arccos noise: ~1e-6°
    doubled = {k: np.vstack([np.c_[T[:3, :3], 2 * T[:3, 3]], [0, 0, 0, 1]]) for k, T in enumerate(poses)}
    summary = relative_motion_summary(doubled, poses)
    assert summary["max_rotation_error_deg"] < 1e-4 and abs(summary["median_scale_ratio"] - 2.0) < 1e-9
    assert relative_motion_summary({0: poses[0]}, poses) == {"pairs": 0}


def test_teach_with_the_object_size_recovers_the_orbit_within_1_degree_and_1_percent(orbit, tiny_features):
    """Issue 13's acceptance on the rendered orbit through `teach` (the CLI's --object-size): every
    view a keyframe, the cameras' relative motions within 1° and the metric scale within 1 % after
    the given size (the side measured inside the keyframes' silhouettes)."""
    from mveq_core.teach import teach

    images, poses, drill = orbit
    size = longest_side(np.asarray(drill.sample(20000, seed=0)))
    _, report, rec = teach(tiny_features, images, K, "drill", object_size=size, keyframes=len(images), progress=False, dense=None)
    assert report.scale_from == "object_size" and len(report.registered) >= 22, report
    assert 0 < report.size_points < report.object_points, report  # the size measured inside the silhouettes
    rot, scale = _relative_errors(rec, [poses[k] for k in report.keyframes])
    assert np.median(rot) < 1.0, np.median(rot)  # 0.78° measured
    # 0.53 % measured (2.1 % with the side of all object points; with 16 keyframes, of which 12
    # register, the points cover only part of the drill: 3.8-3.9 % either way)
    assert abs(np.median(scale) - 1.0) < 0.01, np.median(scale)
