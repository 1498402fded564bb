"""Will a run fit in memory? What this process can still take, and the one-line refusal before the
work when an estimate (optimization/memory_estimate.py, feedforward/stylize.py's check_stylize_memory) exceeds it."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ImpastoError


def available_bytes() -> float | None:
    """Memory this process can still take: MemAvailable, capped by a cgroup limit if there is one."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    if not found and hasattr(os, "sysconf"):
        try:
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
        except (ValueError, OSError):
            pass
    return min(found) if found else None


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits(peak: float, max_memory: float | None, advice: str, overridable: bool = True) -> None:
    """Raise ImpastoError if `peak` bytes exceed max_memory GiB (None: what is available now;
    0: no check). `overridable`: say how --max-memory overrides it (not where no option is given)."""
    limit = max_memory * 2**30 if max_memory is not None else available_bytes()
    if max_memory != 0 and limit is not None and peak > limit:
        where = "the limit set" if max_memory is not None else "available"
        override = "; --max-memory GIB (max_memory) overrides the estimate, 0 turns the check off" if overridable else ""
        raise ImpastoError(f"this run needs about {gib(peak)} of memory and {gib(limit)} is {where}: {advice}"
                           + override)
