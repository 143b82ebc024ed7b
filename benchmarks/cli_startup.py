"""How long `embedspace --help` takes to start, against baselines measured in the same run.

The CLI's parser imports no command's module and no heavy library (tests/test_architecture.py
checks the imports; this script times them). Each command line runs --runs times as a fresh
process; the figures are the median and the 90th percentile of the wall time:

    python -c pass                      the interpreter alone
    python -c "import numpy"            the floor of anything that touches vectors
    embedspace --help                   the target: at most 0.5 s (the issue that split the CLI)
    embedspace info                     a command that runs: imports its own module, lists indexes

    .venv/bin/python benchmarks/cli_startup.py        # ~30 s; run it with nothing else busy
Results: printed and written to benchmarks/results/cli_startup.json, with the machine and its load.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedspace.artifacts import save_json  # noqa: E402
from embedspace.runtime import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "cli_startup.json"
TARGET_SECONDS = 0.5


def commands() -> dict:
    python = sys.executable
    cli = [python, "-m", "embedspace.cli"]
    return {"python -c pass": [python, "-c", "pass"], "python -c 'import numpy'": [python, "-c", "import numpy"],
            "embedspace --help": cli + ["--help"], "embedspace info": cli + ["info"]}


def timings(argv: list, runs: int) -> list:
    subprocess.run(argv, capture_output=True, check=True)  # warm the file cache
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True)
        out.append(time.perf_counter() - started)
    return out


def main(runs: int = 20) -> dict:
    before = machine()
    rows = {}
    for name, argv in commands().items():
        seconds = timings(argv, runs)
        rows[name] = {"command": shlex.join(argv), "runs": runs, "p50_s": round(float(np.median(seconds)), 4),
                      "p90_s": round(float(np.percentile(seconds, 90)), 4)}
        print(f"{name:28} p50 {rows[name]['p50_s']:.3f} s   p90 {rows[name]['p90_s']:.3f} s", flush=True)
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": before,
              "load_after": machine()["load_1min"], "target_s": TARGET_SECONDS, "results": rows,
              "meets_target": rows["embedspace --help"]["p90_s"] <= TARGET_SECONDS}
    save_json(RESULTS, result)
    print(f"--help p90 {rows['embedspace --help']['p90_s']:.3f} s (target {TARGET_SECONDS} s); load "
          f"{before['load_1min']} -> {result['load_after']}; saved {RESULTS}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
