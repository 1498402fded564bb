"""A collection of images stylized across a Ray cluster's workers.

Each worker is a Ray actor holding an impasto.Engine, so its network stays loaded between batches,
as in one process. The driver lists the inputs lazily (a folder of a million files is walked, never
held), keeps a bounded number of batches in flight, and writes nothing itself: each worker writes
its outputs atomically, beside where the inputs' folders put them. An output that already exists
is complete (atomic writes) and is skipped, so a re-run resumes; a batch whose worker dies is
given to another worker, which skips what the dead one finished. Inputs and outputs must be on
storage every worker reaches (one machine, or a shared file system).

Why plain actors and not Ray Data's map_batches: the collection must stream from a lazy listing
with a bounded window, and each batch's fate (done, failed inputs, a dead worker) must reach the
driver for the failures list and the resume rule; a small scheduler over an actor pool says that
directly (docs/cluster.md).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..core.config import StylizeConfig
from ..core.errors import ImpastoError
from ..core.images import IMAGE_SUFFIXES
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result, when_any
from .connect import connect

BATCH = 8        # images per task: the actor's call overhead spread over several images
IN_FLIGHT = 2    # batches queued per worker, so none waits for the driver


@dataclasses.dataclass
class ClusterResult(Result):
    outputs: list[str]                 # written by this run
    skipped: int                       # already complete from an earlier run
    workers: int
    seconds: float
    images_per_second: float
    redone_batches: int = 0            # batches given to another worker after theirs died
    failures: list[dict] = when_any()

    def line(self) -> str:
        return (f"wrote {len(self.outputs)} image(s) ({self.skipped} already done) on {self.workers} worker(s), "
                f"{self.images_per_second:.1f} images/s")


def walk(inputs: Sequence[str | os.PathLike]) -> Iterator[tuple[Path, Path]]:
    """(input, its path relative to the folder or pattern it came from), lazily, in a stable order."""
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            yield from _walk_folder(path, path)
        elif path.is_file():
            yield path, Path(path.name)
        elif glob.has_magic(str(item)):
            for match in glob.iglob(str(item), recursive=True):
                if Path(match).is_file():
                    yield Path(match), Path(Path(match).name)
        else:
            raise ImpastoError(f"input image '{item}' does not exist")


def _walk_folder(folder: Path, root: Path) -> Iterator[tuple[Path, Path]]:
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.is_dir(follow_symlinks=False):
                yield from _walk_folder(Path(entry.path), root)
            elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(entry.path), Path(entry.path).relative_to(root)


def target_for(relative: Path, output: Path) -> Path:
    """An input's output: the same place under OUTDIR, as PNG."""
    return output / relative.with_suffix(".png")


def _batches(inputs, output: Path, size: int, skipped: list[int]) -> Iterator[list[tuple[str, str]]]:
    batch = []
    for source, relative in walk(inputs):
        target = target_for(relative, output)
        if target.exists():
            skipped[0] += 1
            continue
        if target.resolve() == source.resolve():
            raise ImpastoError(f"output '{target}' is one of the inputs ('{source}'); write it elsewhere")
        batch.append((str(source), str(target)))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _worker_class(ray):
    @ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)
    class Stylist:
        """A worker: an Engine that keeps its network loaded, stylizing batches of files."""

        def __init__(self, model, options: dict):
            from ..api import Engine

            self.engine, self.model, self.options = Engine(), model, options

        def pid(self) -> int:
            return os.getpid()

        def run(self, batch: list[tuple[str, str]]) -> tuple[list[str], list[dict]]:
            from ..core.images import load_image, save_image

            written, failures = [], []
            for source, target in batch:
                if Path(target).exists():  # finished by a worker that died before it could say so
                    continue
                try:
                    picture = self.engine.stylize(load_image(source, "input image"), self.model, **self.options)
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                    save_image(picture, target)
                    written.append(target)
                except ImpastoError as exc:
                    failures.append({"input": source, "error": str(exc)})
            return written, failures
    return Stylist


def stylize(inputs: Sequence[str | os.PathLike], model: str | os.PathLike | None, output: str | os.PathLike,
            address: str = "auto", config: StylizeConfig | None = None, progress: ProgressCallback | None = None,
            workers: int | None = None, **options) -> ClusterResult:
    """Stylize every image under `inputs` into the folder `output` on the Ray cluster at `address`,
    one worker per CPU (or `workers`). Resumable: outputs that exist are skipped."""
    config = configure(StylizeConfig, config, **options)
    output = Path(output)
    if output.suffix.lower() in (".png", ".jpg", ".jpeg"):
        raise ImpastoError(f"a collection on a cluster goes into a folder, not '{output}'")
    output.mkdir(parents=True, exist_ok=True)
    total = sum(1 for _ in walk(inputs))  # a count, for the progress bar; nothing is kept
    if total == 0:
        raise ImpastoError("no input images found")
    ray = connect(address)
    count = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
    given = {k: v for k, v in dataclasses.asdict(config).items()
             if k in ("size", "preserve_color", "mix", "device", "precision", "max_memory") and v is not None}
    given["runtime"] = "torch" if config.runtime == "auto" else config.runtime
    Stylist = _worker_class(ray)
    pool = [Stylist.remote(model, given) for _ in range(count)]
    report = Reporter(progress, "stylize")
    began = time.perf_counter()
    skipped, written, failures, redone = [0], [], [], 0
    pending: dict = {}  # task -> (actor, batch)
    free = [actor for actor in pool for _ in range(IN_FLIGHT)]
    batches = _batches(inputs, output, BATCH, skipped)
    retry: list = []

    def submit() -> None:
        while free:
            batch = retry.pop() if retry else next(batches, None)
            if batch is None:
                return
            actor = free.pop(0)
            pending[actor.run.remote(batch)] = (actor, batch)

    submit()
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        actor, batch = pending.pop(done[0])
        try:
            wrote, failed = ray.get(done[0])
            written += wrote
            failures += failed
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
            retry.append(batch)  # its worker died: another (or its restart) redoes it, skipping what exists
            redone += 1
        free.append(actor)
        report(phase="image", iteration=len(written) + len(failures) + skipped[0], iterations=total)
        submit()
    seconds = time.perf_counter() - began
    for actor in pool:
        ray.kill(actor)
    return ClusterResult(written, skipped[0], count, round(seconds, 3),
                         round(len(written) / seconds, 3) if seconds else 0.0, redone, failures)
