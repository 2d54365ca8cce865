"""recipes/deploy_policy.py: trains, exports and runs the exports in a process without rl4py (--smoke budget)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

RECIPE = Path(__file__).parents[2] / "recipes" / "deploy_policy.py"


def test_deploy_policy_smoke(tmp_path):
    out = subprocess.run(
        [sys.executable, str(RECIPE), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "policy.pt2").is_file()
    returns = dict(re.findall(r"^(torch\.export|onnxruntime): mean return ([0-9.]+)", out.stdout, re.MULTILINE))
    assert "torch.export" in returns, out.stdout
    assert float(returns["torch.export"]) >= 8.0  # CartPole gives at least ~8 steps to any policy
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "policy.onnx").is_file()
    # the same deterministic policy, the same seeded episodes: both runtimes score the same
    assert returns["onnxruntime"] == returns["torch.export"], out.stdout
