"""Teach an object from a casual video: keyframes, camera poses by structure-from-motion (pycolmap,
SIFT), metric scale from the object's size, the object's points, and a database of their features.

Only the intrinsics are needed (no depth, no AR app, no CAD). Camera poses come from COLMAP's
incremental mapper with the given pinhole intrinsics held fixed; the object is the reconstructed
points near the centre the cameras look at (or those inside a user's box in one keyframe); the
scale makes the object's longest side equal the size the user gives.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .crop import in_box
from .geometry import COLMAP_PIXEL_OFFSET, invert_transform, make_transform, rotation_error_deg
from .io import MveqError

log = logging.getLogger(__name__)


class SfMError(MveqError):
    """The reconstruction failed; the message says what to do."""


@dataclass
class Reconstruction:
    """Cameras and points of one reconstruction, in one (arbitrary or metric) frame.

    ``T_cam_world`` {keyframe index: (4, 4)}; ``points`` (P, 3); ``observations`` {keyframe index:
    (pixels (N, 2), point indices (N,))}; ``reprojection_error`` mean pixels.
    """

    T_cam_world: dict[int, np.ndarray]
    points: np.ndarray
    observations: dict[int, tuple[np.ndarray, np.ndarray]]
    reprojection_error: float
    num_frames: int
    scale: float = 1.0
    object_point_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    @property
    def registered_share(self) -> float:
        return len(self.T_cam_world) / max(self.num_frames, 1)

    def scaled(self, factor: float) -> "Reconstruction":
        T = {k: make_transform(v[:3, :3], v[:3, 3] * factor) for k, v in self.T_cam_world.items()}
        return Reconstruction(T, self.points * factor, self.observations, self.reprojection_error, self.num_frames, self.scale * factor, self.object_point_ids)


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image (higher = sharper)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def select_keyframes(frames: Sequence[np.ndarray], count: int) -> list[int]:
    """Indices of up to ``count`` keyframes spread over the sequence: the sharpest of each of
    ``count`` equal stretches."""
    n = len(frames)
    if n <= count:
        return list(range(n))
    edges = np.linspace(0, n, count + 1).round().astype(int)
    return [int(a + np.argmax([sharpness(frames[i]) for i in range(a, b)])) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def undistort_frames(frames: Sequence[np.ndarray], K: np.ndarray, dist_coeffs) -> list[np.ndarray]:
    """``frames`` with OpenCV lens distortion ``dist_coeffs`` (k1, k2, p1, p2[, k3, ...]) removed,
    keeping the intrinsics ``K`` (pinhole images for SfM and the database; one remap table)."""
    import cv2

    dist = np.asarray(dist_coeffs, np.float64).reshape(-1)
    if dist.size not in (4, 5, 8, 12, 14):
        raise ValueError(f"distortion coefficients: expected 4, 5, 8, 12 or 14 numbers (OpenCV), got {dist.size}")
    maps = {}
    out = []
    for frame in frames:
        h, w = frame.shape[:2]
        if (h, w) not in maps:
            maps[(h, w)] = cv2.initUndistortRectifyMap(K, dist, None, K, (w, h), cv2.CV_32FC1)
        out.append(cv2.remap(frame, *maps[(h, w)], cv2.INTER_LINEAR))
    return out


def read_video(path: str | Path, step: int = 1, max_frames: int | None = None) -> list[np.ndarray]:
    """RGB frames of a video file (every ``step``-th)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"{path}: cannot open the video (missing file or codec)")
    frames, k = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if k % step == 0:
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if max_frames and len(frames) >= max_frames:
                break
        k += 1
    capture.release()
    if not frames:
        raise SfMError(f"{path}: no frames could be read")
    return frames


