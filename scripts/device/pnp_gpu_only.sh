#!/usr/bin/env bash
# Issue 11: the gpu back-end alone over the same synthetic sets as pnp_accuracy.sh (same seeds).
set -euo pipefail
. scripts/device/setup.sh
python3 -m mveq_core.cli -q bench pnp --pnp gpu --device cuda --sizes 100,1000,10000 --outliers 0.1,0.5,0.8,0.9,0.95 --noise 0.5,1,2 --trials 3 --out "$OUT/main" > /dev/null 2>&1
python3 -m mveq_core.cli -q bench pnp --pnp gpu --device cuda --sizes 20000 --outliers 0.1,0.5,0.8,0.9,0.95 --noise 1 --trials 3 --out "$OUT/n20000" > /dev/null 2>&1
cat "$OUT/main/pnp_accuracy.txt" "$OUT/n20000/pnp_accuracy.txt"
