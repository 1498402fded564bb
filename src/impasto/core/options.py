"""Options declared once: a dataclass field carries its default, help text and limits; validation
and the command line's arguments are both read from it.

    size: int = option(512, "long side of the output in pixels", minimum=16)
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import MISSING, field
from typing import Any, Sequence

from .errors import OptionError


def option(default: Any, help: str, *, choices: Sequence[str] | None = None,
           minimum: float | None = None, maximum: float | None = None, above: float | None = None,
           kind: type | None = None, flag: str | None = None, flags: Sequence[str] = (),
           group: str | None = None,
           metavar: str | None = None, sequence: bool = False, cli: bool = True) -> Any:
    """A config field. minimum/maximum: inclusive bounds; above: exclusive lower bound. kind: the
    value type where the default does not show it (None defaults); for tuples, the item type.
    flag: the command-line spelling (default --field-name); flags: extra spellings. group: a heading in --help. sequence: a tuple of values
    (implied by a tuple default). cli=False: Python only."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None, "minimum": minimum,
                "maximum": maximum, "above": above, "kind": kind, "flag": flag, "flags": tuple(flags),
                "group": group, "metavar": metavar, "cli": cli,
                "sequence": sequence or isinstance(default, tuple)}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use tuples for sequence defaults")
    return field(default=default, metadata=metadata)


def fields_of(config_class: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config_class) if "help" in f.metadata]


def value_kind(f: dataclasses.Field) -> type:
    """The Python type of a field's values (for tuples: of its items)."""
    if f.metadata.get("kind") is not None:
        return f.metadata["kind"]
    default = f.default if f.default is not MISSING else None
    if isinstance(default, tuple):
        return type(default[0]) if default else str
    return type(default) if default is not None else str


def check(config: Any) -> None:
    """Check every field against its declared type, choices and bounds (raises OptionError)."""
    for f in fields_of(type(config)):
        value = getattr(config, f.name)
        if value is None:
            continue
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            _check_one(f, item)


def _check_one(f: dataclasses.Field, value: Any) -> None:
    meta, kind = f.metadata, value_kind(f)
    if kind is bool:
        if not isinstance(value, bool):
            raise OptionError(f.name, "{name} must be True or False, not " + repr(value))
        return
    if kind in (int, float):
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
            raise OptionError(f.name, "{name} must be a whole number, not " + _show(value))
        if not number_ok or not math.isfinite(value):
            raise OptionError(f.name, "{name} must be a finite number, not " + _show(value))
        low, high, above = meta["minimum"], meta["maximum"], meta["above"]
        if low is not None and value < low:
            raise OptionError(f.name, f"{{name}} must be a number >= {low:g}, not {_show(value)}")
        if above is not None and value <= above:
            raise OptionError(f.name, f"{{name}} must be greater than {above:g}, not {_show(value)}")
        if high is not None and value > high:
            raise OptionError(f.name, f"{{name}} must be at most {high:g}, not {_show(value)}")
        return
    if kind is str and not isinstance(value, (str, os.PathLike)):
        raise OptionError(f.name, "{name} must be text, not " + _show(value))
    if meta["choices"] and value not in meta["choices"]:
        raise OptionError(f.name, f"unknown {{name}} {value!r}; use {_one_of(meta['choices'])}")
    # other values (paths, images, names) are checked where they are used


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _one_of(choices: Sequence[str]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def as_tuple(value: Any) -> Any:
    """A single string stays one item (content_layers="relu4_2"), sequences become tuples."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return value


def configure(config_class: type, config: Any = None, **options) -> Any:
    """`config` (or the defaults) with `options` applied, sequences normalised, and checked."""
    known = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise OptionError(unknown[0], "unknown option {name}; see " + config_class.__name__)
    base = config if config is not None else config_class()
    if not isinstance(base, config_class):
        raise OptionError("config", f"{{name}} must be a {config_class.__name__}")
    result = dataclasses.replace(base, **options)
    for f in dataclasses.fields(config_class):  # a name, a list or a tuple: always a tuple
        if f.metadata.get("sequence"):
            setattr(result, f.name, as_tuple(getattr(result, f.name)))
    result.validate()
    return result
