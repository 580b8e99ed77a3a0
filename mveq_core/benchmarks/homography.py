"""Real-image check: nearest-neighbour matching error on image pairs related by a known homography.

Debian's ``opencv-doc`` ships the Oxford "graffiti" pair (``graf1.png``, ``graf3.png``) with its
ground-truth homography ``H1to3p.xml``: a strong viewpoint change of a planar scene.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..features import DenseFeatures, image_to_tensor
from ..io import MveqError, read_image_rgb
from .equivariance import transfer_pixels

OPENCV_DOC_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


@dataclass(frozen=True)
class HomographyPair:
    name: str
    image_a: np.ndarray  # (H, W, 3) uint8
    image_b: np.ndarray
    H_ab: np.ndarray  # (3, 3): pixel of A -> pixel of B


def read_opencv_homography(path: str | Path) -> np.ndarray:
    """A 3x3 homography from OpenCV's XML/YAML storage (first matrix node) or a plain text file."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: homography file not found")
    if path.suffix.lower() in (".xml", ".yml", ".yaml"):
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
        node = fs.getFirstTopLevelNode()
        H = node.mat() if node is not None else None
        fs.release()
    else:
        H = np.loadtxt(path)
    if H is None or np.asarray(H).shape != (3, 3):
        raise MveqError(f"{path}: expected a 3x3 homography")
    return np.asarray(H, dtype=np.float64)


def graffiti_pair(root: Path = OPENCV_DOC_DATA, long_side: int | None = None) -> HomographyPair:
    """graf1 -> graf3 from opencv-doc, optionally resized (the homography is adjusted)."""
    files = [root / "graf1.png", root / "graf3.png", root / "H1to3p.xml"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"graffiti data not found ({', '.join(missing)}): install Debian's opencv-doc")
    pair = HomographyPair("graffiti 1->3", read_image_rgb(files[0]), read_image_rgb(files[1]), read_opencv_homography(files[2]))
    return resize_pair(pair, long_side) if long_side else pair


def resize_pair(pair: HomographyPair, long_side: int) -> HomographyPair:
    import cv2

    def scaled(image):
        s = long_side / max(image.shape[:2])
        size = (int(round(image.shape[1] * s)), int(round(image.shape[0] * s)))
        S = np.diag([size[0] / image.shape[1], size[1] / image.shape[0], 1.0])
        # pixel centres at integers: x' = (x + 0.5) * s - 0.5
        S[0, 2] = 0.5 * S[0, 0] - 0.5
        S[1, 2] = 0.5 * S[1, 1] - 0.5
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), S

    a, Sa = scaled(pair.image_a)
    b, Sb = scaled(pair.image_b)
    return HomographyPair(pair.name, a, b, Sb @ pair.H_ab @ np.linalg.inv(Sa))


@torch.no_grad()
def homography_matching_errors(features: DenseFeatures, pair: HomographyPair, stride: int = 8, candidate_stride: int = 2, margin: int = 8) -> np.ndarray:
    """Pixel errors of nearest-neighbour transfer A -> B for a grid of A's pixels that land in B."""
    ha, wa = pair.image_a.shape[:2]
    hb, wb = pair.image_b.shape[:2]
    ys, xs = np.mgrid[margin : ha - margin : stride, margin : wa - margin : stride]
    xy_a = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    proj = np.c_[xy_a, np.ones(len(xy_a))] @ pair.H_ab.T
    xy_b_true = proj[:, :2] / proj[:, 2:3]
    inside = (xy_b_true[:, 0] >= margin) & (xy_b_true[:, 0] < wb - margin) & (xy_b_true[:, 1] >= margin) & (xy_b_true[:, 1] < hb - margin)
    xy_a, xy_b_true = xy_a[inside], xy_b_true[inside]
    grid_a = features(image_to_tensor(pair.image_a, features.device))
    grid_b = features(image_to_tensor(pair.image_b, features.device))
    predicted = transfer_pixels(grid_a, xy_a, (ha, wa), grid_b, (hb, wb), candidate_stride)
    return np.linalg.norm(predicted - xy_b_true, axis=1)


def summarise_errors(errors: np.ndarray, thresholds=(5, 10, 20)) -> dict:
    return {
        "mean_px": float(errors.mean()),
        "median_px": float(np.median(errors)),
        **{f"within_{t}px": float((errors < t).mean() * 100) for t in thresholds},
        "points": int(errors.size),
    }
