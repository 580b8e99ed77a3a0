"""`mveq pose`, `demo`, `backbones`, `ros-setup`: pose estimation for users."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..provenance import write_result_json
from .options import (
    add_feature_args,
    add_pnp_args,
    features_for_databases,
    log,
    parse_camera,
    pose_config_from_args,
    resolve_device_name,
)


def cmd_backbones(args: argparse.Namespace) -> int:
    from ..backbones import BACKBONES

    for spec in BACKBONES.values():
        print(f"{spec.name:20s} {spec.timm_id:45s} {spec.description}")
    return 0


def cmd_pose(args: argparse.Namespace) -> int:
    import numpy as np

    from ..database import load_database
    from ..io import MveqError, read_image_raw, read_image_rgb, write_image_atomic
    from ..pose import PoseEstimator
    from ..viz import draw_matches, draw_pose

    config = pose_config_from_args(args)  # options first: a bad value must not wait for files or a model
    K, dist = parse_camera(args.K, args.camera)
    image = read_image_rgb(args.image)
    mask = read_image_raw(args.mask) > 0 if args.mask else None
    if mask is not None and mask.ndim == 3:
        mask = mask.any(axis=2)
    box = [float(v) for v in args.box.split(",")] if args.box else None
    from ..depth import read_depth

    depth = read_depth(args.depth, image.shape[:2], args.depth_scale) if args.depth else None
    from ..bundled import resolve

    databases = [load_database(resolve(p, "databases")) for p in args.db]
    if args.mesh and len(databases) != 1:
        raise MveqError(f"--mesh is the mesh of one object: give one --db, got {len(databases)}")
    features = features_for_databases(args, databases)
    estimator = PoseEstimator(features, (), config)
    for path, db in zip(args.db, databases):
        estimator.add_database(db, path)
    if args.mesh:
        from ..render import load_mesh

        estimator.set_mesh(databases[0].name, load_mesh(args.mesh, args.units))
    results = estimator.estimate(image, K, mask=mask, box=box, dist_coeffs=dist, depth=depth)
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
            depth_note = f", distance corrected by depth {r.depth_correction.shift_m * 1e3:+.1f} mm" if r.depth_correction else ""
            box_note = f", moved {r.box_fit.shift_m * 1e3:.1f} mm toward the box's fit ({r.box_fit.how})" if r.box_fit and r.box_fit.applied else ""
            print(f"{r.object_name}: t = [{t[0]:.4f}, {t[1]:.4f}, {t[2]:.4f}] m, {r.num_inliers}/{r.num_matches} inliers, score {r.score:.2f}, {r.timings_ms['total']:.0f} ms{box_note}{depth_note}")
        else:
            print(f"{r.object_name}: no pose ({r.reason})")
    print(f"wrote {out} and {overlay_path}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from ..benchmarks.rendered_pose import (
        QueryConfig,
        evaluate_queries,
        format_rows,
        render_queries,
        summarise,
    )
    from ..bundled import SAMPLE_DATABASE, SAMPLE_OBJECT
    from ..database import load_database
    from ..features import DenseFeatures
    from ..io import write_image_atomic
    from ..pose import PoseConfig, PoseEstimator
    from ..render import load_mesh
    from ..viz import draw_matches, draw_pose, image_grid

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
    from ..packaging import install_ros_layout

    prefix = Path(args.prefix or sys.prefix)
    for path in install_ros_layout(prefix):
        print(path)
    print(f"for ros2 launch/run: export AMENT_PREFIX_PATH={prefix}:$AMENT_PREFIX_PATH")
    return 0


def register(sub) -> None:
    """Adds this module's subcommands to the ``mveq`` parser's subparsers."""
    from ..pose import PoseConfig

    p = sub.add_parser("backbones", help="list the supported backbones")
    p.set_defaults(func=cmd_backbones)

    p = sub.add_parser("pose", help="estimate object poses in an image")
    add_feature_args(p)
    add_pnp_args(p)
    p.add_argument("--db", action="append", required=True, help="object database(s): .mvdb files or bundled:NAME")
    p.add_argument("--image", required=True)
    p.add_argument("--K", default=None, help="fx,fy,cx,cy")
    p.add_argument("--camera", default=None, help="camera JSON: K (3x3) or fx/fy/cx/cy, optional dist")
    p.add_argument("--mask", default=None, help="object mask image (non-zero = object)")
    p.add_argument("--box", default=None, help="x0,y0,x1,y1 crop around the object")
    p.add_argument("--depth", default=None, help="depth image registered to --image (RGB-D): corrects each pose's distance (16-bit PNG in mm, float TIFF or .npy in m; see --depth-scale)")
    p.add_argument("--depth-scale", type=float, default=None, help="metres per depth unit (default: 0.001 for integer images, 1 for float images)")
    p.add_argument("--mesh", default=None, help="the object's mesh, for --render-refine (one --db; default: the CAD database's own mesh file when found)")
    p.add_argument("--units", default="m", choices=["m", "cm", "mm"], help="units of --mesh")
    p.add_argument("--out", required=True, help="result JSON")
    p.add_argument("--overlay", default=None, help="overlay PNG (default: next to --out)")
    p.set_defaults(func=cmd_pose, backbone=None, weights=None)

    p = sub.add_parser("demo", help="the main job on the bundled object: render held-out views, estimate poses, report errors")
    p.add_argument("--queries", type=int, default=6)
    p.add_argument("--input-size", type=int, default=PoseConfig().input_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="mveq_demo")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("ros-setup", help="pip/editable installs: the ament index entry, share/ launch+config files and lib/mveq_ros executables under PREFIX")
    p.add_argument("--prefix", default=None, help="install prefix (default: this Python's)")
    p.set_defaults(func=cmd_ros_setup)
