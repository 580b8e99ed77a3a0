"""Photos for textures and backgrounds: image folders and OpenCV's sample pictures."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from .io import MveqError, read_image_rgb

log = logging.getLogger(__name__)


OPENCV_SAMPLE_DATA = Path("/usr/share/doc/opencv-doc/examples/data")


# Natural photographs among OpenCV's sample images (Debian package opencv-doc), split so that
# training textures never appear in held-out evaluation objects. graf1/graf3 are kept apart for the
# homography check.
OPENCV_PHOTOS = {
    "train": ["aero1.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "board.jpg", "building.jpg", "fruits.jpg", "home.jpg",
              "leuvenA.jpg", "messi5.jpg", "orange.jpg", "rubberwhale1.png", "squirrel_cls.jpg", "stuff.jpg", "aloeL.jpg"],
    "heldout": ["butterfly.jpg", "starry_night.jpg", "smarties.png", "HappyFish.jpg", "box_in_scene.png", "licenseplate_motion.jpg"],
}


def opencv_sample_photos(split: str = "train", root: Path = OPENCV_SAMPLE_DATA) -> list[np.ndarray]:
    """The train or held-out photographs of :data:`OPENCV_PHOTOS` (needs Debian's opencv-doc)."""
    names = OPENCV_PHOTOS[split]
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{root}: missing {', '.join(missing)}; install Debian's opencv-doc")
    return [read_image_rgb(root / n) for n in names]


def load_photos(spec: str | None) -> list[np.ndarray] | None:
    """Photos named by ``spec``: None, ``"opencv:train"``/``"opencv:heldout"``, or an image folder."""
    if not spec:
        return None
    if spec.startswith("opencv:"):
        return opencv_sample_photos(spec.split(":", 1)[1])
    return read_image_folder(spec)


def read_image_folder(folder: str | os.PathLike, limit: int | None = None) -> list[np.ndarray]:
    """RGB images (.png/.jpg) of a folder, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))[:limit]
    if not paths:
        raise MveqError(f"{folder}: no .png/.jpg images")
    return [read_image_rgb(p) for p in paths]


def load_backgrounds(background: str) -> list[np.ndarray] | None:
    if background in ("black", "random"):
        return None
    if not background.startswith("opencv:") and not Path(background).is_dir():
        raise FileNotFoundError(f"{background}: background image folder not found (or use 'random' / 'black')")
    return load_photos(background)

