import numpy as np
import trimesh

from mveq_core.correspondences import dense_correspondences
from mveq_core.geometry import intrinsics_from_values, invert_transform, look_at, project_points, transform_points, unproject_points
from mveq_core.render import Renderer

RADIUS = 0.05


def _ray_sphere(origin, directions, radius):
    """First intersection distance of rays (unit directions) with a sphere at the origin."""
    b = directions @ origin
    c = origin @ origin - radius**2
    disc = b**2 - c
    return -b - np.sqrt(np.maximum(disc, 0.0))


def _segment_hits_box(points, target, lo, hi):
    """Whether the segment from each point to ``target`` crosses the axis-aligned box [lo, hi]."""
    d = target - points
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (lo - points) / d, (hi - points) / d
    t_near = np.nanmax(np.minimum(t1, t2), axis=1)
    t_far = np.nanmin(np.maximum(t1, t2), axis=1)
    return (t_near <= t_far) & (t_far > 1e-6) & (t_near < 1.0)


def test_reprojection_accuracy_and_occlusion_on_analytic_shapes():
    sphere = trimesh.creation.icosphere(subdivisions=6, radius=RADIUS)
    # A thin plate hides part of the sphere from camera B only.
    plate = trimesh.creation.box(extents=(0.03, 0.03, 0.002))
    plate.apply_translation([0.0, -0.06, 0.07])
    scene_b_blocker = trimesh.util.concatenate([sphere, plate])
    K = intrinsics_from_values(400, 400, 79.5, 79.5)
    T_a = look_at(np.array([0.0, -0.15, 0.25]))
    T_b = look_at(np.array([0.0, -0.25, 0.12]))
    with Renderer(160, 160) as r:
        a = r.render(sphere, K, T_a)
        b = r.render(scene_b_blocker, K, T_b)
    corr = dense_correspondences(a.depth, K, T_a, b.depth, K, T_b, a.mask)
    assert len(corr) > 1000

    # Analytic reference: intersect A's pixel rays with the true sphere, project into B.
    centre_a = invert_transform(T_a)[:3, 3]
    rays_cam = unproject_points(corr.xy_a, np.ones(len(corr)), K)
    rays = rays_cam @ invert_transform(T_a)[:3, :3].T
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    hits = centre_a + rays * _ray_sphere(centre_a, rays, RADIUS)[:, None]
    expected_b = project_points(transform_points(T_b, hits), K)
    error = np.linalg.norm(expected_b - corr.xy_b, axis=1)
    # At grazing angles a pixel may straddle the silhouette (its ray misses the analytic sphere
    # while the tessellated one covers it) and the rasterizer's sub-pixel vertex snapping turns
    # into millimetres of depth: judge surfaces seen within 60 degrees of their normal.
    incidence_a = np.abs(np.einsum("ij,ij->i", rays, hits / RADIUS))
    to_b_dir = invert_transform(T_b)[:3, 3] - hits
    incidence_b = np.einsum("ij,ij->i", to_b_dir / np.linalg.norm(to_b_dir, axis=1, keepdims=True), hits / RADIUS)
    well_defined = (incidence_a > 0.5) & (incidence_b > 0.5)
    assert well_defined.sum() > 1000
    assert np.percentile(error[well_defined], 99) < 0.5, np.percentile(error[well_defined], 99)
    assert np.median(error[well_defined]) < 0.15

    # Every kept point faces camera B (up to B's silhouette, where a pixel's footprint reaches
    # just over the horizon) and no ray to B passes through the plate.
    centre_b = invert_transform(T_b)[:3, 3]
    to_b_unit = (centre_b - hits) / np.linalg.norm(centre_b - hits, axis=1, keepdims=True)
    facing_cos = np.einsum("ij,ij->i", hits / RADIUS, to_b_unit)
    assert facing_cos.min() > -0.1, facing_cos.min()
    assert (facing_cos < 0).mean() < 0.01
    kept_behind_plate = _segment_hits_box(hits, centre_b, *plate.bounds).sum()

    # And the excluded pixels are exactly the hidden ones (up to silhouette pixels).
    all_xy = np.stack(np.nonzero(a.mask)[::-1], 1).astype(float)
    all_rays = unproject_points(all_xy, np.ones(len(all_xy)), K) @ invert_transform(T_a)[:3, :3].T
    all_rays /= np.linalg.norm(all_rays, axis=1, keepdims=True)
    all_hits = centre_a + all_rays * _ray_sphere(centre_a, all_rays, RADIUS)[:, None]
    hidden = (np.einsum("ij,ij->i", all_hits, centre_b - all_hits) <= 0) | _segment_hits_box(all_hits, centre_b, *plate.bounds)
    behind_plate = _segment_hits_box(all_hits, centre_b, *plate.bounds).sum()
    assert behind_plate > 1000
    # Only pixels along the plate's outline in B (sub-pixel from its edge) may slip through.
    assert kept_behind_plate < 0.03 * behind_plate
    assert len(corr) <= len(all_xy) - hidden.sum() + 0.02 * len(all_xy)
