"""PF-PASCAL semantic keypoint transfer with PCK@0.05/0.10/0.15.

Official layout (Proposal Flow, PF-PASCAL)::

    PF-dataset-PASCAL/JPEGImages/<image>.jpg
    PF-dataset-PASCAL/Annotations/<class>/<image>.mat      kps (K x 2, NaN where absent), bbox
    PF-dataset-PASCAL/test_pairs_pf_{same,different}_views.csv

The pair files (from the 3DCorrEnhance release) have columns
``source_image,target_image,class,XA,YA,XB,YB``: image paths relative to the dataset folder's
parent, the class index 1..20, and ';'-separated keypoint coordinates of A and B.

PCK convention (stated, selectable): the threshold is alpha x max(height, width) of the target
object's bounding box (``bbox`` from its annotation; the target keypoints' extent when the
annotation has none); ``--pck-ref image`` uses max(height, width) of the target image instead.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..features import DenseFeatures
from ..io import MveqError, read_image_rgb
from ..metrics.pck import PCK_ALPHAS, pck_from_errors
from ..semantic import transfer_keypoints

CLASSES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def read_pairs(csv_path: str | Path) -> list[dict]:
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: pair file not found")
    pairs = []
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        if [h.strip() for h in header[:3]] != ["source_image", "target_image", "class"]:
            raise MveqError(f"{csv_path}: unexpected header {header}")
        for line_no, row in enumerate(reader, start=2):
            try:
                xa, ya, xb, yb = (np.array([float(v) for v in col.split(";")]) for col in row[3:7])
            except (ValueError, IndexError):
                raise MveqError(f"{csv_path}:{line_no}: malformed keypoint columns") from None
            pairs.append({"source": row[0], "target": row[1], "class": int(row[2]), "kps_a": np.stack([xa, ya], 1), "kps_b": np.stack([xb, yb], 1)})
    return pairs


def _resolve_image(root: Path, name: str) -> Path:
    for candidate in (root.parent / name, root / name, root / "JPEGImages" / Path(name).name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{name}: image not found under {root}")


def target_bbox(root: Path, image_name: str, class_index: int) -> np.ndarray | None:
    """[x0, y0, x1, y1] from Annotations/<class>/<image>.mat (its ``bbox`` field), or None."""
    from scipy.io import loadmat

    path = root / "Annotations" / CLASSES[class_index - 1] / (Path(image_name).stem + ".mat")
    if not path.is_file():
        return None
    mat = loadmat(str(path))
    if "bbox" not in mat:
        return None
    return np.asarray(mat["bbox"], dtype=np.float64).reshape(-1)[:4]


def run_pfpascal(features: DenseFeatures, root: str | Path, pairs_csv: str | Path, pck_reference: str = "bbox", soft_argmax: bool = False, max_pairs: int | None = None, progress: bool = True) -> dict:
    from tqdm import tqdm

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: PF-dataset-PASCAL folder not found")
    pairs = read_pairs(pairs_csv)[:max_pairs]
    per_class: dict[str, list] = {}
    for pair in tqdm(pairs, desc="pf-pascal", disable=not progress):
        image_a = read_image_rgb(_resolve_image(root, pair["source"]))
        image_b = read_image_rgb(_resolve_image(root, pair["target"]))
        n = min(len(pair["kps_a"]), len(pair["kps_b"]))
        kps_a, kps_b = pair["kps_a"][:n], pair["kps_b"][:n]
        valid = np.all(np.isfinite(kps_a), 1) & np.all(np.isfinite(kps_b), 1) & np.all(kps_a >= 0, 1) & np.all(kps_b >= 0, 1)
        kps_a, kps_b = kps_a[valid], kps_b[valid]
        if len(kps_a) == 0:
            continue
        pred = transfer_keypoints(features, image_a, kps_a, image_b, soft_argmax=soft_argmax)
        if pck_reference == "image":
            ref = float(max(image_b.shape[:2]))
        else:
            box = target_bbox(root, pair["target"], pair["class"])
            if box is None:
                box = np.r_[kps_b.min(0), kps_b.max(0)]
            ref = float(max(box[2] - box[0], box[3] - box[1]))
        errors = np.linalg.norm(pred - kps_b, axis=1)
        per_class.setdefault(CLASSES[pair["class"] - 1], []).append((errors, ref))
    if not per_class:
        raise MveqError(f"{pairs_csv}: no pairs with visible keypoints")
    table = {}
    for name, items in per_class.items():
        errors = np.concatenate([e for e, _ in items])
        refs = np.concatenate([np.full(len(e), r) for e, r in items])
        table[name] = {**pck_from_errors(errors, refs), "pairs": len(items), "keypoints": int(len(errors))}
    all_err = np.concatenate([e for items in per_class.values() for e, _ in items])
    all_ref = np.concatenate([np.full(len(e), r) for items in per_class.values() for e, r in items])
    overall = pck_from_errors(all_err, all_ref)
    weights = np.array([table[c]["pairs"] for c in table], float)
    weighted = {f"PCK@{a:.2f}": float(np.average([table[c][f"PCK@{a:.2f}"] for c in table], weights=weights)) for a in PCK_ALPHAS}
    return {"benchmark": "pf-pascal", "pck_reference": pck_reference, "per_class": table, "overall_keypoints": overall, "mean_weighted_by_pairs": weighted, "pairs": int(weights.sum()), "features": features.describe()}


def format_table(result: dict) -> str:
    keys = [f"PCK@{a:.2f}" for a in PCK_ALPHAS]
    lines = [f"{'class':<12}  " + "  ".join(f"{k:>8}" for k in keys) + "  pairs"]
    for name, row in result["per_class"].items():
        lines.append(f"{name:<12}  " + "  ".join(f"{row[k] * 100:7.1f}%" for k in keys) + f"  {row['pairs']:5d}")
    lines.append(f"{'weighted':<12}  " + "  ".join(f"{result['mean_weighted_by_pairs'][k] * 100:7.1f}%" for k in keys) + f"  {result['pairs']:5d}")
    return "\n".join(lines)
