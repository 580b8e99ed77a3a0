"""`mveq bench` (features): TAP-Vid-DAVIS, PF-PASCAL, equivariance, Figure-3 report, throughput, homography."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io import MveqError
from ..provenance import write_result_json
from ..settings import add_arguments, from_args
from .options import (
    add_feature_args,
    features_from_args,
    write_result,
)


def cmd_bench_homography(args: argparse.Namespace) -> int:
    from ..benchmarks.homography import (
        HomographyPair,
        graffiti_pair,
        homography_matching_errors,
        read_opencv_homography,
        resize_pair,
        summarise_errors,
    )
    from ..io import read_image_rgb

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


def cmd_bench_davis(args: argparse.Namespace) -> int:
    import numpy as np

    from ..benchmarks.davis import format_table, load_tapvid_pickle, run_davis, track_strip
    from ..io import write_image_atomic
    from ..tracking import Tracker, TrackerConfig

    features = features_from_args(args)
    config = from_args(TrackerConfig(), args)
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
    from ..benchmarks.pfpascal import format_table, run_pfpascal

    if args.grid_divisor is None and args.long_side is None:
        # the paper's semantic-transfer evaluation: images at 840 px, one token per 14 px patch
        args.grid_divisor, args.long_side = 14.0, 840
    features = features_from_args(args)
    result = run_pfpascal(features, args.root, args.pairs, args.pck_ref, args.soft_argmax, args.max_pairs)
    write_result(args.out, "pfpascal", result, format_table(result))
    return 0


def cmd_bench_equivariance(args: argparse.Namespace) -> int:
    from ..benchmarks.equivariance import EquivarianceConfig, evaluate_equivariance, evaluate_mvimgnet, format_table
    from ..render_folders import open_render_folders

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
    from ..benchmarks.report import draw_report, load_results

    path = draw_report(load_results(args.results), args.out)
    print(f"wrote {path}")
    return 0


def cmd_bench_throughput(args: argparse.Namespace) -> int:
    from ..benchmarks.throughput import run_throughput

    report = run_throughput(features_from_args(args), args.task, args.frames, args.points, args.pairs, args.patch_stride)
    print(json.dumps(report, indent=2))
    if args.out:
        write_result_json(args.out, report)
    return 0


def register(bsub) -> None:
    """Adds this module's benchmarks to `mveq bench`'s subparsers."""
    from ..tracking import TrackerConfig

    tracker = TrackerConfig()
    q = bsub.add_parser("davis", help="TAP-Vid-DAVIS tracking: AJ, delta_avg, OA per video and mean")
    add_feature_args(q)
    q.add_argument("--pkl", required=True, help="tapvid_davis.pkl (the official TAP-Vid pickle)")
    q.add_argument("--mode", default="strided", choices=["strided", "first"])
    add_arguments(q, tracker)  # --patch-stride, --occlusion-threshold, --anchor-threshold from TrackerConfig
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
    q = bsub.add_parser("homography", help="NN-matching error on a real image pair with a known homography (default: opencv-doc graffiti)")
    add_feature_args(q)
    q.add_argument("--images", nargs=2, default=None, metavar=("A", "B"))
    q.add_argument("--homography", default=None, help="3x3 A->B homography (OpenCV XML/YAML or text)")
    q.add_argument("--image-long-side", type=int, default=None, help="resize both images to this longer side first")
    q.add_argument("--out", default=None, help="JSON file")
    q.set_defaults(func=cmd_bench_homography)
