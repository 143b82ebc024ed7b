"""Process-wide settings that decide speed, and the machine facts recorded with every timing:
how many threads the models use, the CPU, the load."""

import os
import platform

# Batches smaller than this run on one thread: FAISS searches (faiss_index.search_threads) and
# use-m3's query texts (its BLAS). Splitting so little work over threads costs more than it saves.
ONE_THREAD_BELOW = 20


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


def machine() -> dict:
    """Where a figure was measured: CPU, cores, memory and the load while it ran (timings depend on it)."""
    info = {"platform": platform.platform(terse=True), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    model = cpu_model()
    if model:
        info["cpu"] = model
    info["load_1min"] = load_now()
    return info


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where there is none): benchmarks record it too."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def load_now() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