def _dense_matches(database: Path, images_by_name: dict[str, np.ndarray], features, work: Path, verification) -> None:
    """Replace SIFT descriptor matching by our dense features: at every SIFT keypoint, the feature
    grid's descriptor; mutual nearest neighbours between every pair of images; then COLMAP's
    geometric verification of those matches."""
    import pycolmap
    import torch

    from .features import image_to_tensor
    from .matching import mutual_nearest_neighbours

    db = pycolmap.Database.open(str(database))
    try:
        images = sorted(db.read_all_images(), key=lambda im: im.name)
        descs = {}
        with torch.no_grad():
            for im in images:
                xy = np.asarray(db.read_keypoints(im.image_id))[:, :2] - COLMAP_PIXEL_OFFSET
                grid = features.feature_grid(image_to_tensor(images_by_name[im.name], features.device))
                descs[im.image_id] = grid.sample(torch.from_numpy(xy).float().to(features.device))
        db.clear_matches()
        db.clear_two_view_geometries()
        pairs = []
        for a, ia in enumerate(images):
            for ib in images[a + 1 :]:
                m = mutual_nearest_neighbours(descs[ia.image_id], descs[ib.image_id])
                matches = np.stack([m.query_index.cpu().numpy(), m.database_index.cpu().numpy()], 1).astype(np.uint32)
                db.write_matches(ia.image_id, ib.image_id, matches)
                pairs.append(f"{ia.name} {ib.name}")
    finally:
        db.close()
    (work / "pairs.txt").write_text("\n".join(pairs) + "\n")
    pycolmap.verify_matches(database, work / "pairs.txt", verification)


