#!/usr/bin/env bash
# Issues 3 and 5 on the H100: per-stage pose timings per 640x480 frame (96-view database, both PnP
# back-ends), tracking throughput (256 points, 854x480) and semantic-transfer throughput.
# Random-init weights: speed does not depend on them (RANSAC does depend on the inlier ratio,
# which random features make low: the PnP figures are a low-inlier regime).
set -euo pipefail
. scripts/device/setup.sh
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
M=mveq_core/assets/objects/mveq_toy_drill.glb
for b in dinov2_vitb14 dinov2_vits14; do
  python3 -m mveq_core.cli -q bench pose-speed "${V1[@]}" --backbone $b --weights random --mesh $M --frames 20 --device cuda --out "$OUT/pose_speed_$b.json"
done
python3 -m mveq_core.cli -q bench throughput --backbone dinov2_vitb14 --weights random --task tracking --frames 50 --points 256 --device cuda --out "$OUT/tracking_vitb14.json"
python3 -m mveq_core.cli -q bench throughput --backbone dinov2_vitb14 --weights random --task semantic --pairs 20 --device cuda --grid-divisor 14 --long-side 840 --out "$OUT/semantic_vitb14.json"
