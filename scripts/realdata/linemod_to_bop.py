"""Convert one object folder of the original LINEMOD release (Hinterstoisser et al., ACCV 2012) into a
single BOP scene, so that `mveq bench bop` and `mveq db build-from-video` read it.

Original layout (for example GitHub lorenzograziano/linemod_dataset, `cat/`):
  mesh.ply                 vertex-coloured mesh, millimetres (the model the poses refer to)
  data/color{i}.jpg        640x480 colour frames
  data/depth{i}.dpt        Kinect depth: uint32 rows, uint32 cols, then rows*cols uint16 millimetres
  data/rot{i}.rot          "3 3" then the 3x3 model-to-camera rotation
  data/tra{i}.tra          "1 3" then the translation in centimetres
  mask/{i:04d}.png         object mask (optional)

Written (BOP): OUT/models/obj_{ID:06d}.ply + models_info.json (diameter from the mesh), and
OUT/test/{ID:06d}/ with rgb/, depth/ (16-bit PNG, mm), mask_visib/, scene_gt.json, scene_camera.json
(LINEMOD's intrinsics) and scene_gt_info.json (bbox_visib from the mask). Every --step-th frame.

    .venv/bin/python scripts/realdata/linemod_to_bop.py /work/scratch/lm_cat/cat OUT --obj-id 6 --step 5
    (session 20's training copy: --step 10 --no-depth --grey-mesh --jpeg-quality 70)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import trimesh
from tqdm import tqdm

LINEMOD_K = [572.4114, 0.0, 325.2611, 0.0, 573.57043, 242.04899, 0.0, 0.0, 1.0]


def read_matrix(path: Path) -> np.ndarray:
    return np.loadtxt(path, skiprows=1)


def read_dpt(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        rows, cols = np.fromfile(f, np.uint32, 2)
        depth = np.fromfile(f, np.uint16, int(rows) * int(cols))
    if depth.size != rows * cols:
        raise ValueError(f"{path}: {depth.size} depth values for {rows}x{cols}")
    return depth.reshape(int(rows), int(cols))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="one LINEMOD object folder (mesh.ply, data/, mask/)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--obj-id", type=int, required=True, help="BOP object id (LINEMOD: ape 1, ..., cat 6, ...)")
    ap.add_argument("--step", type=int, default=1, help="keep every N-th frame")
    ap.add_argument("--no-depth", action="store_true")
    ap.add_argument("--grey-mesh", action="store_true", help="write the mesh without its vertex colours (a colourless CAD model)")
    ap.add_argument("--jpeg-quality", type=int, default=None, help="re-encode the colour frames at this JPEG quality (smaller copies)")
    args = ap.parse_args(argv)
    src, out, oid = args.src, args.out, args.obj_id
    ids = sorted(int(p.stem[5:]) for p in (src / "data").glob("color*.jpg"))[:: args.step]
    if not ids:
        raise SystemExit(f"{src / 'data'}: no color*.jpg")
    models = out / "models"
    models.mkdir(parents=True, exist_ok=True)
    mesh = trimesh.load(src / "mesh.ply", process=False)
    if args.grey_mesh:
        trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(models / f"obj_{oid:06d}.ply")
    else:
        shutil.copyfile(src / "mesh.ply", models / f"obj_{oid:06d}.ply")
    vertices = np.asarray(mesh.vertices)
    hull = np.asarray(trimesh.Trimesh(vertices).convex_hull.vertices)
    diameter = float(max(np.linalg.norm(hull - p, axis=1).max() for p in hull))
    lo, hi = vertices.min(0), vertices.max(0)
    info = {str(oid): {"diameter": diameter, "min_x": lo[0], "min_y": lo[1], "min_z": lo[2], "size_x": hi[0] - lo[0], "size_y": hi[1] - lo[1], "size_z": hi[2] - lo[2]}}
    (models / "models_info.json").write_text(json.dumps(info, indent=1, default=float))
    scene = out / "test" / f"{oid:06d}"
    for d in ("rgb", "depth", "mask_visib"):
        (scene / d).mkdir(parents=True, exist_ok=True)
    gt, cams, gt_info = {}, {}, {}
    for i in tqdm(ids, desc="frames"):
        R = read_matrix(src / "data" / f"rot{i}.rot")
        t_mm = read_matrix(src / "data" / f"tra{i}.tra").ravel() * 10.0
        if args.jpeg_quality is None:
            shutil.copyfile(src / "data" / f"color{i}.jpg", scene / "rgb" / f"{i:06d}.jpg")
        else:
            cv2.imwrite(str(scene / "rgb" / f"{i:06d}.jpg"), cv2.imread(str(src / "data" / f"color{i}.jpg")), [cv2.IMWRITE_JPEG_QUALITY, args.jpeg_quality])
        if not args.no_depth and (src / "data" / f"depth{i}.dpt").is_file():
            cv2.imwrite(str(scene / "depth" / f"{i:06d}.png"), read_dpt(src / "data" / f"depth{i}.dpt"))
        mask_path = src / "mask" / f"{i:04d}.png"
        entry = {"bbox_visib": [-1, -1, 0, 0], "visib_fract": 1.0}
        if mask_path.is_file():
            mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE) > 0
            cv2.imwrite(str(scene / "mask_visib" / f"{i:06d}_000000.png"), mask.astype(np.uint8) * 255)
            ys, xs = np.nonzero(mask)
            if len(xs):
                entry["bbox_visib"] = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        gt[str(i)] = [{"obj_id": oid, "cam_R_m2c": R.ravel().tolist(), "cam_t_m2c": t_mm.tolist()}]
        cams[str(i)] = {"cam_K": LINEMOD_K, "depth_scale": 1.0}
        gt_info[str(i)] = [entry]
    for name, data in (("scene_gt.json", gt), ("scene_camera.json", cams), ("scene_gt_info.json", gt_info)):
        (scene / name).write_text(json.dumps(data))
    print(f"{len(ids)} frames -> {scene}; diameter {diameter:.1f} mm")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
