"""Progress bars on the terminal: a consumer of the API's Progress events (the CLI's only one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.progress import Progress

if TYPE_CHECKING:
    from tqdm import tqdm


class ProgressBars:
    """One bar per scale (iterations) or per tiled scale (tiles), per training run or image batch."""

    def __init__(self) -> None:
        self.bar: "tqdm | None" = None
        self.key: tuple | None = None

    def __call__(self, event: Progress) -> None:
        if event.phase == "done" or (event.phase == "image" and event.iterations == 1):
            self.close()  # one image needs no bar
            return
        if event.tiles:  # one bar per pass over the tiles (each pass has its own grid)
            key = (event.task, event.item, event.scale, event.tile_pass)
            total = event.tiles
            position = event.tile - (event.iteration < event.iterations)
            label = (f"scale {event.scale}/{event.scales} " if event.scales > 1 else "") + \
                f"tiles, pass {event.tile_pass}/{event.tile_passes}"
            unit = "tile"
        else:
            key = (event.task, event.item if event.task == "evaluate" else None, event.scale)
            total, position = event.iterations, event.iteration
            label = event.task if event.scales == 1 else f"{event.task} {event.scale}/{event.scales}"
            unit = "img" if event.phase == "image" else "frame" if event.task == "video" else "it"
        if key != self.key:
            from tqdm.auto import tqdm  # here: a command without bars (one image, --quiet) starts sooner

            self.close()
            self.bar = tqdm(total=total, initial=max(0, position - 1), desc=label, unit=unit, leave=False)
            self.key = key
        if event.losses:
            shown = {k: f"{v:.3g}" for k, v in event.losses.items() if k in ("content", "style", "total")}
            self.bar.set_postfix(shown, refresh=False)
        self.bar.update(position - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.key = None, None
