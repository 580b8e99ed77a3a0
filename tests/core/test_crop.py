"""Crop geometry: a point seen in a crop maps back to the same object point."""

import numpy as np
import pytest

from mveq_core.crop import Crop, enlarged_box, in_box, mask_box
from mveq_core.geometry import depth_to_object_points, make_transform, project_points, transform_points

K = np.array([[600.0, 0.0, 319.5], [0.0, 610.0, 239.5], [0.0, 0.0, 1.0]])


def test_enlarged_box_and_mask_box():
    assert enlarged_box((480, 640), [100, 100, 200, 150], 0.1) == (90, 95, 210, 155)
    assert enlarged_box((480, 640), [0, 0, 640, 480], 0.5) == (0, 0, 640, 480)  # clipped
    with pytest.raises(ValueError, match="x1 > x0"):
        enlarged_box((480, 640), [10, 10, 5, 20], 0.1)
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert mask_box(mask) == [3.0, 2.0, 9.0, 5.0]
    assert mask_box(np.zeros((4, 4), bool)) is None


@pytest.mark.parametrize("box,size", [([200, 150, 260, 200], 512), ([10, 20, 630, 470], 256), ([300, 200, 301.5, 230], 64)])
def test_crop_pixels_and_intrinsics_agree(box, size):
    crop = Crop.around((480, 640), box, 0.15, size)
    assert max(crop.size) == size
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(-0.1, 0.1, (50, 2)), rng.uniform(0.5, 1.0, 50)]
    px = project_points(xyz, K)
    # the crop camera sees each 3D point exactly where the image pixel lands in the crop
    np.testing.assert_allclose(project_points(xyz, crop.intrinsics(K)), crop.to_crop(px), atol=1e-9)
    np.testing.assert_allclose(crop.to_original(crop.to_crop(px)), px, atol=1e-9)


def test_crop_apply_keeps_pixel_centres():
    # an image whose value is its column index: centre-aligned resampling keeps the linear map
    image = np.tile(np.arange(640, dtype=np.float32), (480, 1))
    crop = Crop.around((480, 640), [100, 100, 180, 140], 0.0, 320)
    for nearest, tol in ((False, 0.38), (True, 0.5 + 1e-6)):  # linear: exact but at the clamped borders
        out = crop.apply(image, nearest=nearest)
        xs = np.arange(out.shape[1], dtype=np.float64)
        expected = crop.to_original(np.c_[xs, np.zeros_like(xs)])[:, 0]
        assert out.shape == (crop.size[1], crop.size[0])
        np.testing.assert_allclose(out[5], expected, atol=tol)


def test_object_point_seen_in_crop_maps_back(procedural_mesh):
    """Render a mesh, crop around it at 512 px: depth unprojected through the crop's K lands on the
    same object points as the original pixels."""
    from mveq_core.render import render_view

    lo, hi = procedural_mesh.bounds
    T = make_transform(np.eye(3), -(lo + hi) / 2 + [0.03, -0.02, 0.9])
    view = render_view(procedural_mesh, K, T, (480, 640), None, False)
    crop = Crop.around((480, 640), mask_box(view.mask), 0.15, 512)
    depth_c = crop.apply(view.depth, nearest=True)
    xy_c, xyz_c = depth_to_object_points(depth_c, crop.intrinsics(K), T, crop.apply(view.mask))
    # each crop pixel's object point projects (in the original image) to where the crop says it is
    back = project_points(transform_points(T, xyz_c), K)
    err = np.linalg.norm(back - crop.to_original(xy_c), axis=1)
    assert len(err) > 1000 and np.median(err) < 1e-6


