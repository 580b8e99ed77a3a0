"""How far apart may a user's views be? SIFT SfM (`mveq_core.sfm.reconstruct`, what teaching
runs) on a real calibrated ring subsampled to every 1st, 2nd, 3rd, ... view: registered views and
camera accuracy against the ground truth (relative rotation, translation direction, metric scale
from the object's size), per spacing. Reads the folders `middlebury_sfm.py` reads, e.g. 19
consecutive templeRing views 7.7° apart (public repository ma-mehralian/EKFPnP_matlab_toolbox,
``data/templeRing``).

    .venv/bin/python scripts/realdata/ring_spacing.py TEMPLE_RING_DIR docs/results/sfm/temple_ring_spacing.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load, sfm_run  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.geometry import invert_transform  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402
from mveq_core.provenance import set_invocation, write_result_json  # noqa: E402


def main(argv: list[str]) -> int:
    folder, out = Path(argv[0]), Path(argv[1])
    set_invocation(["scripts/realdata/ring_spacing.py", *argv])
    names, Ks, Ts, _, size = load(folder)
    images = [read_image_rgb(folder / n) for n in names]
    centres = np.array([invert_transform(T)[:3, 3] for T in Ts])
    centre = sfm.orbit_centre(dict(enumerate(Ts)))  # what the cameras look at
    rays = (centres - centre) / np.linalg.norm(centres - centre, axis=1, keepdims=True)
    step_deg = float(np.median(np.degrees(np.arccos(np.clip(np.sum(rays[1:] * rays[:-1], 1), -1, 1)))))
    result = {"benchmark": "ring-spacing", "views": len(names), "object_size_m": size, "neighbour_angle_deg": step_deg, "runs": {}}
    for every in range(1, 6):
        idx = list(range(0, len(names), every))
        if len(idx) < 3:
            break
        row = sfm_run([images[i] for i in idx], Ks[0], [Ts[i] for i in idx], size)
        row["spacing_deg"] = every * step_deg
        result["runs"][f"every_{every}"] = row
        print(f"every {every} ({every * step_deg:.1f}°):", row)
    write_result_json(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
