"""The ROS 2 install layout for pip and editable installs: what colcon would put under a prefix.

``ros2 launch mveq_ros ...`` finds a package through ``share/ament_index/resource_index/packages/
mveq_ros`` under a prefix on ``AMENT_PREFIX_PATH``, its launch and config files under
``share/mveq_ros/`` and its executables under ``lib/mveq_ros/``. A regular ``pip install`` writes
the share/ files (setup.py ``data_files``); an editable install writes none of them, so this module
links them from the source tree.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .io import MveqError

PACKAGE = "mveq_ros"
SOURCE = Path(__file__).resolve().parent.parent
EXECUTABLES = ("pose_estimator", "point_tracker", "mveq")


def _link(source: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.is_file():
        if link.resolve() == source.resolve():
            return
        link.unlink()
    os.symlink(source, link)


def share_files(source: Path = SOURCE) -> dict[str, Path]:
    """share/-relative path -> source file, as setup.py's ``data_files`` installs them."""
    files = {f"ament_index/resource_index/packages/{PACKAGE}": source / "resource" / PACKAGE, f"{PACKAGE}/package.xml": source / "package.xml"}
    files.update({f"{PACKAGE}/launch/{p.name}": p for p in sorted((source / "launch").glob("*.launch.py"))})
    files.update({f"{PACKAGE}/config/{p.name}": p for p in sorted((source / "config").glob("*.yaml"))})
    return files


def install_ros_layout(prefix: str | os.PathLike) -> list[Path]:
    """Make ``prefix`` a ROS 2 package prefix for mveq_ros: the ament index entry, package.xml,
    launch and config files under share/ (links to the source tree when it has them) and the
    executables under lib/mveq_ros/. Returns what it wrote."""
    prefix = Path(prefix)
    written = []
    missing_source = [str(p) for p in share_files().values() if not p.is_file()]
    if not missing_source:
        for relative, source in share_files().items():
            target = prefix / "share" / relative
            _link(source, target)
            written.append(target)
    elif not (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file():
        raise MveqError(f"{prefix}: no share/ layout installed and no source tree to link it from (missing {', '.join(missing_source)})")
    for exe in EXECUTABLES:
        source = shutil.which(exe, path=str(prefix / "bin"))
        if source is None:
            raise MveqError(f"{exe}: console script not found in {prefix / 'bin'} (is mveq installed in this prefix?)")
        target = prefix / "lib" / PACKAGE / exe
        _link(Path(source), target)
        written.append(target)
    return written
