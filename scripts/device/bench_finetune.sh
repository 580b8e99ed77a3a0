#!/usr/bin/env bash
# Issue 2 benchmark: `mveq finetune` of dinov2_vitb14 (random init: no pretrained weights reachable)
# at the paper's resolution (512 px renders scaled to a 640 px long side, grid = /8, ViT at 1120 px).
set -euo pipefail
. scripts/device/setup.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, timm, peft; print('torch', torch.__version__, 'timm', timm.__version__, 'peft', peft.__version__)"
for precision in fp32 bf16; do
  python3 -m mveq_core.cli -q finetune --backbone dinov2_vitb14 --weights random --procedural 8 \
    --iters 150 --image-size 512 --workers 12 --device cuda --precision "$precision" \
    --checkpoint-every 1000 --out "/tmp/bench_vitb14_$precision" | tee "$OUT/finetune_vitb14_$precision.json"
done
