"""Equivariance finetuning: adapter-only AdamW on view pairs, checkpoints, exact resume, torchrun DDP."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .adapter import AdapterConfig, ResolutionRule, load_adapter
from .backbones import DEFAULT_BACKBONE, WEIGHTS_PRETRAINED, create_backbone
from .features import DenseFeatures, resolve_device
from .io import MveqError, atomic_path, write_json_atomic
from .losses import LossConfig, equivariance_loss
from .objects import find_meshes, mesh_objects, procedural_objects
from .pairs import PairConfig, PairDataset, PairSampler
from .photos import load_photos
from .render import ViewConfig
from .render_folders import open_render_folders

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class TrainData:
    """Where training pairs come from; several sources may be combined."""

    render_dirs: tuple[str, ...] = ()
    meshes: tuple[str, ...] = ()
    mesh_dirs: tuple[str, ...] = ()
    procedural: int = 0
    procedural_seed: int = 0
    # Texture procedural objects with crops of photographs: a folder of images, or "opencv:train"
    # (the training split of Debian opencv-doc's sample photos).
    photos: str | None = None
    units: str = "m"
    # Render-vs-photo pairs (mveq_core.realpairs): real-data folders in a layout of
    # mveq_core.benchmarks.realdata, restricted to these sets (e.g. "handal"), each annotated photo
    # counted ``real_repeat`` times among the objects.
    real_dirs: tuple[str, ...] = ()
    real_sets: tuple[str, ...] = ()
    real_repeat: int = 1
    # Every ``real_step``-th frame of a BOP split (a whole BOP split does not fit in memory).
    real_step: int = 1

    def objects(self, view: ViewConfig):
        objects = []
        for d in self.render_dirs:
            objects += open_render_folders(d)
        paths = [Path(m) for m in self.meshes] + [p for d in self.mesh_dirs for p in find_meshes(d)]
        if paths:
            objects += mesh_objects(paths, view, self.units)
        if self.procedural:
            objects += procedural_objects(self.procedural, self.procedural_seed, view, photos=load_photos(self.photos))
        if self.real_dirs:
            from .realpairs import photo_objects

            sets = [s for d in self.real_dirs for s in real_training_sets(d, self.real_sets, self.real_step)]
            objects += photo_objects(sets, view.image_size) * max(1, self.real_repeat)
        if not objects:
            raise MveqError("no training data: give --data DIR, --mesh FILE, --meshes DIR, --procedural N or --real DIR")
        return objects


def real_training_sets(folder: str | Path, names: Sequence[str] = (), step: int = 1) -> list:
    """The annotated real sets in ``folder`` for render-vs-photo pairs: a BOP dataset or scene (every
    split that holds scenes, e.g. ``test`` or ``train_real``; named after the dataset; every
    ``step``-th frame of each scene) or the ``../shared/realdata`` layouts, kept to ``names`` when
    given."""
    if step < 1:
        raise ValueError(f"real_step must be a positive frame step, got {step}")
    from .benchmarks.bop import bop_splits, load_bop
    from .benchmarks.realdata import load_realdata

    splits = bop_splits(folder)
    if not splits:
        return load_realdata(folder, list(names) or None)
    sets = [load_bop(folder, split=split, frame_step=step) for split in splits]
    kept = [s for s in sets if not names or s.name in names]
    if not kept:
        raise MveqError(f"{folder}: BOP set {sets[0].name!r} is not among --real-sets {','.join(names)}")
    return kept


@dataclass(frozen=True)
class TrainConfig:
    """Finetuning settings. Defaults are the paper's recipe (AdamW 1e-5, wd 1e-4, clip 1.0, 10K
    iterations, batch 1, renders scaled to a 640 px long side with grid = image / 8)."""

    backbone: str = DEFAULT_BACKBONE
    weights: str = WEIGHTS_PRETRAINED
    adapter: AdapterConfig = AdapterConfig()
    loss: LossConfig = LossConfig()
    pairs: PairConfig = PairConfig()
    views: ViewConfig = ViewConfig()
    resolution: ResolutionRule = ResolutionRule(grid_divisor=8.0, long_side=640)
    layer: int = -1
    iterations: int = 10_000
    batch_size: int = 1
    lr: float = 1e-5
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    precision: str = "fp32"
    workers: int = 2
    device: str = "auto"
    init_adapter: str | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        return json.loads(json.dumps(d, default=list))


@dataclass
class TrainResult:
    iterations: int
    losses: list[float]
    adapter_dir: Path
    seconds: float
    peak_memory_mb: float | None = None
    extra: dict = field(default_factory=dict)
    features: DenseFeatures | None = None  # the trained model (eval mode)


def distributed_ranks() -> tuple[int, int, int]:
    """(world size, rank, local rank) of this process under torchrun (1, 0, 0 alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return world, rank, local


def build_features(config: TrainConfig, device: torch.device) -> DenseFeatures:
    torch.manual_seed(config.seed)  # LoRA A and conv init
    backbone = create_backbone(config.backbone, config.weights, device)
    features = DenseFeatures(backbone, config.adapter, config.resolution, config.layer, config.precision).to(device)
    if config.init_adapter:
        start = load_adapter(config.init_adapter)
        if start.config != config.adapter or start.backbone != config.backbone:
            raise MveqError(f"{config.init_adapter}: adapter ({start.backbone}, {start.config}) does not match this run's ({config.backbone}, {config.adapter})")
        features.load_adapter_tensors(start)
    return features


def _sample_ids(iterations: range, world: int, rank: int, batch: int) -> list[int]:
    # Global sample id of (iteration, rank, slot): the data of a step never depends on history.
    return [(it * world + rank) * batch + k for it in iterations for k in range(batch)]


def finetune(
    config: TrainConfig,
    data: TrainData,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    on_checkpoint: Callable[[int], None] | None = None,
) -> TrainResult:
    """Run (or resume) finetuning; writes ``out_dir/checkpoint.pt`` and ``out_dir/adapter/``.

    Under torchrun (WORLD_SIZE > 1) every rank trains on its own pairs and gradients are averaged
    with DistributedDataParallel (NCCL on GPUs, gloo on CPUs). Rank 0 writes files.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    world, rank, local = distributed_ranks()
    device = resolve_device(config.device, local)
    dist_started = False
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend)
        dist_started = True
    try:
        features = build_features(config, device)
        params = features.trainable_parameters()
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        start_iteration, losses = 0, []
        checkpoint_path = out_dir / CHECKPOINT
        if resume and checkpoint_path.is_file():
            start_iteration, losses = _load_checkpoint(checkpoint_path, features, optimizer, config)
            log.info("resuming %s at iteration %d", checkpoint_path, start_iteration)
        elif resume:
            log.info("no checkpoint in %s: starting from scratch", out_dir)
        sampler = PairSampler(data.objects(config.views), config.pairs)  # bad training data fails here, before anything is written
        if rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out_dir / "train_config.json", {"config": config.to_json(), "data": asdict(data)})
        model: torch.nn.Module = features
        if world > 1:
            model = torch.nn.parallel.DistributedDataParallel(features, device_ids=[device.index] if device.type == "cuda" else None)
        dataset = PairDataset(sampler, config.seed, 0, 2**62)
        ids = _sample_ids(range(start_iteration, config.iterations), world, rank, config.batch_size)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=ids,
            num_workers=config.workers,
            persistent_workers=False,
            pin_memory=device.type == "cuda",
        )
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.time()
        bar = tqdm(total=config.iterations, initial=start_iteration, desc="finetune", disable=not progress or rank != 0, dynamic_ncols=True)
        iteration = start_iteration
        step_times: list[float] = []
        model.train()
        for batch in loader:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            images = torch.cat([batch["rgb_a"], batch["rgb_b"]])
            grid = model(images)
            hw = images.shape[-2:]
            B = batch["rgb_a"].shape[0]
            desc_a = DenseFeatures.sample(grid[:B], batch["xy_a"], hw)
            desc_b = DenseFeatures.sample(grid[B:], batch["xy_b"], hw)
            loss = equivariance_loss(desc_a, desc_b, batch["xyz_a"], batch["xyz_b"], batch["valid_a"], batch["valid_b"], config.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            value = float(loss.detach())
            if world > 1:
                t = torch.tensor([value], device=device)
                torch.distributed.all_reduce(t)
                value = float(t) / world
            losses.append(value)
            step_times.append(time.time())
            iteration += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
                if rank == 0:
                    _save_checkpoint(checkpoint_path, features, optimizer, iteration, losses, config)
                    _save_adapter(out_dir, features, config, data, iteration)
                if world > 1:
                    torch.distributed.barrier()
                if on_checkpoint is not None:
                    on_checkpoint(iteration)
        bar.close()
        seconds = time.time() - t0
        if iteration == start_iteration and rank == 0:  # nothing left to do; still leave an adapter
            _save_adapter(out_dir, features, config, data, iteration)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        features.eval()
        extra = {"iterations_run": iteration - start_iteration}
        if len(step_times) > 20:  # throughput after warm-up (first 10 steps: cuDNN/allocator/loader start)
            extra["steady_iterations_per_second"] = (len(step_times) - 11) / (step_times[-1] - step_times[10])
        return TrainResult(iteration, losses, out_dir / "adapter", seconds, peak, extra, features)
    finally:
        if dist_started:
            torch.distributed.destroy_process_group()


def _provenance(config: TrainConfig, data: TrainData, iteration: int) -> dict:
    return {
        "iterations": iteration,
        "loss": config.loss.name,
        "lr": config.lr,
        "seed": config.seed,
        "data": {k: v for k, v in asdict(data).items() if v},
        "weights": config.weights,
    }


def _save_adapter(out_dir: Path, features: DenseFeatures, config: TrainConfig, data: TrainData, iteration: int) -> None:
    from .adapter import save_adapter

    save_adapter(out_dir / "adapter", features.adapter_file({"trained": _provenance(config, data, iteration)}))


def _save_checkpoint(path: Path, features: DenseFeatures, optimizer, iteration: int, losses: list[float], config: TrainConfig) -> None:
    state = {
        "iteration": iteration,
        "losses": torch.tensor(losses, dtype=torch.float64),
        "adapter": features.adapter_file().tensors,
        "optimizer": optimizer.state_dict(),
        "config": json.dumps(config.to_json(), sort_keys=True),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, features: DenseFeatures, optimizer, config: TrainConfig) -> tuple[int, list[float]]:
    from .adapter import AdapterFile

    try:
        state = torch.load(path, map_location=features.device, weights_only=True)
    except Exception as exc:
        raise MveqError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); delete it to start again") from None
    saved = json.loads(state["config"])
    current = config.to_json()
    # The run length may grow on resume; everything else must match.
    diff = sorted(k for k in current if k not in ("iterations", "workers", "checkpoint_every") and saved.get(k) != current[k])
    if diff:
        raise MveqError(f"{path}: checkpoint was written with different settings ({', '.join(diff)}); use another --out or the same options")
    features.load_adapter_tensors(AdapterFile(config.backbone, config.adapter, config.resolution, state["adapter"]))
    optimizer.load_state_dict(state["optimizer"])
    return int(state["iteration"]), [float(x) for x in state["losses"].tolist()]


def learning_curve_summary(losses: list[float], window: int = 10) -> dict[str, float]:
    """Mean loss over the first and last ``window`` iterations."""
    if not losses:
        return {"first": math.nan, "last": math.nan}
    w = max(1, min(window, len(losses) // 2 or 1))
    return {"first": float(np.mean(losses[:w])), "last": float(np.mean(losses[-w:]))}
