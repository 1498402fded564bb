"""The web app's jobs on a Ray cluster: `impasto serve --cluster ADDRESS`.

The server keeps SQLite as the record of jobs and runs its lanes as before (serve/jobs.py); only the
work moves: RemoteEngine offers the Engine's methods the lanes call, each run on a cluster actor
that holds an Engine. Inputs travel as bytes and results come back as bytes, so workers need no
shared storage (learning a painting reads --train-data on the worker: a path every worker sees).
Progress streams back as the run goes (a Ray streaming generator); cancelling reaches the actor
between two of its steps. A worker that dies mid-job raises WorkerLost, and the job is queued
again: never lost, never run twice at once (a lane runs one job at a time).
"""

from __future__ import annotations

import dataclasses
import io
import queue
import tempfile
import threading
from pathlib import Path

from ..core.errors import Cancelled, ImpastoError
from ..core.progress import Progress
from .connect import connect

FIELDS = ("task", "phase", "iteration", "iterations", "scale", "scales", "tile", "tiles", "losses", "elapsed")


class WorkerLost(ImpastoError):
    """The cluster worker running a job died; the job goes back to the queue."""

    requeue = True


@dataclasses.dataclass(frozen=True)
class RemoteProgress(Progress):
    """A Progress event from a worker: its image, where it has one, as JPEG bytes."""

    jpeg: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

    def picture(self):
        from PIL import Image

        return None if self.jpeg is None else Image.open(io.BytesIO(self.jpeg))


def _runner_class(ray):
    @ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0, max_concurrency=2)
    class JobRunner:
        """A worker of the web app: an Engine, and the flag that cancels its current run."""

        def __init__(self):
            from ..api import Engine

            self.engine, self.cancelled = Engine(), threading.Event()

        def cancel(self) -> None:
            self.cancelled.set()

        def run(self, method: str, files: dict[str, bytes], args: list, options: dict, outputs: list[str]):
            """Yields {"event": ...} as the run goes, then {"result": ..., "files": {name: bytes}}."""
            self.cancelled.clear()
            events: queue.Queue = queue.Queue()
            last_preview = [0.0]

            def progress(event: Progress) -> None:
                if self.cancelled.is_set():
                    raise Cancelled("cancelled")
                jpeg = None
                if event.image is not None and event.elapsed - last_preview[0] > 1.0:
                    last_preview[0] = event.elapsed
                    out = io.BytesIO()
                    event.picture().save(out, format="JPEG", quality=85)
                    jpeg = out.getvalue()
                events.put({"event": {**{k: getattr(event, k) for k in FIELDS}, "jpeg": jpeg}})

            with tempfile.TemporaryDirectory() as folder:
                for name, data in files.items():
                    (Path(folder) / name).write_bytes(data)
                def local(a):  # "file:NAME": the file sent along, here
                    if isinstance(a, list):
                        return [local(x) for x in a]
                    return str(Path(folder) / a[len("file:"):]) if isinstance(a, str) and a.startswith("file:") else a
                here = [local(a) for a in args]

                def work():
                    try:
                        result = getattr(self.engine, method)(*here, progress=progress, **options)
                        image = getattr(result, "image", result if method == "stylize" else None)
                        png = None
                        if image is not None:
                            out = io.BytesIO()
                            image.save(out, format="PNG")
                            png = out.getvalue()
                        events.put({"result": {"png": png}, "files": {n: (Path(folder) / n).read_bytes()
                                                                       for n in outputs if (Path(folder) / n).exists()}})
                    except Cancelled:
                        events.put({"cancelled": True})
                    except ImpastoError as exc:
                        events.put({"error": str(exc)})
                thread = threading.Thread(target=work)
                thread.start()
                while True:
                    item = events.get()
                    yield item
                    if "event" not in item:
                        break
                thread.join()
    return JobRunner


class RemoteEngine:
    """The Engine's methods that the web app's lanes call, each run on a cluster worker."""

    def __init__(self, address: str, workers: int = 2):
        self.ray = connect(address)
        Runner = _runner_class(self.ray)
        self.free: queue.Queue = queue.Queue()
        for _ in range(workers):
            self.free.put(Runner.remote())

    def _call(self, method: str, files: dict[str, Path], args: list, options: dict, progress,
              outputs: dict[str, Path] | None = None):
        ray, outputs = self.ray, outputs or {}
        payload = {name: Path(path).read_bytes() for name, path in files.items()}
        actor = self.free.get()
        try:
            stream = actor.run.options(num_returns="streaming").remote(method, payload, args, options, list(outputs))
            for ref in stream:
                item = ray.get(ref)
                if "event" in item:
                    event = item["event"]
                    try:
                        progress(RemoteProgress(**{k: event[k] for k in FIELDS}, jpeg=event["jpeg"]))
                    except Cancelled:
                        actor.cancel.remote()
                    continue
                if "cancelled" in item:
                    raise Cancelled("cancelled")
                if "error" in item:
                    raise ImpastoError(item["error"])
                for name, target in outputs.items():
                    if name in item["files"]:
                        Path(target).write_bytes(item["files"][name])
                return item["result"]
            raise WorkerLost("the worker ended without a result")
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
            raise WorkerLost("the cluster worker running this job died") from None
        finally:
            self.free.put(actor)

    def stylize(self, photo, model, progress=None, **options):
        from PIL import Image

        files = {"photo.png": photo}
        if Path(str(model)).is_file():
            files["model.safetensors"] = Path(model)
            model = "file:model.safetensors"
        result = self._call("stylize", files, ["file:photo.png", model], options, progress)
        return Image.open(io.BytesIO(result["png"]))

    def run_optimization(self, photo, paintings, progress=None, **options):
        from PIL import Image

        files = {"photo.png": photo, **{f"painting{i}.png": p for i, p in enumerate(paintings)}}
        result = self._call("run_optimization", files,
                            ["file:photo.png", [f"file:painting{i}.png" for i in range(len(paintings))]],
                            options, progress)
        return dataclasses.make_dataclass("Optimized", ["image"])(Image.open(io.BytesIO(result["png"])))

    def video(self, clip, output, model, progress=None, **options):
        self._call("video", {"input.video": clip}, ["file:input.video", "file:result.mp4", model], options,
                   progress, outputs={"result.mp4": output})

    def train(self, painting, data, output, progress=None, resume=False, **options):
        name = Path(output).name
        self._call("train", {"style.png": painting}, ["file:style.png", str(data), f"file:{name}"], options, progress,
                   outputs={name: output})
