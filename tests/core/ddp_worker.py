"""Run under torchrun by test_train.py: each rank finetunes, then dumps its adapter and losses."""

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from mveq_core.adapter import AdapterConfig, ResolutionRule
from mveq_core.pairs import PairConfig
from mveq_core.render import ViewConfig
from mveq_core.train import TrainConfig, TrainData, finetune


def main(out: str) -> None:
    torch.set_num_threads(1)
    config = TrainConfig(
        backbone="tiny_vit14", weights="random", iterations=4, lr=1e-3, workers=0, device="cpu", checkpoint_every=4,
        views=ViewConfig(image_size=64, views=12), pairs=PairConfig(points_per_view=200, matched_fraction=0.5),
        resolution=ResolutionRule(8, None), adapter=AdapterConfig(conv_init="identity"),
    )
    result = finetune(config, TrainData(procedural=1, procedural_seed=5), out, progress=False)
    rank = int(os.environ["RANK"])
    save_file({k: v.contiguous() for k, v in result.features.adapter_file().tensors.items()}, str(Path(out) / f"rank{rank}.safetensors"))
    (Path(out) / f"rank{rank}_losses.json").write_text(json.dumps(result.losses))


if __name__ == "__main__":
    main(sys.argv[1])
