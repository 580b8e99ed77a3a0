"""The paper's Figure-3-style picture: equivariance (APE) against each task metric, one point per
backbone, before and after finetuning (an arrow from the raw backbone to the adapted one)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from ..io import MveqError, atomic_path

TASK_METRICS = {
    "onepose-lowtexture": ("mean", "5cm-5deg", "OnePose-LowTexture 5cm-5deg"),
    "tapvid-davis": ("mean", "average_jaccard", "TAP-Vid-DAVIS AJ"),
    "pf-pascal": ("mean_weighted_by_pairs", "PCK@0.10", "PF-PASCAL PCK@0.10"),
    "rendered-pose": ("overall", "5cm-5deg", "rendered objects 5cm-5deg"),
    "bop19-ycbv": (None, "AR", "YCB-V AR"),
}


def _model_key(features: str) -> tuple[str, bool]:
    """(backbone name, finetuned?) from a result's features description."""
    backbone = features.split(" ", 1)[0]
    finetuned = "adapter=none" not in features
    return backbone, finetuned


def collect(results: Sequence[dict]) -> dict:
    """{backbone: {finetuned: {"APE": x, task: y, ...}}} from result JSONs of the benchmarks."""
    table: dict = {}
    for r in results:
        if "features" not in r:
            raise MveqError("a result without a 'features' field (write results with mveq bench/eval commands)")
        backbone, tuned = _model_key(r["features"])
        entry = table.setdefault(backbone, {}).setdefault(tuned, {})
        bench = r.get("benchmark", "equivariance")
        if bench in ("equivariance", "equivariance-renders", "equivariance-mvimgnet") or ("mean" in r and "APE" in r.get("mean", {})):
            entry["APE"] = r["mean"]["APE"]
        elif bench in TASK_METRICS:
            section, key, _ = TASK_METRICS[bench]
            entry[bench] = (r[section] if section else r)[key]
    return table


def draw_report(results: Sequence[dict], path: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = collect(results)
    tasks = sorted({t for models in table.values() for e in models.values() for t in e if t != "APE"})
    if not tasks:
        raise MveqError("no task results (onepose, davis, pfpascal, rendered-pose, ycbv) to plot against APE")
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, task in zip(axes[0], tasks):
        for k, (backbone, models) in enumerate(sorted(table.items())):
            pts = {tuned: (e["APE"], e[task]) for tuned, e in models.items() if "APE" in e and task in e}
            c = colours[k % len(colours)]
            for tuned, (x, y) in pts.items():
                ax.scatter([x], [y], color=c, marker="o" if tuned else "s", s=50, label=f"{backbone}{' +adapter' if tuned else ''}")
            if False in pts and True in pts:
                (x0, y0), (x1, y1) = pts[False], pts[True]
                ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color=c))
        ax.set_xlabel("APE (%) - lower is more equivariant")
        ax.set_ylabel(TASK_METRICS[task][2])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def load_results(paths: Sequence[str | os.PathLike]) -> list[dict]:
    out = []
    for p in paths:
        try:
            out.append(json.loads(Path(p).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise MveqError(f"{p}: not a readable result JSON ({exc})") from None
    return out


