"""BOP19 average recall (AR_VSD, AR_MSSD, AR_MSPD, AR: the metric of the BOP challenge and of
FoundPose's LM-O figure) of the poses a `mveq bench bop` run recorded, re-scored from its raw JSON
rows against the BOP scene it ran on (depth images for VSD, models_info.json for diameters and
symmetries). One estimate per instance, with the row's score; failed rows count as missed.

    .venv/bin/python scripts/realdata/bop_ar_from_rows.py ROWS.json [ROWS.json ...] --root BOP_DIR [--dataset lmo]

(--dataset picks VSD's misalignment tolerance delta: 15 mm for LM/LM-O, YCB-V, T-LESS, HB.)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

from mveq_core.benchmarks.ycbv import BopDataset, BopTarget, evaluate_bop19
from mveq_core.io import MveqError


def rows_to_estimates(rows: list[dict]) -> tuple[list[BopTarget], dict]:
    """BOP targets and {(scene, im, obj): [(score, T)]} from a bench run's rows (targets only)."""
    targets, estimates = [], {}
    for r in rows:
        if not r.get("target", True):
            continue
        m = re.search(r"(\d+)/(\d+)$", r["frame"])
        o = re.search(r"(\d+)$", r["object"])
        if m is None or o is None:
            raise MveqError(f"row frame {r['frame']!r} / object {r['object']!r}: not a BOP scene/image and obj_NNNNNN")
        key = (int(m.group(1)), int(m.group(2)), int(o.group(1)))
        targets.append(BopTarget(*key, inst_count=1))
        if r.get("success") and r.get("T_est") is not None:
            estimates.setdefault(key, []).append((float(r.get("score") or 0.0), np.asarray(r["T_est"], float)))
    return targets, estimates


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+")
    parser.add_argument("--root", required=True, help="the BOP dataset folder the run read (models/, test/)")
    parser.add_argument("--dataset", default="lmo")
    args = parser.parse_args(argv)
    for path in args.rows:
        targets, estimates = rows_to_estimates(json.loads(Path(path).read_text())["rows"])
        scores = evaluate_bop19(BopDataset(args.root, targets_file=None), targets, estimates, args.dataset, progress=False)
        print(f"{Path(path).name}: {len(targets)} targets, {len(estimates)} estimated   " + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
