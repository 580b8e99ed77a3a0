"""Databases from reference videos: 3D points from depth, from the mesh, from SfM pairs."""

import numpy as np
import pytest

from mveq_core.database import DatabaseError
from mveq_core.geometry import intrinsics_from_values
from mveq_core.metrics.pose import query_pose_error
from mveq_core.objects import MeshObject, held_out_pose
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.reference_database import ReferenceCropConfig, ReferenceFrame, build_database_from_frames
from mveq_core.render import ViewConfig, render_view
from tests.helpers import CoordinateFeatures, coordinate_coloured

K = intrinsics_from_values(256.0, 256.0, 127.5, 127.5)


@pytest.fixture(scope="module")
def scene(procedural_mesh):
    mesh = coordinate_coloured(procedural_mesh)[0]
    obj = MeshObject(mesh, "toy", ViewConfig())
    rng = np.random.default_rng(4)
    poses = []
    for _ in range(30):
        T = held_out_pose(obj, rng)
        T[:3, 3] *= 1.8
        poses.append(T)
    views = [render_view(mesh, K, T, (256, 256), None, False, flat=True) for T in poses]
    return mesh, views


def _accuracy(features, db, views):
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=256))
    errors = [query_pose_error(estimator.estimate(v.rgb, K)["toy"].T_cam_obj, v.T_cam_obj) for v in views]
    return max(e[0] for e in errors), max(e[1] for e in errors)


@pytest.mark.parametrize("points,cropped", [("depth_mask", True), ("depth_box", True), ("mesh", True), ("sfm", True), ("depth_mask", False), ("mesh", False)])
def test_video_databases_localise_held_out_frames(scene, points, cropped):
    mesh, views = scene
    features = CoordinateFeatures()
    reference, held_out = views[:24], views[24:27]
    frames = []
    for v in reference:
        frame = ReferenceFrame(v.rgb, K, v.T_cam_obj)
        if points.startswith("depth"):
            # a real sensor sees the background too: depth everywhere, the object only in the box
            frame.depth = np.where(v.mask, v.depth, 1.5).astype(np.float32)
            frame.mask = v.mask if points == "depth_mask" else None
        elif points == "sfm":
            from mveq_core.geometry import depth_to_object_points

            xy, xyz = depth_to_object_points(v.depth, K, v.T_cam_obj, v.mask)
            frame.xy, frame.xyz = xy[::3], xyz[::3]  # sparse, like SfM keypoints
        frames.append(frame)
    kind = "depth" if points.startswith("depth") else points
    db = build_database_from_frames(features, frames, "toy", points=kind, mesh=mesh if kind == "mesh" else None, bbox3d=np.asarray(mesh.bounds) if points == "depth_box" else None, progress=False, crop=ReferenceCropConfig(enabled=cropped, input_size=256))
    assert db.meta.source == f"video:{kind}:{'crop' if cropped else 'whole'}" and db.meta.views == 24
    assert np.all(db.xyz >= mesh.bounds[0] - 1e-3) and np.all(db.xyz <= mesh.bounds[1] + 1e-3)  # no background points
    rot, trans_cm = _accuracy(features, db, held_out)
    assert rot < 2.0 and trans_cm < 0.5, (points, rot, trans_cm)  # 60 px object, 24 frames of points


def test_depth_without_mask_or_box_is_refused(scene):
    mesh, views = scene
    frame = ReferenceFrame(views[0].rgb, K, views[0].T_cam_obj, depth=views[0].depth)
    with pytest.raises(DatabaseError, match="bbox3d"):
        build_database_from_frames(CoordinateFeatures(), [frame], "toy", points="depth", progress=False)


def test_mesh_points_keep_only_visible_pixels(scene, tiny_features):
    """A mesh-built reference frame drops pixels hidden by another posed object, and pixels whose
    measured depth disagrees with the rendered one."""
    import trimesh

    mesh, views = scene
    view = views[0]
    lo, hi = mesh.bounds
    occluder = trimesh.creation.box(extents=((hi - lo)[0] * 0.6, (hi - lo)[1] * 2, 0.01))
    centre_cam = view.T_cam_obj[:3, :3] @ ((lo + hi) / 2) + view.T_cam_obj[:3, 3]
    T_occ = np.eye(4)
    T_occ[:3, 3] = centre_cam - [0.0, 0.0, 0.1]  # a plate between camera and object, covering its middle
    plate = render_view(occluder, K, T_occ, (256, 256), None, False)
    hidden = plate.mask & view.mask & (plate.depth < view.depth)  # the object's parts behind the plate
    assert hidden.sum() > 200
    crop = ReferenceCropConfig(enabled=False)
    plain = build_database_from_frames(tiny_features, [ReferenceFrame(view.rgb, K, view.T_cam_obj)], "toy", points="mesh", mesh=mesh, progress=False, crop=crop)
    occluded = build_database_from_frames(tiny_features, [ReferenceFrame(view.rgb, K, view.T_cam_obj, occluders=[(occluder, T_occ)])], "toy", points="mesh", mesh=mesh, progress=False, crop=crop)
    px = lambda db: np.round(db.pixels).astype(int)  # noqa: E731
    assert hidden[px(plain)[:, 1], px(plain)[:, 0]].sum() > 10
    assert hidden[px(occluded)[:, 1], px(occluded)[:, 0]].sum() == 0
    assert len(occluded) < len(plain)
    # a measured depth map that sees something 5 cm nearer over the left half hides that half
    depth = np.where(view.mask, view.depth, 0).astype(np.float32)
    depth[:, :128] -= 0.05
    measured = build_database_from_frames(tiny_features, [ReferenceFrame(view.rgb, K, view.T_cam_obj, depth=depth)], "toy", points="mesh", mesh=mesh, progress=False, crop=crop)
    assert (px(measured)[:, 0] < 128).sum() == 0 and (px(measured)[:, 0] >= 128).sum() > 10
