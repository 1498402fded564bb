"""The workers: jobs run one at a time per lane, in threads sharing one Engine (its networks stay
loaded). Two lanes: fast jobs (a network pass, seconds) have their own, so they never wait behind a
best-quality optimization (minutes), which run one at a time in theirs. Progress reaches the job's
row (and, through it, the page) from the API's Progress events; cancelling raises Cancelled there."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ..core.config import ServeConfig
from ..core.errors import Cancelled, ImpastoError, first_line
from ..core.files import atomic_path
from ..core.progress import Progress
from .store import Store
from .styles import BASE, Styles

log = logging.getLogger("impasto")
PREVIEW_EVERY = 1.0   # seconds between the intermediate images a best job writes


class Workers:
    def __init__(self, store: Store, engine, styles: Styles, config: ServeConfig):
        self.store, self.engine, self.styles, self.config = store, engine, styles, config
        # Three lanes: fast jobs never wait behind the minutes of a best or learn job.
        self.wake = {"fast": threading.Event(), "best": threading.Event(), "learn": threading.Event()}
        self.cancelled: set[str] = set()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._lane, args=(lane,), daemon=True, name=f"impasto-{lane}")
                        for lane in self.wake]

    def start(self) -> None:
        self.store.recover()
        for thread in self.threads:
            thread.start()
        self.notify()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop taking jobs and wait for the lanes: a running job stops at its next progress event
        (a fast one is done by then) and is queued again, so nothing is lost or left running."""
        self.stopping.set()
        self.notify()
        for thread in self.threads:
            if thread.is_alive():
                thread.join(timeout)
        self.store.recover()

    def notify(self) -> None:
        for event in self.wake.values():
            event.set()

    def cancel(self, job_id: str) -> None:
        self.cancelled.add(job_id)

    def _lane(self, lane: str) -> None:
        while not self.stopping.is_set():
            job = next((j for j in self.store.queued() if j.method == lane and j.id not in self.cancelled), None)
            if job is None:
                self.wake[lane].wait(1.0)
                self.wake[lane].clear()
                continue
            self._run(job)

    def _run(self, job) -> None:
        folder = self.store.folder(job.id)
        if job.id in self.cancelled:
            self.store.update(job.id, status="cancelled", finished=time.time())
            self.cancelled.discard(job.id)
            return
        self.store.update(job.id, status="running", started=time.time(), progress={})
        last_preview = [0.0]

        def progress(event: Progress) -> None:
            if job.id in self.cancelled or self.stopping.is_set():
                raise Cancelled("cancelled")
            state = {"phase": event.phase, "iteration": event.iteration, "iterations": event.iterations,
                     "scale": event.scale, "scales": event.scales, "elapsed": round(event.elapsed, 2)}
            if event.image is not None and time.monotonic() - last_preview[0] > PREVIEW_EVERY:
                last_preview[0] = time.monotonic()
                picture = event.picture()
                with atomic_path(folder / "preview.jpg") as tmp:
                    picture.save(tmp, format="JPEG", quality=85)
                state["preview"] = int(last_preview[0] * 1000)
            self.store.update(job.id, progress=state)

        try:
            if job.settings.get("video"):
                s = job.settings
                model, painting = self._fast_style(s, folder)
                self.engine.video(folder / "input.video", folder / "result.mp4", model, size=s.get("size"),
                                  preserve_color=s.get("preserve_color", "none"), temporal=s.get("temporal", True),
                                  strength=s.get("strength") if s.get("strength") is not None else 1.0,
                                  progress=progress, **({"style": str(painting)} if painting else {}))
            elif job.method == "learn":
                self._learn(job, folder, progress)
            else:
                picture = self._work(job, folder, progress)
                with atomic_path(folder / "result.png") as tmp:
                    picture.save(tmp, format="PNG")
            self.store.update(job.id, status="done", finished=time.time(),
                              progress={**(self.store.get(job.id).progress or {}), "phase": "done"})
        except Cancelled:
            if self.stopping.is_set() and job.id not in self.cancelled:
                return  # shutting down: the job stays running in the table and is queued again on restart
            self.store.update(job.id, status="cancelled", finished=time.time())
        except ImpastoError as exc:
            if getattr(exc, "requeue", False):  # its cluster worker died: the job runs again, from the start
                log.warning("job %s: %s; queued again", job.id, exc)
                self.store.update(job.id, status="queued", started=None, progress={"note": str(exc)})
                return
            self.store.update(job.id, status="failed", finished=time.time(), error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker must outlive any one job
            log.exception("job %s failed", job.id)
            self.store.update(job.id, status="failed", finished=time.time(),
                              error=f"internal error: {first_line(exc)}")
        finally:
            self.cancelled.discard(job.id)

    def _work(self, job, folder: Path, progress):
        s = job.settings
        photo = folder / "photo.png"
        if job.method == "fast":
            model, painting = self._fast_style(s, folder)
            return self.engine.stylize(photo, model, size=s.get("size"), style=painting,
                                       preserve_color=s.get("preserve_color", "none"), progress=progress,
                                       strength=s.get("strength") if s.get("strength") is not None else 1.0)
        painting = folder / "style.png" if s.get("style_file") else self.styles.painting(s["style"])
        given = {k: s[k] for k in ("iterations", "style_weight") if s.get(k) is not None}  # else optimize's
        result = self.engine.run_optimization(photo, [painting], size=s.get("size") or 384,
                                              preserve_color=s.get("preserve_color", "none"),
                                              progress=progress, **given)
        return result.image

    def _fast_style(self, s: dict, folder: Path) -> tuple:
        """(a trained style's model, None) or (None, an uploaded painting for the arbitrary-style network)."""
        if s.get("style_file"):
            return None, folder / "style.png"
        return self.styles.model(s["style"]), None

    def _learn(self, job, folder: Path, progress) -> None:
        """A painting learned as a new style of the shipped network; resumed from its checkpoint
        if the server stopped mid-way."""
        name = job.settings["name"]
        model = folder / f"{name}.safetensors"
        given = {"iterations": job.settings["iterations"]} if job.settings.get("iterations") else {}
        self.engine.train(folder / "style.png", self.config.train_data, model, base=BASE,
                          resume=(folder / f"{name}.ckpt").is_file(), progress=progress, **given)
        self.styles.add(name, model, folder / "style.png")
