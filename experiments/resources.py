"""Will a run fit in this machine's memory? An estimate from the configuration, before anything is built.

A market too large for the machine does not fail at once: it allocates its arrays, then swaps until
the kernel kills it, minutes or hours later. The estimate below is checked first and a run that
would not fit is refused in one line, with the estimate, what the machine has and how to proceed.

The model's memory is linear in the number of borrowers: per borrower, about 30 state arrays
(``sim/borrowers.py``, ~240 bytes), its Mesa agent object (~200 bytes), two slots of the loan book
(capacity 2 x borrowers, ~30 columns, ~300 bytes) and the month's temporaries; data collection
adds one row a month, which is negligible. Measured peak resident memory of the baseline over
24 + 36 months (``python -m benchmarks.large_run``): 276 MB at 1,000 borrowers, 353 MB at 100,000 and
586 MB at 400,000, i.e. about 275 MB of interpreter and libraries plus 780 bytes a borrower
(0.98 GB at 1,000,000 in docs/performance.md). The estimate rounds both up (300 MB and 1,000
bytes), since the loan book grows past its start when borrowers hold more loans than the baseline's
half a loan each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sim.config import ScenarioConfig

BASE_BYTES = 300 * 2**20
BYTES_PER_BORROWER = 1_000
# Leave this share of what is available to everything else (the parent process, page cache, the OS).
HEADROOM = 0.9


class MemoryTooSmall(Exception):
    """A run that would not fit in memory; ``str`` is one line: estimate, what there is, what to do."""


def estimate_bytes(config: ScenarioConfig) -> int:
    """Peak resident memory of one run of ``config``, estimated from its number of borrowers."""
    return BASE_BYTES + BYTES_PER_BORROWER * config.borrowers.count


def available_bytes() -> int | None:
    """Memory this process can still use: MemAvailable, or a cgroup's limit if lower; None if unknown."""
    found = []
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            pass
    try:  # a container's limit (cgroup v2) can be far below the machine's memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def check_memory(configs: Iterable[ScenarioConfig], workers: int = 1, where: str = "borrowers.count") -> None:
    """Refuse, in one line, runs that would not fit: the largest run times the runs held at once.

    Args:
        configs: The configurations that will run (one for ``run.py run``, every cell of a plan).
        workers: Runs held in memory at the same time (local worker processes).
        where: How the message names the setting to change (``FILE: borrowers.count``).

    Raises:
        MemoryTooSmall: with the estimate, what is available and how to proceed.
    """
    biggest = max(configs, key=lambda c: c.borrowers.count, default=None)
    available = available_bytes()
    if biggest is None or available is None:
        return
    need = estimate_bytes(biggest) * max(workers, 1)
    if need <= HEADROOM * available:
        return
    count = biggest.borrowers.count
    fits = int((HEADROOM * available / max(workers, 1) - BASE_BYTES) / BYTES_PER_BORROWER)
    times = f" x {workers} workers" if workers > 1 else ""
    advice = (
        f"use at most about {max(fits, 0):,} borrowers{' per run, or fewer workers' if workers > 1 else ''}"
        if fits >= 10
        else "use a machine with more memory"
    )
    raise MemoryTooSmall(
        f"{where}: {count:,} borrowers{times} need about {_gb(need)} of memory (estimated: 0.3 GB + "
        f"{BYTES_PER_BORROWER:,} bytes a borrower, per run), and this machine has {_gb(available)} available; "
        f"{advice}, or pass --no-memory-check to try anyway"
    )


__all__ = ["MemoryTooSmall", "available_bytes", "check_memory", "estimate_bytes"]
