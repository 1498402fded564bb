"""What every command returns: one family of dataclasses. `summary()` is the JSON object that the
command's `--json` prints, `line()` the sentence it prints otherwise, so front ends need no code
per command."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

__all__ = ["Result", "hidden", "jsonable", "when_any"]


def hidden(default: Any = dataclasses.MISSING, **kwargs) -> Any:
    """A field kept out of the summary (an image, a network, a history)."""
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    return dataclasses.field(repr=False, metadata={"summary": False}, **kwargs)


def when_any() -> Any:
    """A list field the summary carries only where it holds something (failures, notes)."""
    return dataclasses.field(default_factory=list, metadata={"when_any": True})


def jsonable(value: Any) -> Any:
    """`value` as strict JSON allows: paths as text, non-finite numbers as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclasses.dataclass
class Result:
    def summary(self) -> dict:
        """The figures `--json` prints: every field but the hidden ones."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("summary", True) and (getattr(self, f.name) or not f.metadata.get("when_any"))}

    def line(self) -> str:
        """One sentence for the terminal."""
        output = getattr(self, "output", None)
        return f"wrote {output}" if output is not None else type(self).__name__
