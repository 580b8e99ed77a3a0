"""`mveq finetune`, `render`, `eval-equivariance`, `adapter`: training data, adapters and their files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..io import MveqError
from .options import (
    _csv_ints,
    _csv_strs,
    add_feature_args,
    features_from_args,
    write_result,
)


def _train_data(args: argparse.Namespace):
    from ..train import TrainData

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
        real_step=args.real_step,
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
    group.add_argument("--real", action="append", help="real frames with GT poses and meshes (a BOP dataset or scene, or the ../shared/realdata layouts): render-vs-photo pairs")
    group.add_argument("--real-sets", default=None, help="comma-separated sets of --real to train on (split by object: evaluate on the others)")
    group.add_argument("--real-repeat", type=int, default=1, help="weight of each real photo among the training objects")
    group.add_argument("--real-step", type=int, default=1, help="every N-th frame of each BOP scene of --real (whole BOP splits do not fit in memory)")


def cmd_finetune(args: argparse.Namespace) -> int:
    from ..adapter import AdapterConfig, ResolutionRule
    from ..losses import LossConfig
    from ..pairs import PairConfig
    from ..render import ViewConfig
    from ..train import TrainConfig, distributed_ranks, finetune, learning_curve_summary

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
    from ..provenance import write_result_json

    if distributed_ranks()[1] == 0:  # one writer under torchrun
        write_result_json(Path(args.out) / "report.json", report, device=result.features.device)  # + commit, device, versions, argv
    print(json.dumps(report, indent=2))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from ..objects import find_meshes, mesh_objects, procedural_objects
    from ..photos import load_photos
    from ..render import ViewConfig
    from ..render_folders import write_render_folder

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

    from ..benchmarks.equivariance import EquivarianceConfig, evaluate_equivariance, format_table, view_feature_grids
    from ..render_folders import open_render_folders
    from ..viz import save_pca_figure

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


def cmd_adapter_import(args: argparse.Namespace) -> int:
    from ..adapter import import_official_checkpoint, save_adapter

    adapter = import_official_checkpoint(args.checkpoint, args.backbone)
    save_adapter(args.out, adapter)
    print(f"imported {args.checkpoint} -> {args.out} (backbone {adapter.backbone}, rank {adapter.config.rank}, fingerprint {adapter.fingerprint()})")
    return 0


def cmd_adapter_info(args: argparse.Namespace) -> int:
    from ..adapter import ADAPTER_META, load_adapter
    from ..io import read_json

    adapter = load_adapter(args.adapter)
    meta = read_json(Path(args.adapter) / ADAPTER_META)
    meta["tensors"] = len(adapter.tensors)
    meta["parameters"] = int(sum(t.numel() for t in adapter.tensors.values()))
    print(json.dumps(meta, indent=2))
    return 0


def register(sub) -> None:
    """Adds this module's subcommands to the ``mveq`` parser's subparsers."""
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
