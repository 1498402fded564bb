"""Jobs on disk: one SQLite table of jobs (settings, status, progress, error) and one folder per job
under DATA/jobs/ID holding its inputs and result. IDs are made here, never taken from a request,
so no request path reaches the file system."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

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
        return {"id": self.id, "status": self.status, "method": self.method, "settings": self.settings,
                "created": self.created, "started": self.started, "finished": self.finished,
                "error": self.error, "progress": self.progress,
                "result": f"/api/jobs/{self.id}/result" if self.status == "done" else None}


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "jobs").mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY, status TEXT NOT NULL, method TEXT NOT NULL, settings TEXT NOT NULL,
            created REAL NOT NULL, started REAL, finished REAL, error TEXT, progress TEXT NOT NULL)""")

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
        return sum(p.stat().st_size for p in (self.root / "jobs").rglob("*") if p.is_file())


def _job(row) -> Job:
    return Job(row[0], row[1], row[2], json.loads(row[3]), row[4], row[5], row[6], row[7], json.loads(row[8]))
