"""The ``mveq`` command: each subcommand parses options, calls the library, and reports. One module
per group of subcommands (each registers its own options); shared options live in ``options``."""

from __future__ import annotations

import argparse
import logging
import sys

from . import bench, db, pose, train
from .options import USER_ERRORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mveq", description="Multiview-equivariant ViT features for one-shot 6D pose estimation.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (pose, train, db, bench):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..provenance import set_invocation

    set_invocation(["mveq", *argv] if argv is not None else sys.argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        print(f"mveq: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mveq: interrupted", file=sys.stderr)
        return 130

