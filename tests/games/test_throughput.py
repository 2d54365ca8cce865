"""bench/games.py's throughput part on a small budget: the native batched game outruns OpenSpiel's
Python loop with the same policy (the bench measures ~40-50x at 4096 boards; CI asserts 5x at 256)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_native_games_outrun_openspiels_python_loop():
    command = [sys.executable, str(ROOT / "bench" / "games.py"), "throughput", "--games", "tic_tac_toe"]
    command += ["--batches", "256", "--seconds", "0.3", "--repeats", "1", "--warmup-games", "5"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    (summary,) = [r for r in records if r.get("summary")]
    assert summary["game"] == "tic_tac_toe" and summary["native_num_games"] == 256
    assert summary["speedup"] == round(summary["native_games_per_second"] / summary["openspiel_games_per_second"], 1)
    assert summary["speedup"] > 5, summary
    engines = {(r["engine"], r["policy"]) for r in records if not r.get("summary")}
    assert engines == {("native", "mlp"), ("native", "random"), ("openspiel", "mlp"), ("openspiel", "random")}
