"""`mveq bench` (pose): OnePose, YCB-Video, real frames, BOP scenes, rendered objects, speed, latency, PnP, tracking mode."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..benchmarks import CROP_MODES, ONBOARDING
from ..io import MveqError
from ..provenance import write_result_json
from .options import (
    _csv_ints,
    _csv_strs,
    add_cad_args,
    add_feature_args,
    add_pnp_args,
    add_reference_crop_args,
    cad_config_from_args,
    cad_features_without_adapter,
    features_from_args,
    pose_config_from_args,
    reference_crop_from_args,
    resolve_device_name,
    write_result,
)


def cmd_bench_onepose(args: argparse.Namespace) -> int:
    from ..benchmarks.onepose import format_table, run_onepose

    features = features_from_args(args)
    result = run_onepose(features, args.data, args.sfm, pose_config_from_args(args), max_objects=args.max_objects, frame_step=args.frame_step)
    write_result(args.out, "onepose", result, format_table(result))
    return 0


def cmd_bench_ycbv(args: argparse.Namespace) -> int:
    from ..benchmarks.ycbv import format_table, run_ycbv

    cad_features_without_adapter(args)
    features = features_from_args(args)
    result = run_ycbv(
        features, args.bop_root, args.out, pose_config_from_args(args), cad_config_from_args(args),
        detections=args.detections, max_targets=args.max_targets,
    )
    table = format_table(result)
    (Path(args.out) / "scores_bop19.txt").write_text(table + "\n")
    print(table)
    return 0


def _real_bench(args: argparse.Namespace, sets) -> int:
    from ..benchmarks.real_pose import RealBenchConfig, format_table, run_real
    from ..benchmarks.realdata import use_meshes

    meshes = use_meshes(sets, args.meshes, args.mesh_units) if args.meshes else None
    if args.onboarding == "cad":  # what `mveq db build` gives: the offline default's CAD databases are adapter-free
        cad_features_without_adapter(args)
    features = features_from_args(args)
    bench = RealBenchConfig(onboarding=args.onboarding, crops=args.crops, overlays=not args.no_overlays, use_depth=args.use_depth)
    result = run_real(features, sets, args.out, pose_config_from_args(args), bench, cad_config_from_args(args), reference_crop_from_args(args), args.detections, database_cache=args.db_cache)
    result["meshes"] = meshes
    write_result(args.out, f"real_{args.onboarding}_{args.crops}", result, format_table(result), features.device)
    return 0


def cmd_bench_real(args: argparse.Namespace) -> int:
    from ..benchmarks.realdata import load_realdata

    sets = load_realdata(args.data, list(_csv_strs(args.sets)) if args.sets else None)
    return _real_bench(args, sets)


def cmd_bench_bop(args: argparse.Namespace) -> int:
    from ..benchmarks.bop import load_bop

    real = load_bop(args.root, list(_csv_ints(args.scenes)) if args.scenes else None, args.split, args.models, args.max_frames, args.frame_step)
    return _real_bench(args, [real])


def cmd_bench_pnp(args: argparse.Namespace) -> int:
    from ..benchmarks.pnp_accuracy import format_table, run_pnp_accuracy
    from ..pnp import PnPConfig

    device = resolve_device_name(args.device)
    config = PnPConfig(iterations=args.ransac_iters, threshold_px=args.threshold)
    result = run_pnp_accuracy(_csv_strs(args.pnp), _csv_ints(args.sizes), tuple(float(v) for v in _csv_strs(args.outliers)), tuple(float(v) for v in _csv_strs(args.noise)), args.trials, config, device)
    write_result(args.out, "pnp_accuracy", result, format_table(result), device)
    return 0


def cmd_bench_tracking_mode(args: argparse.Namespace) -> int:
    from ..benchmarks.tracking_mode import format_table, render_stream, run_tracking_mode
    from ..bundled import SAMPLE_DATABASE, SAMPLE_OBJECT
    from ..database import load_database
    from ..features import DenseFeatures
    from ..pose import PoseEstimator
    from ..pose_tracking import TrackingConfig
    from ..render import load_mesh

    db = load_database(SAMPLE_DATABASE)
    features = DenseFeatures.create(db.feature_config(resolve_device_name(args.device)))  # the database's own features
    estimator = PoseEstimator(features, (), pose_config_from_args(args))
    estimator.add_database(db, SAMPLE_DATABASE)
    stream = render_stream(load_mesh(SAMPLE_OBJECT), args.frames, seed=args.seed)
    result = run_tracking_mode(estimator, db.name, stream, TrackingConfig(max_failures=args.max_failures))
    write_result(args.out, "tracking_mode", result, format_table(result), features.device)
    return 0


def cmd_bench_rendered_pose(args: argparse.Namespace) -> int:
    from ..benchmarks.rendered_pose import QueryConfig, run_rendered_pose
    from ..photos import load_photos
    from ..procedural import procedural_object
    from ..render import load_mesh

    features = features_from_args(args)
    photos = load_photos(args.photos)
    objects = [(Path(m).stem, load_mesh(m, args.units)) for m in args.mesh or []]
    objects += [(f"object_{args.procedural_seed + i:05d}", procedural_object(args.procedural_seed + i, photos=photos)) for i in range(args.procedural)]
    if not objects:
        raise MveqError("no objects: give --mesh and/or --procedural N")
    backgrounds = load_photos(args.backgrounds)
    result = run_rendered_pose(
        features, objects, pose_config_from_args(args), cad_config_from_args(args),
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

    from ..benchmarks.rendered_pose import QueryConfig, render_queries, speed_benchmark
    from ..cad_database import build_database_from_mesh
    from ..database import load_database
    from ..render import load_mesh

    features = features_from_args(args)
    mesh = load_mesh(args.mesh, args.units)
    name = Path(args.mesh).stem
    if args.db:
        db = load_database(args.db)
    else:
        db = build_database_from_mesh(features, mesh, name, cad_config_from_args(args))
    queries = render_queries(mesh, QueryConfig(count=args.frames + 2, width=640, height=480, seed=args.seed))
    base = pose_config_from_args(args)
    report = {"features": features.describe(), "device": torch.cuda.get_device_name() if features.device.type == "cuda" else "cpu",
              "database_features": len(db), "image": "640x480", "runs": {}}
    for backend in args.backends.split(","):
        for refine in (False, True):
            config = dc_replace(base, refine_with_crop=refine, pnp=dc_replace(base.pnp, backend=backend))
            from ..pose import PoseEstimator

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

    from ..benchmarks.latency import format_table, run_latency
    from ..benchmarks.rendered_pose import QueryConfig, render_queries
    from ..bundled import resolve
    from ..cad_database import build_database_from_mesh
    from ..database import load_database
    from ..render import load_mesh

    width, height = (int(v) for v in args.size.lower().split("x"))
    features = features_from_args(args)
    reference = None
    if args.reference_frames > 0:
        ref_args = copy.copy(args)
        ref_args.precision = "fp32"
        reference = features if args.precision == "fp32" else features_from_args(ref_args)
    mesh_path = resolve(args.mesh, "objects")
    mesh = load_mesh(mesh_path, args.units)
    db = load_database(args.db) if args.db else build_database_from_mesh(features, mesh, mesh_path.stem, cad_config_from_args(args))
    queries = render_queries(mesh, QueryConfig(count=args.frames + args.warmup, width=width, height=height, seed=args.seed))
    report = run_latency(features, reference, db, queries, _csv_strs(args.pnp), pose_config_from_args(args), args.warmup, args.reference_frames, args.lazy_graphs)
    write_result(args.out, "latency", report, format_table(report), features.device)
    return 0


def register(sub) -> None:
    """Adds `mveq bench` and its subcommands to the ``mveq`` parser's subparsers."""
    from ..pnp import PnPConfig
    from ..pose_tracking import TrackingConfig
    from . import bench_features

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
    add_cad_args(q)
    q.add_argument("--mesh", action="append", help="object mesh(es)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--procedural", type=int, default=0, help="number of procedural objects")
    q.add_argument("--procedural-seed", type=int, default=1000)
    q.add_argument("--photos", default=None, help="texture procedural objects with these photos (folder or opencv:heldout)")
    q.add_argument("--backgrounds", default=None, help="background photos (folder or opencv:heldout); default: random patterns")
    q.add_argument("--queries", type=int, default=10, help="query images per object")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_rendered_pose)
    q = bsub.add_parser("pose-speed", help="per-stage milliseconds per 640x480 frame for each PnP back-end")
    add_feature_args(q)
    add_pnp_args(q)
    add_cad_args(q)
    q.add_argument("--mesh", required=True, help="object mesh (queries are rendered from it)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--db", default=None, help="database (default: build a CAD database from --mesh)")
    q.add_argument("--frames", type=int, default=20)
    q.add_argument("--backends", default="poselib,opencv")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default=None, help="JSON file")
    q.set_defaults(func=cmd_bench_pose_speed)
    q = bsub.add_parser("latency", help="per-stage ms (median, p95), peak GPU memory and success per PnP back-end, box and search modes, against the paper's reference protocol on the same frames")
    add_feature_args(q)
    add_pnp_args(q)
    add_cad_args(q)
    q.add_argument("--mesh", default="bundled:mveq_toy_drill", help="object mesh (queries are rendered from it)")
    q.add_argument("--units", default="m", choices=["m", "cm", "mm"])
    q.add_argument("--db", default=None, help="database (default: a 96-view CAD database of --mesh)")
    q.add_argument("--size", default="640x480", help="query image size WxH")
    q.add_argument("--frames", type=int, default=200, help="timed frames per mode")
    q.add_argument("--warmup", type=int, default=5)
    q.add_argument("--pnp", default="poselib,gpu", help="PnP back-ends")
    q.add_argument("--reference-frames", type=int, default=200, help="frames through the reference protocol (0: skip it)")
    q.add_argument("--lazy-graphs", action="store_true", help="with --cuda-graphs: capture crop sizes as frames bring them instead of all when the database loads (for comparison)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_latency)
    q = bsub.add_parser("ycbv", help="YCB-Video (BOP19): CSV + AR_VSD/AR_MSSD/AR_MSPD/AR")
    add_feature_args(q)
    add_pnp_args(q)
    add_cad_args(q)
    q.add_argument("--bop-root", required=True, help="the ycbv/ folder (models/, test/, test_targets_bop19.json)")
    q.add_argument("--detections", default=None, help="BOP default-detections JSON (default: crops from GT boxes); a detection's 'segmentation' (COCO run-length mask, e.g. CNOS's) is the query mask")
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
        q.add_argument("--onboarding", default="cad", choices=ONBOARDING, help="cad: mesh renders; video: the object's other posed frames (alternate reference/query)")
        q.add_argument("--crops", default="gt", choices=CROP_MODES, help="gt: GT visible boxes; gt-mask: GT visible masks (CAD: background blacked out, see --mask-background); detections: --detections file; none: the estimator's whole-image search; localize: the localiser, scored as a detector too; track: tracking mode over the query frames")
        q.add_argument("--detections", default=None, help="detections JSON (BOP default detections or {frame, object, bbox, score}); a detection's 'segmentation' (COCO run-length mask, e.g. CNOS's or SAM's) is the query mask")
        q.add_argument("--no-overlays", action="store_true")
        q.add_argument("--use-depth", action="store_true", help="RGB-D sets: correct each pose's distance from the frame's depth image (see --depth-refine)")
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
    q.add_argument("--ransac-iters", type=int, default=PnPConfig().iterations)
    q.add_argument("--threshold", type=float, default=PnPConfig().threshold_px)
    q.add_argument("--device", default="auto", help="where the gpu back-end runs")
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_pnp)
    q = bsub.add_parser("tracking-mode", help="tracking mode vs per-frame detection on a rendered stream of the bundled object")
    add_pnp_args(q)
    q.add_argument("--device", default="auto")
    q.add_argument("--frames", type=int, default=30)
    q.add_argument("--max-failures", type=int, default=TrackingConfig().max_failures)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", required=True)
    q.set_defaults(func=cmd_bench_tracking_mode)
    bench_features.register(bsub)
