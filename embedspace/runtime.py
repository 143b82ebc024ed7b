"""Process-wide settings that decide speed: how many threads the models use."""

import os


def cpu_count() -> int:
    """Cores this process may use (respects taskset/cgroup affinity), EMBEDSPACE_THREADS overrides.

    The models' thread count: it changes speed, and for BLAS-based models (use-m3) the last bits
    of the vectors too (up to ~3e-7 between 1 and 2 OpenBLAS threads), never which items are built.
    """
    override = os.environ.get("EMBEDSPACE_THREADS")
    if override:
        return max(1, int(override))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
