#!/usr/bin/env bash
# Issue 11 on the H100: robust-PnP accuracy and speed table.
# usage: pnp_accuracy.sh [all|fast]   all: opencv EPnP RANSAC 10K, poselib and gpu (slow: OpenCV
# takes seconds per set at high outlier ratios); fast: poselib and gpu only.
set -euo pipefail
. scripts/device/setup.sh
nvidia-smi --query-gpu=name --format=csv,noheader
case ${1:-all} in all) B=opencv,poselib,gpu; S=main;; fast) B=poselib,gpu; S=fast;; esac
python3 -m mveq_core.cli -q bench pnp --pnp $B --device cuda --sizes 100,1000,10000 --outliers 0.1,0.5,0.8,0.9,0.95 --noise 0.5,1,2 --trials 3 --out "$OUT/$S" 2>&1 | grep -v "it/s" | tail -140
python3 -m mveq_core.cli -q bench pnp --pnp $B --device cuda --sizes 20000 --outliers 0.1,0.5,0.8,0.9,0.95 --noise 1 --trials 3 --out "$OUT/${S}_n20000" 2>&1 | grep -v "it/s" | tail -20
