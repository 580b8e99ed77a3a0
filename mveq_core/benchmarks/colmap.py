"""Reader of COLMAP sparse models (binary and text), as MVImgNet ships them.

``cameras``: id -> (model, width, height, params); ``images``: id -> name, qvec/tvec (world to
camera), 2D points with their 3D point ids; ``points3D``: id -> xyz. COLMAP puts the centre of the
top-left pixel at (0.5, 0.5): subtract 0.5 for mveq's pixel-centres-at-integers convention.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..geometry import COLMAP_PIXEL_OFFSET
from ..io import MveqError

CAMERA_MODELS = {0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12)}


@dataclass
class ColmapCamera:
    model: str
    width: int
    height: int
    params: np.ndarray

    def K(self) -> np.ndarray:
        p = self.params
        if self.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE", "FOV"):
            f, cx, cy = p[0], p[1], p[2]
            fx = fy = f
        else:
            fx, fy, cx, cy = p[:4]
        return np.array([[fx, 0, cx - COLMAP_PIXEL_OFFSET], [0, fy, cy - COLMAP_PIXEL_OFFSET], [0, 0, 1.0]])

    def dist_coeffs(self) -> np.ndarray:
        """OpenCV distortion coefficients (k1, k2, p1, p2[, k3, k4, k5, k6]) of the camera model; a
        fisheye or FOV model, which OpenCV's pinhole model cannot express, raises ValueError."""
        p = np.asarray(self.params, dtype=np.float64)
        if self.model in ("SIMPLE_PINHOLE", "PINHOLE"):
            return np.zeros(4)
        if self.model == "SIMPLE_RADIAL":
            return np.array([p[3], 0.0, 0.0, 0.0])
        if self.model == "RADIAL":
            return np.array([p[3], p[4], 0.0, 0.0])
        if self.model == "OPENCV":
            return p[4:8].copy()
        if self.model == "FULL_OPENCV":
            return np.concatenate([p[4:8], p[8:12]])
        raise ValueError(f"COLMAP camera model {self.model} has no OpenCV pinhole distortion equivalent")


@dataclass
class ColmapImage:
    name: str
    camera_id: int
    qvec: np.ndarray  # (w, x, y, z) world -> camera
    tvec: np.ndarray
    xys: np.ndarray  # (M, 2) COLMAP pixels
    point3D_ids: np.ndarray  # (M,), -1 where untriangulated


def _read(f, fmt):
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, f.read(size))


def read_model(folder: str | Path) -> tuple[dict[int, ColmapCamera], dict[int, ColmapImage], dict[int, np.ndarray]]:
    """cameras, images, points3D of a COLMAP sparse folder (``.bin`` preferred, else ``.txt``)."""
    folder = Path(folder)
    if (folder / "cameras.bin").is_file():
        return _read_binary(folder)
    if (folder / "cameras.txt").is_file():
        return _read_text(folder)
    raise FileNotFoundError(f"{folder}: no COLMAP model (cameras.bin/.txt, images, points3D)")


def _read_binary(folder: Path):
    cameras, images, points = {}, {}, {}
    with open(folder / "cameras.bin", "rb") as f:
        for _ in range(_read(f, "Q")[0]):
            cam_id, model_id, width, height = _read(f, "iiQQ")
            name, n = CAMERA_MODELS[model_id]
            cameras[cam_id] = ColmapCamera(name, width, height, np.array(_read(f, "d" * n)))
    with open(folder / "images.bin", "rb") as f:
        for _ in range(_read(f, "Q")[0]):
            image_id, *rest = _read(f, "idddddddi")
            qvec, tvec, camera_id = np.array(rest[0:4]), np.array(rest[4:7]), rest[7]
            name = b""
            while (c := f.read(1)) != b"\x00":
                name += c
            n = _read(f, "Q")[0]
            data = np.array(_read(f, "ddq" * n)).reshape(-1, 3) if n else np.zeros((0, 3))
            images[image_id] = ColmapImage(name.decode(), camera_id, qvec, tvec, data[:, :2], data[:, 2].astype(np.int64))
    with open(folder / "points3D.bin", "rb") as f:
        for _ in range(_read(f, "Q")[0]):
            point_id, x, y, z, _r, _g, _b, _err = _read(f, "QdddBBBd")
            track = _read(f, "Q")[0]
            f.read(8 * track)
            points[point_id] = np.array([x, y, z])
    return cameras, images, points


def _read_text(folder: Path):
    cameras, images, points = {}, {}, {}
    for line in (folder / "cameras.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            cameras[int(parts[0])] = ColmapCamera(parts[1], int(parts[2]), int(parts[3]), np.array([float(v) for v in parts[4:]]))
    lines = [line for line in (folder / "images.txt").read_text().splitlines() if not line.startswith("#")]
    for header, pts in zip(lines[0::2], lines[1::2]):
        parts = header.split()
        if not parts:
            continue
        values = np.array([float(v) for v in pts.split()]).reshape(-1, 3) if pts.strip() else np.zeros((0, 3))
        images[int(parts[0])] = ColmapImage(parts[9], int(parts[8]), np.array([float(v) for v in parts[1:5]]), np.array([float(v) for v in parts[5:8]]), values[:, :2], values[:, 2].astype(np.int64))
    for line in (folder / "points3D.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            points[int(parts[0])] = np.array([float(v) for v in parts[1:4]])
    if not images:
        raise MveqError(f"{folder}: COLMAP model without images")
    return cameras, images, points


def shared_observations(a: ColmapImage, b: ColmapImage) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (mveq convention) of the 3D points both images observe: (xy_a (M, 2), xy_b (M, 2))."""
    ids_a = {int(p): i for i, p in enumerate(a.point3D_ids) if p >= 0}
    pairs = [(ids_a[int(p)], j) for j, p in enumerate(b.point3D_ids) if p >= 0 and int(p) in ids_a]
    if not pairs:
        return np.zeros((0, 2)), np.zeros((0, 2))
    ia, ib = np.array(pairs).T
    return a.xys[ia] - COLMAP_PIXEL_OFFSET, b.xys[ib] - COLMAP_PIXEL_OFFSET
