"""The multi-node Ray check, benchmarks/ray_multinode.py, run as it is: a head and a second node
started with `ray start` on this machine, `embedspace build --runner ray --address auto`, every
process of the second node killed mid-build, and the index equal to the sequential one within
the tolerances of docs/scale-out.md (about 1.5 min on 2 busy cores)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ray_multinode.py"


def test_a_build_that_loses_a_node_equals_the_sequential_build(tmp_path):
    out = tmp_path / "ray_multinode.json"  # not the committed record
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=900)
    record = json.loads(out.read_text())
    assert done.returncode == 0 and record["verdict"] == "pass", done.stdout[-3000:] + done.stderr[-2000:]
    build, kill = record["build"], record["build"]["kill"]
    # the second node was part of the build and went away mid-way, raylet and actor with it
    assert build["items_from_second_node"] > 0 and kill["chunks_staged"] < build["runner"]["chunks"]
    assert any(p["command"].split(" ", 1)[0].endswith("/raylet") for p in kill["processes"]) and kill["actors"]
    assert [n["alive"] for n in record["cluster"]["nodes_after"] if not n["head"]] == [False]
    # the build finished by itself with every item, byte for byte
    assert build["returncode"] == 0 and build["runner"]["items"] == record["reference"]["items"]
    assert record["comparison"]["items.parquet identical"] and record["comparison"]["failures"] == []
    assert record["left_after_stop"] == []  # the temporary cluster is gone
