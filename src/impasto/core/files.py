"""Writing files safely: a probe before the work starts, and atomic writes (a temporary file in the
same folder, renamed over the target only once complete), so a crash, a kill or a full disk never
leaves a half-written image, model or checkpoint behind, and never costs the old one."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import ImpastoError, OutputError

# Our temporaries: .NAME.impasto-PID-RANDOM.tmp; the PID tells a live writer's file from a killed
# one's, and the marker keeps other programs' hidden files out of reach.
_TEMPORARY = re.compile(r"^\..+\.impasto-(\d+)-[A-Za-z0-9_]+\.tmp$")


def _prefix(name: str) -> str:
    return f".{name}.impasto-{os.getpid()}-"


def _user_dir(override: str, xdg: str, fallback: str) -> Path:
    """$override, else $xdg/impasto, else ~/fallback/impasto (the XDG base directories)."""
    if os.environ.get(override):
        return Path(os.environ[override])
    return Path(os.environ.get(xdg) or Path.home() / fallback) / "impasto"


def cache_dir() -> Path:
    """$IMPASTO_CACHE, else $XDG_CACHE_HOME/impasto, else ~/.cache/impasto: what can be made again."""
    return _user_dir("IMPASTO_CACHE", "XDG_CACHE_HOME", ".cache")


def data_dir() -> Path:
    """$IMPASTO_DATA, else $XDG_DATA_HOME/impasto, else ~/.local/share/impasto: the user's models and
    the web app's jobs."""
    return _user_dir("IMPASTO_DATA", "XDG_DATA_HOME", ".local/share")


_SHA256: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex: what identifies a model or image for a cache. Read
    once per process while the file's size and modification time stay as they were (one command
    asks for its model's several times)."""
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        _SHA256[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _SHA256[key]


def check_writable(folder: str | os.PathLike) -> Path:
    """Fail now, not after the work: create and remove a temporary file in `folder`."""
    folder = Path(folder) if str(folder) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder '{folder}' does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=_prefix("probe"), suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write to folder '{folder}': {exc.strerror or exc}") from None
    return folder


def remove_stale_temporaries(folder: Path) -> None:
    """Remove temporaries of ours left by a process that was killed mid-write (its PID is gone)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match and not _alive(int(match.group(1))):
            try:
                (folder / name).unlink()
            except OSError:
                pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a PID we cannot test: leave its file alone
    return True


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on error it is removed.
    A write that fails (full disk, read-only folder) raises OutputError, one line; `path` is as
    it was before."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(folder)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=_prefix(path.name), suffix=".tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"could not write '{path}': {exc.strerror or exc}") from None
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        # Writers that are not Python's own (torch.save's zip writer, safetensors, libsndfile) fail on
        # a full disk with their own words ("inline_container.cc", "System error."): say what it is.
        if isinstance(exc, Exception) and not isinstance(exc, ImpastoError) and _disk_full(folder):
            raise OutputError(f"could not write '{path}': no space left on the device") from None
        raise


def _disk_full(folder: Path) -> bool:
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 1 << 20


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once: os.umask can only be read by setting it, which is not thread-safe


def refuse_overwriting_inputs(outputs, inputs) -> None:
    """Raise ImpastoError, before any work, if an output would be one of the inputs: a command never
    destroys what it reads. Paths compare resolved (and as the same file where both exist); what is
    not a path (an image in memory) is no file to destroy."""
    def key(p) -> Path | None:
        return Path(p).expanduser().resolve() if isinstance(p, (str, os.PathLike)) else None

    sources = {key(p): p for p in inputs if key(p) is not None}
    for output in outputs:
        out = key(output)
        if out is None:
            continue
        for source, given in sources.items():
            if out == source or (out.exists() and source.exists() and os.path.samefile(out, source)):
                raise OutputError(f"output '{output}' is one of the inputs ('{given}'); write it elsewhere")