def test_quantised_crops_come_in_few_sizes_and_keep_the_box():
    """crop_quantum: the shorter side grows to a multiple of 64 input pixels around the same centre
    (inside the image); the longer side stays input_size; pixel mapping stays exact."""
    import numpy as np

    from mveq_core.crop import Crop

    rng = np.random.default_rng(0)
    sizes = set()
    for _ in range(200):
        x0, y0 = rng.uniform(0, 400), rng.uniform(0, 300)
        box = [x0, y0, x0 + rng.uniform(20, 230), y0 + rng.uniform(20, 170)]
        plain = Crop.around((480, 640), box, 0.15, 512)
        crop = Crop.around((480, 640), box, 0.15, 512, quantum=64)
        sizes.add(crop.size)
        assert max(crop.size) == 512 and crop.x0 <= plain.x0 and crop.y0 <= plain.y0 and crop.x1 >= plain.x1 and crop.y1 >= plain.y1
        assert 0 <= crop.x0 and 0 <= crop.y0 and crop.x1 <= 640 and crop.y1 <= 480
        short = min(range(2), key=lambda a: plain.size[a])
        grown = crop.size[short] != plain.size[short]
        assert not grown or crop.size[short] % 64 == 0
        sx, sy = crop.scale_xy
        assert abs(sx - sy) < 0.02 * max(sx, sy)  # the aspect ratio of the image is kept
        corner = crop.to_original(np.array([[crop.size[0] - 0.5, crop.size[1] - 0.5]]))[0]
        np.testing.assert_allclose(corner, [crop.x1 - 0.5, crop.y1 - 0.5], atol=1e-6)
    assert len(sizes) <= 16, sizes


def test_crop_sizes_hold_every_size_a_crop_takes():
    """crop_sizes (what the estimator captures feature graphs for): every crop of any box, image
    and quantum, the whole image included, has one of its sizes; at 512 px they fall on 15 padded
    token grids (the 1/8 rule)."""
    from mveq_core.adapter import ResolutionRule
    from mveq_core.crop import crop_sizes
    from mveq_core.feature_graphs import padded_grid

    sizes = set(crop_sizes(512))
    assert len(sizes) == 2 * 512 - 1 and all(max(s) == 512 for s in sizes)
    rng = np.random.default_rng(1)
    for shape in [(480, 640), (720, 1280), (1080, 1080), (600, 300)]:
        assert (Crop.around(shape, None, 0.15, 512).size[::-1]) in sizes
        for _ in range(100):
            w, h = rng.uniform(2, shape[1] / 2), rng.uniform(2, shape[0] / 2)
            x0, y0 = rng.uniform(-w / 2, shape[1] - w / 2), rng.uniform(-h / 2, shape[0] - h / 2)
            for quantum in (0, 56):
                crop = Crop.around(shape, [x0, y0, x0 + w, y0 + h], 0.15, 512, quantum)
                assert crop.empty or crop.size[::-1] in sizes, (shape, crop)
    rule = ResolutionRule()
    assert len({padded_grid(rule.grid_size(h, w)) for h, w in sizes}) == 15


def test_query_grid_is_the_stride_grid_and_its_box_filter():
    """Crop.query_grid: the crop's stride grid row by row with its original pixels (to_original),
    and with a box exactly the points in_box keeps, in the same order."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        box = sorted(rng.uniform(0, 640, 2)) + sorted(rng.uniform(0, 480, 2))
        box = [box[0], box[2], box[1], box[3]]
        crop = Crop.around((480, 640), box, float(rng.uniform(0, 0.3)), int(rng.integers(64, 600)))
        stride = int(rng.integers(1, 9))
        ys, xs = np.mgrid[0 : crop.size[1] : stride, 0 : crop.size[0] : stride]
        full = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
        xy_r, xy_o = crop.query_grid(stride)
        np.testing.assert_array_equal(xy_r, full)
        np.testing.assert_array_equal(xy_o, crop.to_original(full))
        keep = in_box(crop.to_original(full), box)
        xy_r, xy_o = crop.query_grid(stride, box)
        np.testing.assert_array_equal(xy_r, full[keep])
        np.testing.assert_array_equal(xy_o, crop.to_original(full)[keep])
        assert 0 < len(xy_r) <= len(full)
