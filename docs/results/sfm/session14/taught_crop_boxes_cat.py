"""Scratch: are taught databases' crops (box of all object points' observations) framed like the
query's GT visible box on the real LINEMOD cat? And does a percentile box change held-out poses?"""
import sys, time, pickle
sys.path.insert(0, "/work/main/scripts/realdata")
import numpy as np
from mveq_core import sfm, teach
from mveq_core.benchmarks.bop import load_bop
from mveq_core.benchmarks.realdata import fill_visible_boxes
import mveq_core.reference_database as refdb
from linemod_sfm import aligned_errors

real = load_bop("/work/scratch/lm_cat_bop")
frames = real.frames
images = [f.rgb for f in frames]
K = frames[0].K
T_gt = [f.annotations[0].T_cam_obj for f in frames]
name = frames[0].annotations[0].object
mesh = real.objects[name].mesh()
size = sfm.longest_side(np.asarray(mesh.vertices))
chosen = sfm.select_keyframes(images, 40)
fill_visible_boxes(frames[chosen[0]], real.objects)
box = (chosen[0], frames[chosen[0]].annotations[0].box)
from mveq_core.densify import DensifyConfig
from mveq_core.features import OFFLINE_DEFAULT, DenseFeatures
from mveq_core.pose import PoseEstimator
features = DenseFeatures.create(OFFLINE_DEFAULT)
import os
cache = "/work/scratch/s14/cat_teach.pkl"
if os.path.exists(cache):
    db, report, rec = pickle.load(open(cache, "rb"))
else:
    db, report, rec = teach.teach(features, images, K, name, object_size=size, box=box, keyframes=40, centre_window=0.5, dense=DensifyConfig(), progress=False)
    pickle.dump((db, report, rec), open(cache, "wb"))
keyframes = report.keyframes
keep = np.zeros(len(rec.points), bool); keep[rec.object_point_ids] = True
ratios = {"all": [], "p1": [], "p2": []}
for k in sorted(rec.T_cam_world):
    f = frames[keyframes[k]]
    fill_visible_boxes(f, real.objects)
    gx0, gy0, gx1, gy1 = f.annotations[0].box
    xy, pids = rec.observations[k]
    xy = xy[keep[pids]]
    if len(xy) < 6:
        continue
    for label, q in (("all", 0), ("p1", 1), ("p2", 2)):
        lo, hi = np.percentile(xy, q, 0), np.percentile(xy, 100 - q, 0)
        ratios[label].append(max(hi - lo) / max(gx1 - gx0, gy1 - gy0))
for label, r in ratios.items():
    print("points box longer side / GT visible box longer side:", label, "median", round(float(np.median(r)), 3), "p10", round(float(np.percentile(r, 10)), 3), "p90", round(float(np.percentile(r, 90)), 3))
held = [i for i in range(len(frames)) if i not in set(keyframes)]
queries = [held[j] for j in np.linspace(0, len(held) - 1, min(30, len(held))).round().astype(int)]
original = refdb.reference_box
def percentile_box(q):
    def box_of(frame, bbox3d):
        if frame.mask is None and bbox3d is None and frame.xy is not None and len(frame.xy):
            lo, hi = np.percentile(frame.xy, q, 0), np.percentile(frame.xy, 100 - q, 0) + 1
            return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
        return original(frame, bbox3d)
    return box_of
for label, fn in (("all points (default)", original), ("1-99th percentile", percentile_box(1)), ("2-98th percentile", percentile_box(2))):
    refdb.reference_box = fn
    d = teach.database_from_reconstruction(features, [images[i] for i in keyframes], K, rec, name, progress=False)
    estimator = PoseEstimator(features, [d])
    est = {}
    for i in queries:
        fill_visible_boxes(frames[i], real.objects)
        r = estimator.estimate(frames[i].rgb, K, box=frames[i].annotations[0].box)[name]
        if r.success:
            est[len(est)] = (i, r.T_cam_obj)
    rel = sfm.relative_motion_summary({k: T for k, (_, T) in est.items()}, [T_gt[i] for i, _ in est.values()], spread="p90")
    al = aligned_errors(est, T_gt, rec, keyframes, real.objects[name].points, real.objects[name].diameter)
    print(label, len(d), "posed", len(est), "rel", round(rel["median_rotation_error_deg"], 2), round(rel["p90_rotation_error_deg"], 1), "aligned", round(al["median_rotation_error_deg"], 2), round(al["median_translation_error_mm"], 1), "5cm5", round(al["share_5cm5deg"], 3), flush=True)

# projected variants: the box of all object points (3D) projected into the keyframe
obj3d = rec.points[rec.object_point_ids]
def projected_box_of(q):
    def box_of(frame, bbox3d):
        if frame.mask is None and bbox3d is None and frame.xy is not None and len(frame.xy):
            T = frame.T_cam_obj
            centre = obj3d.mean(0)
            X = frame.xyz  # object frame points of this frame; need all object points in the object frame:
            P = (obj3d - rec.points[rec.object_point_ids].mean(0)) @ T[:3, :3].T + T[:3, 3]
            uv = P[:, :2] / P[:, 2:] * [frame.K[0, 0], frame.K[1, 1]] + [frame.K[0, 2], frame.K[1, 2]]
            lo, hi = np.percentile(uv, q, 0), np.percentile(uv, 100 - q, 0) + 1
            return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]
        return original(frame, bbox3d)
    return box_of
T_world_obj = teach.object_frame(rec)
ratios = {0: [], 1: []}
for k in sorted(rec.T_cam_world):
    f = frames[keyframes[k]]
    gx0, gy0, gx1, gy1 = f.annotations[0].box
    T = rec.T_cam_world[k] @ T_world_obj
    P = (obj3d - T_world_obj[:3, 3]) @ T[:3, :3].T + T[:3, 3]
    uv = P[:, :2] / P[:, 2:] * [K[0, 0], K[1, 1]] + [K[0, 2], K[1, 2]]
    for q in (0, 1):
        lo, hi = np.percentile(uv, q, 0), np.percentile(uv, 100 - q, 0)
        ratios[q].append(max(hi - lo) / max(gx1 - gx0, gy1 - gy0))
for q, r in ratios.items():
    print("projected box longer side / GT visible box:", q, "median", round(float(np.median(r)), 3), "p10", round(float(np.percentile(r, 10)), 3), "p90", round(float(np.percentile(r, 90)), 3), flush=True)
for label, fn in (("projected all object points", projected_box_of(0)), ("projected, 1-99th percentile", projected_box_of(1))):
    refdb.reference_box = fn
    d = teach.database_from_reconstruction(features, [images[i] for i in keyframes], K, rec, name, progress=False)
    estimator = PoseEstimator(features, [d])
    est = {}
    for i in queries:
        r = estimator.estimate(frames[i].rgb, K, box=frames[i].annotations[0].box)[name]
        if r.success:
            est[len(est)] = (i, r.T_cam_obj)
    rel = sfm.relative_motion_summary({k: T for k, (_, T) in est.items()}, [T_gt[i] for i, _ in est.values()], spread="p90")
    al = aligned_errors(est, T_gt, rec, keyframes, real.objects[name].points, real.objects[name].diameter)
    print(label, len(d), "posed", len(est), "rel", round(rel["median_rotation_error_deg"], 2), round(rel["p90_rotation_error_deg"], 1), "aligned", round(al["median_rotation_error_deg"], 2), round(al["median_translation_error_mm"], 1), "5cm5", round(al["share_5cm5deg"], 3), flush=True)
