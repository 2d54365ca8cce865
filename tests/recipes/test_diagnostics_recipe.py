"""recipes/diagnostics.py --smoke: the broken run (lr 1.0) warns, the healthy run (CleanRL's settings) does not."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from rl4py.testing import shift_seed

RECIPE = Path(__file__).parents[2] / "recipes" / "diagnostics.py"


@pytest.mark.slow
def test_diagnostics_recipe_smoke():
    out = subprocess.run(
        [sys.executable, str(RECIPE), "--smoke", "--seed", str(shift_seed(0))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    counts = dict(re.findall(r"^(healthy|broken): mean return [-0-9.]+, \d+ updates, (\d+) warning", out.stdout, re.M))
    assert counts.keys() == {"healthy", "broken"}, out.stdout
    assert counts["healthy"] == "0", out.stdout
    assert int(counts["broken"]) >= 1, out.stdout
    # the first update at lr 1.0 moves the policy by a KL of ~100 (3 seeds: 132 - 176), far past 0.5
    assert re.search(r"^broken checks that warned: .*approx_kl", out.stdout, re.M), out.stdout
    assert re.search(
        r"WARNING \[broken\] step \d+: approx_kl = [0-9.e+]+ > 0.05: the policy is moving too fast", out.stdout
    )
    assert "WARNING [healthy]" not in out.stdout