def reconstruct(images: Sequence[np.ndarray], K: np.ndarray, work_dir: str | Path | None = None, max_features: int = 8192, features=None,
                centre_window: float = 0.0) -> Reconstruction:
    """Camera poses and 3D points of ``images`` (RGB, one camera with intrinsics ``K``, held fixed)
    by SIFT keypoints, exhaustive matching and incremental mapping (pycolmap); the largest model is
    returned. With ``features`` (:class:`~mveq_core.features.DenseFeatures`), keypoints are matched
    by those dense descriptors (mutual nearest neighbours) instead of SIFT's. ``centre_window`` in
    (0, 1]: keypoints only inside that central fraction of each frame's width and height (for videos
    that keep the object in the middle: a repetitive background at the borders, e.g. a square
    marker board, otherwise registers views turned by its symmetry)."""
    import cv2
    import pycolmap

    if len(images) < 3:
        raise SfMError(f"{len(images)} frames: structure-from-motion needs at least 3 (better 15-40 around the object)")
    if not 0.0 <= centre_window <= 1.0:
        raise ValueError(f"centre_window must be a fraction in [0, 1] (0: off), got {centre_window}")
    own = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="mveq_sfm_")) if own else Path(work_dir)
    try:
        image_dir = work / "images"
        image_dir.mkdir(parents=True, exist_ok=True)
        names = [f"{k:05d}.png" for k in range(len(images))]
        for name, image in zip(names, images):
            cv2.imwrite(str(image_dir / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        database = work / "database.db"
        if database.exists():
            database.unlink()
        reader = pycolmap.ImageReaderOptions()
        if centre_window > 0:  # keypoints only in the central window (object-centric capture)
            mask_dir = work / "masks"
            mask_dir.mkdir(exist_ok=True)
            h, w = images[0].shape[:2]
            window = np.zeros((h, w), np.uint8)
            dy, dx = int(h * (1 - centre_window) / 2), int(w * (1 - centre_window) / 2)
            window[dy : h - dy, dx : w - dx] = 255
            for name in names:
                cv2.imwrite(str(mask_dir / f"{name}.png"), window)
            reader.mask_path = str(mask_dir)
        reader.camera_model = "PINHOLE"
        # poses and pixels stay in OpenCV's convention: c shifted here, observations back below
        reader.camera_params = ",".join(f"{v:.6f}" for v in (K[0, 0], K[1, 1], K[0, 2] + COLMAP_PIXEL_OFFSET, K[1, 2] + COLMAP_PIXEL_OFFSET))
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.sift.max_num_features = max_features
        extraction.num_threads = 1  # one thread everywhere: the same frames give the same reconstruction
        pycolmap.extract_features(database, image_dir, camera_mode=pycolmap.CameraMode.SINGLE, reader_options=reader, extraction_options=extraction, device=pycolmap.Device.cpu)
        verification = pycolmap.TwoViewGeometryOptions()
        verification.ransac.random_seed = 0
        if features is None:
            matching = pycolmap.FeatureMatchingOptions()
            matching.num_threads = 1
            pycolmap.match_exhaustive(database, matching_options=matching, verification_options=verification, device=pycolmap.Device.cpu)
        else:
            _dense_matches(database, dict(zip(names, images)), features, work, verification)
        options = pycolmap.IncrementalPipelineOptions()
        options.ba_refine_focal_length = False
        options.ba_refine_principal_point = False
        options.ba_refine_extra_params = False
        options.random_seed = 0
        options.num_threads = 1
        (work / "sparse").mkdir(exist_ok=True)
        models = pycolmap.incremental_mapping(database, image_dir, work / "sparse", options)
        if not models:
            raise SfMError(f"no reconstruction from {len(images)} frames: too little overlap or parallax between frames (move around the object, keep it in view, 10-20° between keyframes)")
        model = max(models.values(), key=lambda m: m.num_reg_images())
        index = {name: k for k, name in enumerate(names)}
        point_ids = sorted(model.points3D)
        row_of = {pid: r for r, pid in enumerate(point_ids)}
        points = np.array([model.points3D[pid].xyz for pid in point_ids], dtype=np.float64).reshape(-1, 3)
        T, obs = {}, {}
        for image in model.images.values():
            if not image.has_pose:
                continue
            k = index[image.name]
            T[k] = np.asarray(image.cam_from_world().matrix(), dtype=np.float64)
            T[k] = np.vstack([T[k], [0, 0, 0, 1]])
            xy, ids = [], []
            for p2d in image.points2D:
                if p2d.has_point3D():
                    xy.append(np.asarray(p2d.xy, np.float64) - COLMAP_PIXEL_OFFSET)
                    ids.append(row_of[p2d.point3D_id])
            obs[k] = (np.asarray(xy, np.float64).reshape(-1, 2), np.asarray(ids, int))
        return Reconstruction(T, points, obs, float(model.compute_mean_reprojection_error()), len(images))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def relative_motion_errors(T_est: dict[int, np.ndarray], T_gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every pair i < j of cameras in ``T_est`` (T_cam_world, keyed by index into ``T_gt``):
    the rotation error of the relative motion (degrees), the angle between the relative
    translations (degrees) and the ratio of their lengths (estimated / true: the scale)."""
    rot, direction, ratio = [], [], []
    ks = sorted(T_est)
    for a, i in enumerate(ks):
        for j in ks[a + 1 :]:
            Re = T_est[j][:3, :3] @ T_est[i][:3, :3].T
            Rg = T_gt[j][:3, :3] @ T_gt[i][:3, :3].T
            te, tg = T_est[j][:3, 3] - Re @ T_est[i][:3, 3], T_gt[j][:3, 3] - Rg @ T_gt[i][:3, 3]
            rot.append(rotation_error_deg(Re, Rg))
            direction.append(float(np.degrees(np.arccos(np.clip(te @ tg / (np.linalg.norm(te) * np.linalg.norm(tg)), -1, 1)))))
            ratio.append(float(np.linalg.norm(te) / np.linalg.norm(tg)))
    return np.asarray(rot), np.asarray(direction), np.asarray(ratio)


def relative_motion_summary(T_est: dict[int, np.ndarray], T_gt, spread: str = "max") -> dict:
    """:func:`relative_motion_errors` summarised: pairs, median rotation error and its ``spread``
    ("max" or "p90"), median translation direction error and median scale ratio."""
    rot, direction, ratio = relative_motion_errors(T_est, T_gt)
    if not len(rot):
        return {"pairs": 0}
    worst = {"max": ("max_rotation_error_deg", np.max), "p90": ("p90_rotation_error_deg", lambda r: np.percentile(r, 90))}[spread]
    return {"pairs": len(rot), "median_rotation_error_deg": float(np.median(rot)), worst[0]: float(worst[1](rot)),
            "median_translation_direction_error_deg": float(np.median(direction)), "median_scale_ratio": float(np.median(ratio))}


def orbit_centre(T_cam_world: dict[int, np.ndarray]) -> np.ndarray:
    """The point closest (least squares) to every camera's optical axis: what an orbit looks at."""
    A, b = np.zeros((3, 3)), np.zeros(3)
    for T in T_cam_world.values():
        T_wc = invert_transform(T)
        c, d = T_wc[:3, 3], T_wc[:3, 2]
        P = np.eye(3) - np.outer(d, d)
        A += P
        b += P @ c
    return np.linalg.lstsq(A, b, rcond=None)[0]


def object_points(rec: Reconstruction, box: tuple[int, Sequence[float]] | None = None) -> np.ndarray:
    """Indices of the object's points: inside the user's ``box`` (keyframe index, [x0, y0, x1, y1]),
    or, without one, the points nearest the orbit centre (within 2x the median distance of the
    closer half), which keeps the object and drops the background."""
    if box is not None:
        k, (x0, y0, x1, y1) = box
        if k not in rec.T_cam_world:
            raise SfMError(f"keyframe {k} of the object box was not registered: give the box in another keyframe")
        xy, ids = rec.observations[k]
        inside = in_box(xy, (x0, y0, x1, y1))
        seeds = np.unique(ids[inside])
        if len(seeds) < 10:
            raise SfMError(f"only {len(seeds)} reconstructed points inside the object box: the object is too small or textureless in keyframe {k}")
        centre = np.median(rec.points[seeds], axis=0)
        dist = np.linalg.norm(rec.points - centre, axis=1)
        radius = np.percentile(dist[seeds], 90)
    else:
        centre = orbit_centre(rec.T_cam_world)
        dist = np.linalg.norm(rec.points - centre, axis=1)
        radius = 2.0 * np.median(np.sort(dist)[: max(1, len(dist) // 2)])
    keep = np.nonzero(dist <= radius)[0]
    if len(keep) < 10:
        raise SfMError(f"only {len(keep)} reconstructed points on the object: it is too small or textureless; fill more of the frame with it")
    return keep


def longest_side(points: np.ndarray) -> float:
    """Longest side of the points' smallest enclosing box (trimesh's minimum-volume oriented box):
    what a ruler measures along an object's longest edge. (Principal axes do not follow the edges of
    boxy objects: the bundled drill's 18.5 cm read as 22.4 cm along its principal axis.)"""
    import trimesh

    points = np.asarray(points, np.float64)
    if len(points) < 4:
        raise SfMError(f"only {len(points)} object points: too few to measure the object's size")
    return float(np.max(trimesh.bounds.oriented_bounds(points)[1]))


def object_masks(frames: Sequence[np.ndarray], rec: Reconstruction, K: np.ndarray, object_ids: np.ndarray, grow: float = 0.25,
                 max_side: int | None = 320, progress: bool = False) -> dict[int, np.ndarray]:
    """{keyframe: (H, W) bool} the object cut by GrabCut (:func:`~mveq_core.crop.grabcut_mask`) in
    every registered keyframe, from the box around its points' projections grown by ``grow`` a side
    (keyframes where that box fills the frame get none: GrabCut needs background). The cut runs
    with at most ``max_side`` pixels across the box (None: full size): as good for the object's
    size on the orbit, Middlebury rings and LINEMOD cat, and 30x faster on DTU's 1600 x 1200
    photos (docs/benchmarks.md, session 22)."""
    import cv2
    from tqdm import tqdm

    from .crop import enlarged_box, grabcut_mask
    from .geometry import project_points, transform_points

    out = {}
    for k, T in tqdm(sorted(rec.T_cam_world.items()), desc="object masks (GrabCut)", disable=not progress):
        cam = transform_points(T, rec.points[object_ids])
        xy = project_points(cam[cam[:, 2] > 0], K)
        if len(xy) < 4:
            continue
        h, w = frames[k].shape[:2]
        box = enlarged_box((h, w), [*xy.min(0), *(xy.max(0) + 1)], grow)
        if box[2] - box[0] > 1 and box[3] - box[1] > 1 and tuple(box) != (0, 0, w, h):  # GrabCut needs background around the box
            f = 1.0 if max_side is None else min(1.0, max_side / max(box[2] - box[0], box[3] - box[1]))
            try:
                if f < 1.0:  # cut at most max_side pixels across the box, the mask back at full size
                    small = cv2.resize(frames[k], (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
                    cut = grabcut_mask(small, [v * f for v in box], margin=0.1)
                    out[k] = cv2.resize(cut.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
                else:
                    out[k] = grabcut_mask(frames[k], box, margin=0.1)
            except cv2.error:  # no background left around the box at the cut's scale: no mask for this keyframe
                continue
    return out


def silhouette_consistent(rec: Reconstruction, K: np.ndarray, object_ids: np.ndarray, masks: dict[int, np.ndarray], min_inside: float = 0.9) -> np.ndarray:
    """The object points (of ``object_ids``) that project inside the object's mask in every
    registered keyframe whose image they land in: a point of the object lies inside its silhouette
    in every view, seen or hidden, so the points that leave it float off the surface (SfM's
    mismatches). A mask that holds fewer than ``min_inside`` of the points it sees is a poor cut
    and is not used (on the real LINEMOD cat in clutter GrabCut misses parts of the object in many
    keyframes; 0.9 kept the rendered orbit's and the Middlebury rings' figures and helped the cat
    too, lower values cut the cat's true points: docs/benchmarks.md, session 22)."""
    outside = np.zeros(len(object_ids), bool)
    for k, mask in masks.items():
        _, seen, inside = mask_hits(rec.T_cam_world[k], rec.points[object_ids], K, mask)
        if inside.sum() >= min_inside * max(seen.sum(), 1):
            outside |= seen & ~inside
    return np.asarray(object_ids)[~outside]


def mask_hits(T_cam_world: np.ndarray, points: np.ndarray, K: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels (N, 2), seen (N,), inside (N,)): ``points`` projected by a keyframe's camera, which
    of them land in front of it and in the image, and which of those land in its (H, W) ``mask``."""
    from .geometry import project_points, transform_points

    cam = transform_points(T_cam_world, points)
    xy = project_points(cam, K)
    u, v = np.round(xy).astype(int).T
    seen = (cam[:, 2] > 0) & (u >= 0) & (v >= 0) & (u < mask.shape[1]) & (v < mask.shape[0])
    inside = np.zeros(len(points), bool)
    inside[seen] = mask[v[seen], u[seen]]
    return xy, seen, inside


def size_points(frames: Sequence[np.ndarray], rec: Reconstruction, K: np.ndarray, object_ids: np.ndarray, progress: bool = False) -> np.ndarray:
    """The object points to measure its size on: those inside the object's silhouette in every
    keyframe (:func:`object_masks`, :func:`silhouette_consistent`; all of them when fewer than 10
    remain). SfM points that float off the object set its extremes otherwise (the rendered orbit of
    the tests: 2.1 % -> 0.5 %; docs/benchmarks.md, session 22)."""
    consistent = silhouette_consistent(rec, K, object_ids, object_masks(frames, rec, K, object_ids, progress=progress))
    return consistent if len(consistent) >= 10 else np.asarray(object_ids)


def metric(rec: Reconstruction, object_size: float, object_ids: np.ndarray, measured_ids: np.ndarray | None = None) -> Reconstruction:
    """``rec`` scaled so that its object's longest side is ``object_size`` metres, measured on
    ``measured_ids`` (default: all ``object_ids``; :func:`size_points` gives the ones inside the
    silhouettes). The object's points themselves (``object_point_ids``) stay ``object_ids``."""
    if object_size <= 0:
        raise ValueError(f"object size must be positive metres, got {object_size}")
    out = rec.scaled(object_size / longest_side(rec.points[object_ids if measured_ids is None else measured_ids]))
    out.object_point_ids = object_ids
    return out


def aruco_dictionary(name: str):
    """OpenCV's predefined ArUco / AprilTag dictionary ``name`` (e.g. DICT_4X4_50, DICT_APRILTAG_36h11)."""
    import cv2

    if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        known = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
        raise ValueError(f"unknown ArUco dictionary {name!r}: one of {', '.join(known)}")
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


@dataclass(frozen=True)
class CharucoBoard:
    """A ChArUco board (OpenCV's layout): ``squares_x`` x ``squares_y`` chessboard squares of
    ``square_length`` metres, ArUco markers of ``marker_length`` metres in the white squares, from
    ``dictionary``."""

    squares_x: int
    squares_y: int
    square_length: float
    marker_length: float
    dictionary: str = "DICT_4X4_50"

    def __post_init__(self):
        if self.squares_x < 2 or self.squares_y < 2:
            raise ValueError(f"a ChArUco board has at least 2 x 2 squares, got {self.squares_x} x {self.squares_y}")
        if not 0 < self.marker_length < self.square_length:
            raise ValueError(f"ChArUco marker side must be positive and smaller than the square side, got {self.marker_length} and {self.square_length} m")

    def opencv(self):
        import cv2

        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length, self.marker_length, aruco_dictionary(self.dictionary))


def charuco_scale(images: Sequence[np.ndarray], rec: Reconstruction, K: np.ndarray, board: CharucoBoard, min_angle_deg: float = 3.0) -> float:
    """Scale factor (metres per reconstruction unit) from a ChArUco board seen in the keyframes:
    each chessboard corner seen in two or more registered keyframes (at least ``min_angle_deg``
    apart) is triangulated with the reconstructed cameras, and the median ratio of the board's
    true corner-to-corner distances to the triangulated ones is the scale. Chessboard corners are
    saddle points located to a fraction of a pixel, and a board gives dozens of them."""
    import cv2

    layout = board.opencv()
    detector = cv2.aruco.CharucoDetector(layout)
    seen: dict[int, list[tuple[int, np.ndarray]]] = {}
    for k, image in enumerate(images):
        if k not in rec.T_cam_world:
            continue
        corners, ids = detector.detectBoard(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))[:2]
        for c, i in zip(() if ids is None else corners.reshape(-1, 2), () if ids is None else ids.ravel()):
            seen.setdefault(int(i), []).append((k, c.astype(np.float64)))
    found_in = len({k for views in seen.values() for k, _ in views})
    points = {}
    for i, views in seen.items():
        if len(views) >= 2:
            X = triangulate(rec, K, views)
            if viewing_angle_deg(rec, X, [k for k, _ in views]) >= min_angle_deg:
                points[i] = X
    if len(points) < 4:
        raise SfMError(f"ChArUco board ({board.squares_x}x{board.squares_y} squares, {board.dictionary}) found in {found_in} registered keyframes, "
                       f"{len(points)} of its corners in 2 or more of them {min_angle_deg:g}° apart: keep the board in view in several keyframes")
    ids = sorted(points)
    X = np.asarray([points[i] for i in ids])
    Y = np.asarray(layout.getChessboardCorners(), np.float64)[ids]
    upper = np.triu_indices(len(ids), 1)
    measured = np.linalg.norm(X[:, None] - X[None], axis=2)[upper]
    return float(np.median(np.linalg.norm(Y[:, None] - Y[None], axis=2)[upper] / np.maximum(measured, 1e-12)))


def marker_scale(images: Sequence[np.ndarray], rec: Reconstruction, K: np.ndarray, marker_length: float, dictionary: str = "DICT_4X4_50") -> float:
    """Scale factor (metres per reconstruction unit) from an ArUco marker of side ``marker_length``
    metres seen in the keyframes: its corners are triangulated with the reconstructed cameras and
    the mean side length compared."""
    import cv2

    parameters = cv2.aruco.DetectorParameters()
    # AprilTag's edge refinement: unbiased on rendered markers (corners from ground-truth cameras
    # within 0.1-0.2 % of the side, against 1.1 % small with CORNER_REFINE_SUBPIX; session 10)
    parameters.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_APRILTAG
    detector = cv2.aruco.ArucoDetector(aruco_dictionary(dictionary), parameters)
    seen: dict[int, list[tuple[int, np.ndarray]]] = {}
    for k, image in enumerate(images):
        if k not in rec.T_cam_world:
            continue
        corners, ids, _ = detector.detectMarkers(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        for c, i in zip(corners or (), [] if ids is None else ids.ravel()):
            seen.setdefault(int(i), []).append((k, c.reshape(4, 2)))
    views = max(seen.values(), key=len) if seen else []
    if len(views) < 2:
        raise SfMError(f"ArUco marker ({dictionary}) found in {len(views)} registered keyframes: it must be visible in at least 2")
    corners3d = np.asarray([triangulate(rec, K, [(k, c[j]) for k, c in views]) for j in range(4)])
    side = np.mean([np.linalg.norm(corners3d[j] - corners3d[(j + 1) % 4]) for j in range(4)])
    return float(marker_length / side)


def triangulate(rec: Reconstruction, K: np.ndarray, views: Sequence[tuple[int, Sequence[float]]]) -> np.ndarray:
    """(3,) point seen at pixel (x, y) in each registered keyframe k of ``views`` [(k, (x, y)), ...],
    by linear triangulation (DLT) with the reconstruction's cameras."""
    A = []
    for k, (x, y) in views:
        P = K @ rec.T_cam_world[k][:3]
        A += [x * P[2] - P[0], y * P[2] - P[1]]
    X = np.linalg.svd(np.asarray(A))[2][-1]
    return X[:3] / X[3]


def viewing_angle_deg(rec: Reconstruction, X: np.ndarray, keyframes: Sequence[int]) -> float:
    """Widest angle (degrees) between the rays from the registered ``keyframes``' cameras to the
    point ``X``: how well those views place it in depth."""
    rays = np.array([X - invert_transform(rec.T_cam_world[k])[:3, 3] for k in keyframes])
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    return float(np.degrees(np.arccos(np.clip((rays @ rays.T).min(), -1.0, 1.0))))


def marked_points_scale(rec: Reconstruction, K: np.ndarray, marks: Sequence[dict[int, Sequence[float]]], distance: float, min_angle_deg: float = 3.0) -> float:
    """Scale factor (metres per reconstruction unit) from two points the user marked: ``marks`` is
    two {keyframe: (x, y)} (each point's pixel in every keyframe it was marked in) and
    ``distance`` the metres between the two points (a ruler's reading). Each point is
    triangulated from its registered keyframes; views closer than ``min_angle_deg`` apart cannot
    place it in depth and are refused with what to do."""
    if distance <= 0:
        raise ValueError(f"the marked points' distance must be positive metres, got {distance}")
    if len(marks) != 2:
        raise ValueError(f"mark exactly two points, got {len(marks)}")
    points = []
    for name, seen in zip("AB", marks):
        views = [(k, xy) for k, xy in sorted(seen.items()) if k in rec.T_cam_world]
        if len(views) < 2:
            raise SfMError(f"point {name} is marked in {len(views)} registered keyframes: mark it in at least 2 frames that registered")
        X = triangulate(rec, K, views)
        angle = viewing_angle_deg(rec, X, [k for k, _ in views])
        if angle < min_angle_deg:
            raise SfMError(f"point {name}: its frames see it only {angle:.1f} deg apart, too little to place it in depth: mark it in frames further around the object")
        points.append(X)
    measured = float(np.linalg.norm(points[0] - points[1]))
    if measured <= 0:
        raise SfMError("points A and B triangulate to the same place: mark two different points")
    return float(distance / measured)
