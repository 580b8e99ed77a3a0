"""One source of defaults for what users can set: a config dataclass field made with :func:`option`
carries its help text and, where it is exposed, its ``mveq`` option and its ROS parameter name. The
CLI (:func:`add_arguments`, :func:`from_args`) and the ROS node (:func:`exposed`,
:func:`from_values`) generate their options from those fields; defaults are never written twice."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields, is_dataclass, replace
from typing import Any, Callable


def option(default: Any, help: str, *, cli: str | None = None, ros: str | None = None, choices: tuple | None = None):
    """A dataclass field with its default, help text, ``--cli-option`` and ``ros_parameter`` names."""
    return field(default=default, metadata={"help": help, "cli": cli, "ros": ros, "choices": choices})


@dataclass(frozen=True)
class Exposed:
    """One user-settable field: ``path`` from the top config (e.g. ("pnp", "iterations"))."""

    path: tuple[str, ...]
    default: Any
    help: str
    cli: str | None
    ros: str | None
    choices: tuple | None

    @property
    def kind(self) -> type:
        return type(self.default) if self.default is not None else int

    @property
    def dest(self) -> str:
        return self.cli.lstrip("-").replace("-", "_") if self.cli else ""


def exposed(config, prefix: tuple[str, ...] = ()) -> list[Exposed]:
    """The fields of the dataclass instance ``config`` (and of nested config instances) made with
    :func:`option`, with ``config``'s values as their defaults."""
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            out += exposed(value, prefix + (f.name,))
        elif "help" in f.metadata:
            m = f.metadata
            out.append(Exposed(prefix + (f.name,), value, m["help"], m["cli"], m["ros"], m["choices"]))
    return out


def require(config, name: str, ok: bool, what: str = "must be positive") -> None:
    """Raises ValueError unless ``ok``, naming the field ``name`` of ``config`` with its CLI option and
    ROS parameter (so the message reads right wherever the value came from)."""
    if ok:
        return
    meta = next(f.metadata for f in fields(config) if f.name == name)
    aliases = ", ".join(a for a in (meta.get("cli"), meta.get("ros")) if a)
    raise ValueError(f"{name}{f' ({aliases})' if aliases else ''} {what}, got {getattr(config, name)!r}")


def require_choice(config, name: str) -> None:
    """Raises ValueError unless the field ``name`` of ``config`` holds one of the ``choices`` its
    :func:`option` declares (the one list the CLI, the node and this check all read)."""
    choices = next(f.metadata for f in fields(config) if f.name == name)["choices"]
    require(config, name, getattr(config, name) in choices, f"must be one of {choices}")


def with_values(config, values: dict[tuple[str, ...], Any]):
    """``config`` with the fields at the given paths replaced (nested configs rebuilt, so their
    checks run again)."""
    changes = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            nested = {p[1:]: v for p, v in values.items() if p[0] == f.name}
            if nested:
                changes[f.name] = with_values(value, nested)
        elif (f.name,) in values:
            changes[f.name] = values[(f.name,)]
    return replace(config, **changes)


def add_arguments(group, config) -> None:
    """An option for every field of ``config`` with a CLI name; defaults and help from the field."""
    for e in exposed(config):
        if not e.cli:
            continue
        text = e.help.replace("%", "%%")  # argparse formats help strings with %
        if e.kind is bool:
            group.add_argument(e.cli, action=argparse.BooleanOptionalAction, default=e.default, help=text)
        else:
            group.add_argument(e.cli, type=e.kind, default=e.default, choices=list(e.choices) if e.choices else None, help=f"{text} (default: %(default)s)")


def from_args(config, args: argparse.Namespace):
    """``config`` with every CLI-exposed field taken from parsed ``args``."""
    return with_values(config, {e.path: getattr(args, e.dest) for e in exposed(config) if e.cli})


def from_values(config, get: Callable[[str], Any]):
    """``config`` with every ROS-exposed field taken from ``get(parameter_name)``."""
    return with_values(config, {e.path: get(e.ros) for e in exposed(config) if e.ros})
