"""Progress as data: the one event type every long-running call hands to its `progress` callback.

The library prints nothing; the command line's bars, `--save-every` and the web app are consumers
of these events. A callback stops a run by raising `impasto.Cancelled`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from .errors import Cancelled

if TYPE_CHECKING:
    import torch

__all__ = ["Cancelled", "Progress", "ProgressCallback", "Reporter"]


@dataclass(frozen=True)
class Progress:
    """Where a run stands.

    task: optimize | reconstruct | train | stylize | evaluate.
    phase: what the event reports: "iteration" (one optimizer step or training step), "image"
    (stylize: one image done), "done" (the run finished; losses are the final ones).
    scale/scales: coarse-to-fine scale k of n (1 of 1 without scales).
    tile/tiles: tile k of n within the current pass (0 of 0 when not tiled); tile_pass k of n.
    iteration/iterations: step k of n within the current scale (or tile), or image k of n.
    losses: the current loss terms by name (content, style, tv, range, total), as floats.
    elapsed: seconds since the call began.
    image: the current image (1, C, H, W) in 0..1 when available (for a tiled run: the whole
    canvas as of the last finished tile). Do not modify it; `picture()` gives a PIL copy.
    item: the file being worked on, where there is one (stylize, evaluate).
    """

    task: str
    phase: str = "iteration"
    iteration: int = 0
    iterations: int = 0
    scale: int = 1
    scales: int = 1
    tile: int = 0
    tiles: int = 0
    tile_pass: int = 0
    tile_passes: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    image: "torch.Tensor | None" = field(default=None, repr=False, compare=False)
    item: str | None = None

    def picture(self):
        """The current image as a PIL image (None where the event carries none)."""
        from .images import to_image

        return None if self.image is None else to_image(self.image)


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Builds and sends Progress events for one call: fixed fields (task, scale, tile) are set once,
    elapsed time is filled in. `progress` may be a callable, or None/False/True for no callback."""

    def __init__(self, progress: ProgressCallback | bool | None, task: str,
                 start: float | None = None, **fixed):
        self.callback = progress if callable(progress) else None
        self.start = time.perf_counter() if start is None else start
        self.fixed = {"task": task, **fixed}

    def __bool__(self) -> bool:
        return self.callback is not None

    def within(self, **fixed) -> "Reporter":
        """A reporter for a part of the run (a scale, a tile), with more fields fixed."""
        child = Reporter(self.callback, self.fixed["task"], self.start)
        child.fixed = {**self.fixed, **fixed}
        return child

    def __call__(self, **fields) -> None:
        if self.callback is not None:
            event = Progress(**{**self.fixed, **fields, "elapsed": time.perf_counter() - self.start})
            self.callback(event)


def chain(*callbacks: ProgressCallback | bool | None) -> ProgressCallback | None:
    """One callback that calls each given callable in turn (None where there is none)."""
    live = [c for c in callbacks if callable(c)]
    if not live:
        return None
    if len(live) == 1:
        return live[0]

    def call_all(event: Progress) -> None:
        for callback in live:
            callback(event)
    return call_all

