"""Jobs on disk: one SQLite table of jobs (settings, status, progress, error) and one folder per job
under DATA/jobs/ID holding its inputs and result. IDs are made here, never taken from a request,
so no request path reaches the file system."""

from __future__ import annotations

import fcntl
import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import ImpastoError
from ..core.results import jsonable

STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINISHED = ("done", "failed", "cancelled")


@dataclass
class Job:
    id: str
    status: str
    method: str
    settings: dict
    created: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    progress: dict = field(default_factory=dict)

    def public(self) -> dict:
        """The job as JSON may carry it (a non-finite number stored by an older version reads null)."""
        return jsonable({"id": self.id, "status": self.status, "method": self.method, "settings": self.settings,
                "created": self.created, "started": self.started, "finished": self.finished,
                "error": self.error, "progress": self.progress,
                "result": f"/api/jobs/{self.id}/result" if self.status == "done" else None})


class Store:
    """The data folder of one server: a second server on the same folder is refused (it would run
    the same jobs twice), and a database that cannot be read is an error, never silently replaced."""

    def __init__(self, root: Path):
        self.root = Path(root)
        try:
            (self.root / "jobs").mkdir(parents=True, exist_ok=True)
            self._owner = open(self.root / "server.lock", "a+")  # noqa: SIM115 - held while the server runs
        except OSError as exc:
            raise ImpastoError(f"cannot use '{self.root}' as the data folder: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._owner.close()
            raise ImpastoError(f"another impasto server uses the data folder '{self.root}'; give this one "
                               "its own --data") from None
        self.lock = threading.Lock()
        database = self.root / "jobs.sqlite3"
        try:
            self.db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("""CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY, status TEXT NOT NULL, method TEXT NOT NULL, settings TEXT NOT NULL,
                created REAL NOT NULL, started REAL, finished REAL, error TEXT, progress TEXT NOT NULL)""")
            self.db.execute("SELECT id, status, method, settings, created, started, finished, error, progress "
                            "FROM jobs LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            self.close()
            raise ImpastoError(f"the job database '{database}' cannot be read ({exc}); move it aside to start "
                               "with no jobs, or restore it from a backup") from None

    def close(self) -> None:
        """Release the data folder (the server's lock on it)."""
        if getattr(self, "db", None) is not None:
            self.db.close()
        self._owner.close()

    def folder(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def create(self, method: str, settings: dict, files: dict[str, bytes]) -> Job:
        """A new queued job with its uploaded files (written before the job becomes visible)."""
        job = Job(uuid.uuid4().hex, "queued", method, settings, time.time())
        folder = self.folder(job.id)
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        with self.lock:
            self.db.execute("INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?)",
                            (job.id, job.status, job.method, json.dumps(settings), job.created, None, None,
                             None, "{}"))
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            row = self.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self) -> list[Job]:
        with self.lock:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY created DESC").fetchall()
        return [_job(r) for r in rows]

    def update(self, job_id: str, **fields) -> None:
        if "settings" in fields:
            fields["settings"] = json.dumps(fields["settings"])
        if "progress" in fields:
            fields["progress"] = json.dumps(fields["progress"])
        columns = ", ".join(f"{k} = ?" for k in fields)
        with self.lock:
            self.db.execute(f"UPDATE jobs SET {columns} WHERE id = ?", (*fields.values(), job_id))

    def delete(self, job_id: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def recover(self) -> list[str]:
        """After a restart: jobs that were running are queued again (they start over); returns them."""
        with self.lock:
            rows = self.db.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall()
            self.db.execute("UPDATE jobs SET status = 'queued', started = NULL, progress = ? "
                            "WHERE status = 'running'", (json.dumps({"note": "restarted after a server restart"}),))
        return [r[0] for r in rows]

    def queued(self) -> list[Job]:
        with self.lock:
            rows = self.db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY created").fetchall()
        return [_job(r) for r in rows]

    def used_bytes(self) -> int:
        return _bytes_under(self.root / "jobs")

    def job_bytes(self, job_id: str) -> int:
        return _bytes_under(self.folder(job_id))


def _bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _job(row) -> Job:
    return Job(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], json.loads(row[8]))
