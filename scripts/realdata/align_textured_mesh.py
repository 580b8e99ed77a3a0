"""Bring a textured mesh of a real set's object into that set's model frame (development data tool).

Public textured scans (e.g. YCB objects in simulator asset folders) come in their own frame and units;
the evaluation models of a real set (``../shared/realdata/ycbv_0000/models/NAME/points.xyz``) define the
frame in which ground-truth poses are given. This tool loads the textured mesh (.obj/.glb/.ply, or a
MuJoCo .msh with a texture image), scales it, aligns it to the model points (the 24 axis-aligned matches of
the two oriented bounding boxes, each refined by ICP; trimesh), reports the residual and writes a textured
.glb in millimetres (the BOP convention that `mveq bench real --meshes DIR` reads).

    python scripts/realdata/align_textured_mesh.py --mesh textured.obj --scale 0.01 \
        --points ../shared/realdata/ycbv_0000/models/025_mug/points.xyz --out meshes/025_mug.glb
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image


def load_msh(path: Path, texture: Path | None) -> trimesh.Trimesh:
    """MuJoCo binary mesh: int32 counts (vertices, normals, texcoords, faces), then float32 arrays."""
    raw = path.read_bytes()
    nv, nn, nt, nf = np.frombuffer(raw[:16], dtype=np.int32)
    offset = 16
    def take(count, dtype, width):
        nonlocal offset
        arr = np.frombuffer(raw[offset : offset + 4 * count * width], dtype=dtype).reshape(count, width)
        offset += 4 * count * width
        return arr
    vertices = take(nv, np.float32, 3)
    take(nn, np.float32, 3)
    uv = take(nt, np.float32, 2) if nt else None
    faces = take(nf, np.int32, 3)
    if offset != len(raw):
        raise ValueError(f"{path}: {len(raw) - offset} unread bytes; not a MuJoCo .msh")
    visual = None
    if uv is not None and texture is not None:
        uv = uv.copy()
        uv[:, 1] = 1.0 - uv[:, 1]  # MuJoCo's v axis points down the image
        visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.open(texture))
    return trimesh.Trimesh(vertices.astype(np.float64), faces, visual=visual, process=False)


def rotations_24() -> list[np.ndarray]:
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            R = np.zeros((3, 3))
            R[np.arange(3), perm] = signs
            if np.linalg.det(R) > 0:
                out.append(R)
    return out


def _obb(points: np.ndarray) -> np.ndarray:
    """Object-to-box transform (4, 4) of the minimum oriented bounding box of ``points``."""
    to_origin, _ = trimesh.bounds.oriented_bounds(points)
    return to_origin


def align(mesh: trimesh.Trimesh, target: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Rigid transforms taking ``mesh`` onto ``target``: the 24 axis-aligned matches of the two oriented
    bounding boxes, each refined by ICP, sorted by mean squared distance (lowest first)."""
    source = mesh.sample(20000, seed=0) if len(mesh.faces) else np.asarray(mesh.vertices)
    box_s, box_t = _obb(source), _obb(target)
    found = []
    for F in rotations_24():
        flip = np.eye(4)
        flip[:3, :3] = F
        init = np.linalg.inv(box_t) @ flip @ box_s
        T, _, cost = trimesh.registration.icp(source, target, initial=init, max_iterations=60, scale=False)
        found.append((T, float(cost)))
    return sorted(found, key=lambda item: item[1])


def photo_agreement(mesh: trimesh.Trimesh, candidates, photo_set: Path, frame: str, name: str, srgb: bool) -> list[float]:
    """Colour disagreement (mean CIELAB chroma distance |da| + |db| inside the rendered silhouette;
    lower is better) between the real photo and the mesh rendered at the frame's ground-truth pose,
    one value per candidate transform. Resolves the texture orientation where the geometry is
    symmetric (a box fits four ways); chroma ignores the render's shading."""
    import torch._dynamo  # noqa: F401  (before the first GL context; see render.py)

    from mveq_core.benchmarks.realdata import load_ycbv_frames
    from mveq_core.render import Renderer

    real = load_ycbv_frames(photo_set)
    frame_ = next((f for f in real.frames if f.name == str(frame)), None)
    if frame_ is None:
        raise SystemExit(f"{photo_set}: no frame {frame}")
    ann = next((a for a in frame_.annotations if a.object == name), None)
    if ann is None:
        raise SystemExit(f"{photo_set}/{frame}: {name} not annotated")
    import cv2

    photo = cv2.cvtColor(frame_.rgb, cv2.COLOR_RGB2LAB).astype(np.float64)
    scores = []
    with Renderer(photo.shape[1], photo.shape[0]) as renderer:
        for T, _ in candidates:
            moved = mesh.copy()
            moved.apply_transform(T)
            out = renderer.render(moved, frame_.K, ann.T_cam_obj)
            rendered = cv2.cvtColor(out.rgb, cv2.COLOR_RGB2LAB).astype(np.float64)
            scores.append(float(np.abs(photo[out.mask][:, 1:] - rendered[out.mask][:, 1:]).sum(-1).mean()))
    return scores


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mesh", required=True, type=Path)
    p.add_argument("--texture", type=Path, default=None, help="texture image (for .msh)")
    p.add_argument("--scale", type=float, default=1.0, help="mesh units to metres")
    p.add_argument("--points", required=True, type=Path, help="model points of the set (metres, x y z per line)")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--srgb", action="store_true", help="the texture holds linear colours: encode it as sRGB")
    p.add_argument("--photo", nargs=2, type=Path, metavar=("YCBV_SET", "FRAME"),
                   help="resolve symmetric fits by agreement with this real frame at its GT pose (the object is --points' folder name)")
    args = p.parse_args(argv)
    if args.mesh.suffix == ".msh":
        mesh = load_msh(args.mesh, args.texture)
    else:
        mesh = trimesh.load(str(args.mesh), force="mesh", process=False)
    mesh.apply_scale(args.scale)
    target = np.loadtxt(args.points).reshape(-1, 3)
    if args.srgb:
        image = np.asarray(mesh.visual.material.image.convert("RGB"), dtype=np.float64) / 255.0
        encoded = np.where(image <= 0.0031308, 12.92 * image, 1.055 * image ** (1 / 2.4) - 0.055)
        mesh.visual.material.image = Image.fromarray((encoded * 255 + 0.5).astype(np.uint8))
    candidates = align(mesh, target)
    # geometrically equivalent fits (symmetric shapes): within 20 % of the best residual
    tied = [c for c in candidates if c[1] <= 1.2 * candidates[0][1] + 1e-7]
    report = {"mesh": str(args.mesh), "points": str(args.points), "out": str(args.out), "tied_fits": len(tied)}
    if args.photo is not None and len(tied) > 1:
        scores = photo_agreement(mesh, tied, args.photo[0], args.photo[1], args.points.parent.name, args.srgb)
        tied = [tied[int(np.argmin(scores))]]
        report["photo_chroma_distance"] = scores
    T, cost = tied[0]
    mesh.apply_transform(T)
    # residual: model points to the aligned surface (metres)
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(mesh.sample(200000, seed=1)).query(target)
    mesh.apply_scale(1000.0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.glb")
    mesh.export(str(tmp))
    tmp.replace(args.out)
    report.update(icp_cost_m2=cost, surface_distance_m={"median": float(np.median(dist)), "p95": float(np.percentile(dist, 95))})
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
