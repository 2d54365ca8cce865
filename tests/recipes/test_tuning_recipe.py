"""recipes/hyperparameter_tuning.py: a tiny study from Python (--smoke) prints the best settings and a
recipe snippet that parses into a PPOConfig."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rl4py.trainers import PPOConfig
from rl4py.trainers.config import as_config

RECIPE = Path(__file__).parents[2] / "recipes" / "hyperparameter_tuning.py"


def test_hyperparameter_tuning_smoke():
    pytest.importorskip("optuna")
    out = subprocess.run([sys.executable, str(RECIPE), "--smoke"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = re.findall(r'^\{"trial": (\d+)', out.stdout, re.MULTILINE)
    assert trials == ["0", "1"], out.stdout
    best = re.search(r"^best mean evaluation return: (-?[0-9.]+) \(trial (\d)\)", out.stdout, re.MULTILINE)
    assert best is not None, out.stdout
    assert float(best.group(1)) >= 8.0  # CartPole gives at least ~8 steps to any policy
    snippet = out.stdout[out.stdout.index("# rl4py tune:") :]
    config = as_config(yaml.safe_load(snippet)["model"]["init_args"]["config"], PPOConfig)
    assert config.num_envs == 8 and 1e-4 <= config.lr <= 3e-2
    assert f"lr={config.lr:.3g} rollout_length={config.rollout_length}" in out.stdout
