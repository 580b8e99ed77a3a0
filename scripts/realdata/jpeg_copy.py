"""A smaller copy of a real-data folder for the device's 64 MiB tree: every PNG written as a JPEG of
the given quality (same name, .jpg), every other file copied as it is. The real-data loaders read
either. Session 20 carried ../shared/realdata's bop_lm and bop_hb this way as training photos:

    .venv/bin/python scripts/realdata/jpeg_copy.py ../shared/realdata/bop_lm .carry2/train/bop_lm --quality 90
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--quality", type=int, default=90)
    args = ap.parse_args(argv)
    if not args.src.is_dir():
        raise SystemExit(f"{args.src}: not a folder")
    args.dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(args.src.iterdir()):
        if path.suffix.lower() == ".png":
            cv2.imwrite(str(args.dst / f"{path.stem}.jpg"), cv2.imread(str(path)), [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        elif path.is_file():
            shutil.copyfile(path, args.dst / path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
