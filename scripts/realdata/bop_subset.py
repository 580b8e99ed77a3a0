"""A few frames of one BOP scene as a BOP folder of their own (models, the scene's JSON files cut to
those frames, their rgb and mask_visib images): a copy small enough for the device's tree.

    .venv/bin/python scripts/realdata/bop_subset.py LM_CAT_BOP .carry/cat10 --ids 0:1081:120
    .venv/bin/python scripts/realdata/bop_subset.py LM_CAT_BOP .carry/cat20b --ids 40:1175:120 80:1175:120

(LM_CAT_BOP: `scripts/realdata/linemod_to_bop.py` on the LINEMOD cat with `--step 5`; session 16's
ten frames and session 23's twenty more.)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from mveq_core.io import read_json, write_json_atomic


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a BOP dataset root with one scene under test/ (or any split)")
    ap.add_argument("out")
    ap.add_argument("--ids", nargs="+", required=True, help="image id ranges start:stop:step (Python's range)")
    args = ap.parse_args(argv)
    ids = sorted({i for r in args.ids for i in range(*map(int, r.split(":")))})
    root, out = Path(args.root), Path(args.out)
    scenes = [p.parent for p in root.glob("*/*/scene_gt.json")]
    if len(scenes) != 1:
        raise SystemExit(f"{root}: expected one scene (a */*/scene_gt.json), found {len(scenes)}")
    scene = scenes[0]
    dst = out / scene.relative_to(root)
    shutil.copytree(root / "models", out / "models", dirs_exist_ok=True)
    kept = []
    for name in ("scene_camera.json", "scene_gt.json", "scene_gt_info.json"):
        if (scene / name).exists():
            table = read_json(scene / name)
            missing = [i for i in ids if str(i) not in table]
            if missing:
                raise SystemExit(f"{scene / name}: no image ids {missing[:5]}")
            write_json_atomic(dst / name, {str(i): table[str(i)] for i in ids})
    for folder in ("rgb", "mask_visib"):
        for i in ids:
            for path in (scene / folder).glob(f"{i:06d}*"):
                (dst / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy(path, dst / folder / path.name)
                kept.append(path.name)
    print(f"{len(ids)} frames of {scene} -> {dst} ({len(kept)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
