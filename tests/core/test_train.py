import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mveq_core.adapter import AdapterConfig, ResolutionRule
from mveq_core.backbones import create_backbone
from mveq_core.benchmarks.equivariance import EquivarianceConfig, evaluate_equivariance
from mveq_core.features import DenseFeatures, load_features
from mveq_core.losses import equivariance_loss
from mveq_core.objects import MeshObject, held_out_pose, procedural_objects
from mveq_core.pairs import PairConfig, PairDataset, PairSampler
from mveq_core.render import ViewConfig
from mveq_core.train import TrainConfig, TrainData, finetune

ROOT = Path(__file__).resolve().parents[2]


def _tiny_config(**overrides):
    base = dict(
        backbone="tiny_vit14", weights="random", lr=1e-3, workers=0, device="cpu", checkpoint_every=1000,
        views=ViewConfig(image_size=64, views=12), pairs=PairConfig(points_per_view=200, matched_fraction=0.5),
        resolution=ResolutionRule(8, None), adapter=AdapterConfig(conv_init="identity"), iterations=6,
    )
    base.update(overrides)
    return TrainConfig(**base)


class HeldOutViews:
    """Views of an object at random poses that training never rendered."""

    def __init__(self, mesh, count, seed, size):
        self.obj = MeshObject(mesh, "held_out", ViewConfig(image_size=size))
        rng = np.random.default_rng(seed)
        self.poses = [held_out_pose(self.obj, rng) for _ in range(count)]
        self.name, self.extent = "held_out", self.obj.extent

    def num_views(self):
        return len(self.poses)

    def pose(self, i):
        return self.poses[i]

    def view(self, i, rng=None):
        return self.obj.view_at(self.poses[i])


def _loss_on_fixed_pairs(features, pairs, config):
    losses = []
    with torch.no_grad():
        for p in pairs:
            grid = features(torch.stack([p["rgb_a"], p["rgb_b"]]))
            hw = p["rgb_a"].shape[-2:]
            desc_a = DenseFeatures.sample(grid[:1], p["xy_a"][None], hw)
            desc_b = DenseFeatures.sample(grid[1:], p["xy_b"][None], hw)
            losses.append(equivariance_loss(desc_a, desc_b, p["xyz_a"][None], p["xyz_b"][None], p["valid_a"][None], p["valid_b"][None], config.loss).item())
    return float(np.mean(losses))


def test_tiny_vit_finetune_lowers_loss_and_improves_held_out_ape(tmp_path, procedural_mesh):
    config = _tiny_config(iterations=300, views=ViewConfig(image_size=128, views=42), pairs=PairConfig(points_per_view=1000, matched_fraction=0.5))
    result = finetune(config, TrainData(procedural=1, procedural_seed=5), tmp_path / "run", progress=False)
    assert len(result.losses) == 300
    before_model = DenseFeatures(create_backbone("tiny_vit14", "random"))

    # Training loss on 20 fixed training pairs (single-pair losses are too noisy to compare).
    fixed = PairDataset(PairSampler(procedural_objects(1, 5, config.views), config.pairs), seed=777, start=0, stop=20)
    pairs = [fixed[i] for i in range(20)]
    assert _loss_on_fixed_pairs(result.features, pairs, config) < _loss_on_fixed_pairs(before_model, pairs, config) - 0.01

    held_out = HeldOutViews(procedural_mesh, count=8, seed=99, size=128)
    evaluation = EquivarianceConfig(queries_per_pair=300, max_view_angle_deg=120)
    before = evaluate_equivariance(before_model, [held_out], evaluation, progress=False)["mean"]
    after = evaluate_equivariance(result.features, [held_out], evaluation, progress=False)["mean"]
    assert after["APE"] < before["APE"] - 1.0, (before, after)
    assert after["PCDP@20"] > before["PCDP@20"]

    # The saved adapter reproduces the trained model's features exactly.
    reloaded = load_features("tiny_vit14", "random", result.adapter_dir)
    image = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(reloaded(image), result.features(image))


def test_one_iteration_changes_the_adapter(tmp_path):
    result = finetune(_tiny_config(iterations=1), TrainData(procedural=1), tmp_path / "one", progress=False)
    assert result.iterations == 1 and (result.adapter_dir / "adapter.safetensors").is_file()
    tensors = load_file(str(result.adapter_dir / "adapter.safetensors"))
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in tensors.items())


KILL_SCRIPT = """
import os, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads({threads})  # as in the parent: the same float summation order
from tests.core.test_train import _tiny_config
from mveq_core.train import TrainData, finetune

def die(iteration):
    if iteration == 3:
        os._exit(17)  # as abrupt as a kill: no cleanup, no final save

finetune(_tiny_config(checkpoint_every=3), TrainData(procedural=1), {out!r}, progress=False, on_checkpoint=die)
"""


def test_resume_after_kill_equals_uninterrupted_run(tmp_path):
    uninterrupted = finetune(_tiny_config(checkpoint_every=3), TrainData(procedural=1), tmp_path / "full", progress=False)

    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), out=str(tmp_path / "resumed"), threads=torch.get_num_threads())], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 17, killed.stderr[-2000:]
    assert (tmp_path / "resumed" / "checkpoint.pt").is_file()
    resumed = finetune(_tiny_config(checkpoint_every=3), TrainData(procedural=1), tmp_path / "resumed", resume=True, progress=False)
    assert resumed.extra["iterations_run"] == 3
    assert resumed.losses == uninterrupted.losses
    a = load_file(str(uninterrupted.adapter_dir / "adapter.safetensors"))
    b = load_file(str(resumed.adapter_dir / "adapter.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_different_settings_is_refused(tmp_path):
    finetune(_tiny_config(iterations=2, checkpoint_every=2), TrainData(procedural=1), tmp_path / "r", progress=False)
    from mveq_core.io import MveqError

    with pytest.raises(MveqError, match="lr"):
        finetune(_tiny_config(iterations=4, lr=5e-4), TrainData(procedural=1), tmp_path / "r", resume=True, progress=False)


def test_torchrun_ddp_two_cpu_processes_stay_in_sync(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000), str(ROOT / "tests/core/ddp_worker.py"), str(tmp_path)]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    assert all(torch.equal(r0[k], r1[k]) for k in r0)  # DDP averaged gradients: identical replicas
    assert any(k.endswith("lora_B.weight") and r0[k].abs().sum() > 0 for k in r0)
    losses0 = json.loads((tmp_path / "rank0_losses.json").read_text())
    assert losses0 == json.loads((tmp_path / "rank1_losses.json").read_text()) and len(losses0) == 4
    assert (tmp_path / "adapter" / "adapter.json").is_file()  # rank 0 wrote the run's files
