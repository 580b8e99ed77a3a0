"""`mveq db`: object databases from a CAD model, a posed sequence or an unposed video (SfM), and their headers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io import MveqError
from .options import (
    add_cad_args,
    add_feature_args,
    add_reference_crop_args,
    cad_config_from_args,
    cad_features_without_adapter,
    features_from_args,
    parse_camera,
    reference_crop_from_args,
)


def cmd_db_build(args: argparse.Namespace) -> int:
    from ..bundled import resolve
    from ..cad_database import build_database_from_mesh
    from ..render import load_mesh

    mesh = load_mesh(resolve(args.mesh, "objects"), args.units)  # input files first: a bad path must not wait for a model
    cad_features_without_adapter(args)
    features = features_from_args(args)
    name = args.name or Path(args.mesh).stem
    db = build_database_from_mesh(features, mesh, name, cad_config_from_args(args), mesh_path=str(Path(args.mesh).resolve()))
    db.save(args.out, "fp32" if args.fp32 else "fp16")
    print(f"wrote {args.out}: {len(db)} features of '{name}' from {db.meta.views} views (diameter {db.meta.diameter * 1000:.1f} mm)")
    return 0


def charuco_from_args(args: argparse.Namespace):
    """The --charuco board (with --marker-dictionary), or None."""
    from ..sfm import CharucoBoard, aruco_dictionary

    try:
        aruco_dictionary(args.marker_dictionary)
    except ValueError as exc:
        raise MveqError(f"--marker-dictionary: {exc}") from None
    if args.charuco is None:
        return None
    try:
        sx, sy, square, marker = args.charuco.split(",")
        return CharucoBoard(int(sx), int(sy), float(square), float(marker), args.marker_dictionary)
    except ValueError as exc:
        detail = str(exc) if "ChArUco" in str(exc) else "expects SX,SY,SQUARE,MARKER (squares across and down, square and marker sides in metres, e.g. 7,5,0.04,0.03)"
        raise MveqError(f"--charuco {args.charuco}: {detail}") from None


def marked_points_from_args(args: argparse.Namespace, frames: int):
    """(({frame: (x, y)}, {frame: (x, y)}), metres) from --mark-a/--mark-b/--mark-distance, or None."""
    given = [args.mark_a, args.mark_b, args.mark_distance]
    if all(v is None for v in given):
        return None
    if any(v is None for v in given):
        raise MveqError("metric scale from two marked points needs --mark-a, --mark-b and --mark-distance together")
    marks = []
    for option, values in (("--mark-a", args.mark_a), ("--mark-b", args.mark_b)):
        seen = {}
        for value in values:
            try:
                frame, xy = value.split(":")
                x, y = (float(v) for v in xy.split(","))
                seen[int(frame)] = (x, y)
            except ValueError:
                raise MveqError(f"{option} expects FRAME:X,Y (e.g. 0:312.5,140), got {value!r}") from None
            if not 0 <= int(frame) < frames:
                raise MveqError(f"{option} {value}: frame {frame} is not one of the {frames} frames (0-{frames - 1})")
        if len(seen) < 2:
            raise MveqError(f"{option}: mark the point in at least 2 frames (FRAME:X,Y FRAME:X,Y ...), got {len(seen)}")
        marks.append(seen)
    if args.mark_distance <= 0:
        raise MveqError(f"--mark-distance must be positive metres, got {args.mark_distance}")
    return marks, args.mark_distance


def cmd_db_teach(args: argparse.Namespace) -> int:
    """build-from-video with --video/--frames: camera poses by SfM (mveq_core.sfm)."""
    import numpy as np

    from ..densify import DensifyConfig
    from ..io import write_json_atomic
    from ..photos import read_image_folder
    from ..sfm import read_video, undistort_frames
    from ..teach import teach
    from ..viz import save_teach_pictures

    K, dist = parse_camera(args.K, args.camera)
    images = read_video(args.video, args.video_step) if args.video else read_image_folder(args.frames)
    if dist is not None and np.any(np.asarray(dist) != 0):  # SfM and the database work on pinhole frames
        try:
            images = undistort_frames(images, K, dist)
        except ValueError as exc:
            raise MveqError(f"{args.camera}: dist: {exc}") from None
        print(f"frames undistorted with {args.camera}'s dist coefficients (the database is of pinhole frames with K; give queries the same dist)")
    box = None
    if args.box:
        values = args.box.split(",")
        if len(values) != 5:
            raise MveqError(f"--box expects FRAME,x0,y0,x1,y1, got {args.box!r}")
        box = (int(values[0]), [float(v) for v in values[1:]])
    marked = marked_points_from_args(args, len(images))
    charuco = charuco_from_args(args)
    features = features_from_args(args)
    name = args.name or Path(args.video or args.frames).stem
    db, report, rec = teach(features, images, K, name, args.object_size, args.marker_length, box, args.keyframes, reference_crop_from_args(args), centre_window=args.centre_window,
                            dense=DensifyConfig() if args.dense_points else None, marked=marked, charuco=charuco, marker_dictionary=args.marker_dictionary)
    db.save(args.out, "fp32" if args.fp32 else "fp16")
    write_json_atomic(Path(args.out).with_suffix(".report.json"), report.to_json())
    save_teach_pictures(Path(args.out), images, K, report, rec)
    print(f"wrote {args.out}: {len(db)} features of '{name}'; {len(report.registered)} of {len(report.keyframes)} keyframes registered, reprojection {report.reprojection_error_px:.2f} px, {report.object_points} SfM object points + {report.dense_points} dense")
    print(f"pictures: {Path(args.out).with_suffix('.reconstruction.png')} (cameras and points), {Path(args.out).with_suffix('.keyframes.jpg')} (the object's box in every keyframe)")
    if report.scale_from == "object_size":
        print(f"the object's size was measured on {report.size_points} of its {report.object_points} SfM points (those inside its silhouette in every keyframe)")
    print(SCALE_NOTES[report.scale_from])
    return 0


# what each way of giving the metric scale was measured to achieve (docs/benchmarks.md, issue 13)
SCALE_NOTES = {
    "object_size": "metric scale from the object's size: 1.5-5 % off on real objects, within 1 % on a rendered orbit (measured on the reconstructed points "
                   "inside the object's silhouettes, which seldom reach its very ends); "
                   "for distances within 1 % give a marker (--marker-length) or two marked points (--mark-a/--mark-b/--mark-distance)",
    "marker": "metric scale from the ArUco marker: within 1 % on a rendered orbit (0.05 %); keep the marker flat and in several keyframes",
    "charuco": "metric scale from the ChArUco board: within 1 % on a rendered orbit (0.27 %); keep the board flat and in several keyframes",
    "marked_points": "metric scale from the two marked points: within 1 % for most pairs on real rings with clicks within a pixel (0.3-0.5 % median); "
                     "mark points far apart, in frames far apart",
}


def cmd_db_build_from_video(args: argparse.Namespace) -> int:
    import numpy as np

    from ..benchmarks.onepose import frame_stems, sequence_frames

    sources = [a for a in (args.sequence, args.video, args.frames) if a]
    if len(sources) != 1:
        raise MveqError("give one of --sequence (posed), --video or --frames (unposed)")
    if args.video or args.frames:
        return cmd_db_teach(args)
    from ..reference_database import build_database_from_frames
    from ..render import load_mesh

    seq = Path(args.sequence)
    for sub in ("color", "intrin_ba", "poses_ba"):
        if not (seq / sub).is_dir():
            raise FileNotFoundError(f"{seq / sub}: missing (a reference sequence has color/, intrin_ba/, poses_ba/)")
    if args.points == "sfm" and not args.sfm_anno3d:
        raise MveqError("--points sfm needs --sfm-anno3d anno_3d_average.npz (and anno_loftr/ in the sequence)")
    if args.points == "mesh" and not args.mesh:
        raise MveqError("--points mesh needs --mesh FILE")
    features = features_from_args(args)
    mesh = load_mesh(args.mesh, args.units) if args.mesh else None
    bbox3d = np.loadtxt(args.bbox3d).reshape(-1, 3) if args.bbox3d else None
    name = args.name or seq.parent.name or seq.name
    frames = sequence_frames(seq, args.points, args.sfm_anno3d, args.depth_scale, args.every)
    db = build_database_from_frames(
        features, frames, name, points=args.points, mesh=mesh, bbox3d=bbox3d, max_features=args.max_features,
        total=len(frame_stems(seq)[:: args.every]), mesh_path=str(Path(args.mesh).resolve()) if args.mesh else None,
        crop=reference_crop_from_args(args),
    )
    db.save(args.out, "fp32" if args.fp32 else "fp16")
    print(f"wrote {args.out}: {len(db)} features of '{name}' from {db.meta.views} frames ({args.points} points)")
    return 0


def cmd_db_info(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..bundled import resolve
    from ..database import load_database

    db = load_database(resolve(args.database, "databases"))
    info = asdict(db.meta)
    info.update(features=len(db), descriptor_dtype=str(db.descriptors.dtype).replace("torch.", ""))
    print(json.dumps(info, indent=2))
    return 0


def register(sub) -> None:
    """Adds this module's subcommands to the ``mveq`` parser's subparsers."""
    p = sub.add_parser("db", help="object databases: build from CAD or a reference video, inspect")
    dsub = p.add_subparsers(dest="db_command", required=True)
    q = dsub.add_parser("build", help="database from a CAD model (96 icosphere views x 4 in-plane turns, cropped at the estimator's scale)")
    add_feature_args(q)
    q.add_argument("--mesh", required=True, help="mesh file (.obj/.ply/.glb ...)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--name", default=None, help="object name (default: the mesh file's stem)")
    add_cad_args(q)
    q.add_argument("--fp32", action="store_true", help="store descriptors as fp32 (default fp16)")
    q.add_argument("--out", required=True, help="database file (.mvdb)")
    q.set_defaults(func=cmd_db_build)
    q = dsub.add_parser("build-from-video", help="database from a video: unposed (--video | --frames: camera poses by SfM) or a posed sequence (--sequence, OnePose layout)")
    add_feature_args(q)
    q.add_argument("--sequence", default=None, help="posed sequence: folder with color/, intrin_ba/, poses_ba/ (+ depth/, mask/, anno_loftr/)")
    q.add_argument("--video", default=None, help="unposed video file around the object (poses by structure-from-motion)")
    q.add_argument("--frames", default=None, help="unposed frames (folder of images, name order) around the object")
    q.add_argument("--K", default=None, help="intrinsics fx,fy,cx,cy of --video/--frames")
    q.add_argument("--camera", default=None, help="camera JSON (K or fx, fy, cx, cy; optional dist: OpenCV distortion, the frames are undistorted) of --video/--frames")
    q.add_argument("--object-size", type=float, default=None, help="metric scale: the object's longest side (the longest edge of the smallest box around it, as a ruler measures), metres")
    q.add_argument("--marker-length", type=float, default=None, help="metric scale: side of an ArUco marker in view (--marker-dictionary), metres")
    q.add_argument("--charuco", default=None, metavar="SX,SY,SQUARE,MARKER",
                   help="metric scale: a ChArUco board in view, SX x SY squares of SQUARE metres with MARKER-metre markers (--marker-dictionary; OpenCV's layout)")
    q.add_argument("--marker-dictionary", default="DICT_4X4_50", help="ArUco dictionary of --marker-length / --charuco (OpenCV's names, e.g. DICT_4X4_50, DICT_APRILTAG_36h11)")
    q.add_argument("--mark-a", nargs="+", default=None, metavar="FRAME:X,Y", help="metric scale from two marked points: point A's pixel in 2 or more frames (frame index in the input, pixel column,row)")
    q.add_argument("--mark-b", nargs="+", default=None, metavar="FRAME:X,Y", help="point B's pixel in 2 or more frames (with --mark-a, --mark-distance)")
    q.add_argument("--mark-distance", type=float, default=None, help="metres between the marked points A and B (a ruler's reading)")
    q.add_argument("--box", default=None, help="the object in one frame: FRAME,x0,y0,x1,y1 (default: what the cameras orbit)")
    q.add_argument("--keyframes", type=int, default=30, help="keyframes for SfM (the sharpest of equal stretches)")
    q.add_argument("--dense-points", action=argparse.BooleanOptionalAction, default=True,
                   help="add dense object points: neighbouring keyframes matched densely and triangulated with their SfM cameras (default on; --no-dense-points: SfM points only)")
    q.add_argument("--centre-window", type=float, default=0.0, help="SfM keypoints only in this central fraction of each frame (e.g. 0.5; for a repetitive background such as a marker board; 0: whole frames)")
    q.add_argument("--video-step", type=int, default=1, help="read every N-th video frame")
    q.add_argument("--points", default="depth", choices=["depth", "mesh", "sfm"], help="where 3D points come from")
    q.add_argument("--mesh", default=None, help="object mesh (for --points mesh)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--sfm-anno3d", default=None, help="OnePose++ anno_3d_average.npz (for --points sfm)")
    q.add_argument("--bbox3d", default=None, help="box3d_corners.txt: keeps depth points inside the object's box when there are no masks")
    q.add_argument("--depth-scale", type=float, default=0.001, help="metres per depth PNG unit (default: millimetres)")
    q.add_argument("--every", type=int, default=1, help="use every N-th frame")
    q.add_argument("--name", default=None)
    q.add_argument("--max-features", type=int, default=120_000)
    add_reference_crop_args(q)
    q.add_argument("--input-size", type=int, default=512, help="crop size: the estimator's --input-size")
    q.add_argument("--crop-margin", type=float, default=0.15, help="crop margin: the estimator's --crop-margin")
    q.add_argument("--fp32", action="store_true")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_db_build_from_video)
    q = dsub.add_parser("info", help="print a database's header")
    q.add_argument("database", help=".mvdb file or bundled:NAME")
    q.set_defaults(func=cmd_db_info)
