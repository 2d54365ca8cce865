"""2-process DDP on CPU: different data per rank, identical weights, cross-rank episode metrics."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("ddp_script.py")


def _run(tmp_path: Path, algorithm: str, *options: str) -> tuple[dict, dict]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path), algorithm, *options],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    return r0, r1


def test_ddp_impala_two_processes_keep_learner_and_behaviour_in_sync(tmp_path):
    r0, r1 = _run(tmp_path, "impala")
    assert not torch.equal(r0["first_obs"], r1["first_obs"])
    # learner, critic and the lagging behaviour actor are the same on both ranks
    assert any(name.startswith("behaviour.") for name in r0["state_dict"])
    for (name, a), b in zip(r0["state_dict"].items(), r1["state_dict"].values()):
        assert torch.equal(a, b), f"{name} differs across ranks"


def test_ddp_ppo_two_processes(tmp_path):
    r0, r1 = _run(tmp_path, "ppo")
    assert r0["world_size"] == r1["world_size"] == 2
    # each rank stepped its own envs, seeded by rank
    assert not torch.equal(r0["first_obs"], r1["first_obs"])
    # gradients were all-reduced: the same weights on both ranks after 20 optimizer steps
    for (name, a), b in zip(r0["state_dict"].items(), r1["state_dict"].values()):
        assert torch.equal(a, b), f"{name} differs across ranks"
    # the logged episodic return is the mean over both ranks' episodes of that step
    checked = differs_from_local = 0
    for step, logged in enumerate(r0["logged"]):
        own = r0["local_returns"][step]
        both = own + r1["local_returns"][step]
        if logged is None or not own:
            continue
        assert math.isclose(logged, sum(both) / len(both), rel_tol=1e-5), (step, logged, both)
        checked += 1
        differs_from_local += not math.isclose(sum(own) / len(own), sum(both) / len(both), rel_tol=1e-5)
    assert checked >= 3 and differs_from_local >= 1


def test_ddp_dreamer_two_processes_step_in_lockstep(tmp_path):
    # per-rank replay and env; gradients averaged and return percentiles gathered over both ranks
    r0, r1 = _run(tmp_path, "dreamer", "--max-steps", "6")
    assert r0["global_step"] == r1["global_step"] == 6
    assert not torch.equal(r0["first_obs"], r1["first_obs"])
    for (name, a), b in zip(r0["state_dict"].items(), r1["state_dict"].values()):
        assert torch.equal(a, b), f"{name} differs across ranks"
    # the weights moved from the shared initialization (the slow critic too)
    assert any(name.startswith("loss.value_loss.slow_critic.") for name in r0["state_dict"])


def test_ddp_target_return_stops_every_rank_on_the_same_step(tmp_path):
    # a random policy averages ~22 on CartPole: some rank crosses 25 early, the other may not
    r0, r1 = _run(tmp_path, "ppo", "--max-steps", "400", "--target-return", "25")
    assert r0["global_step"] == r1["global_step"] < 400


def test_ddp_resume_gives_each_rank_its_own_state_and_continues_exactly(tmp_path):
    straight = tmp_path / "straight"
    first = tmp_path / "first"
    resumed = tmp_path / "resumed"
    for path in (straight, first, resumed):
        path.mkdir()
    s0, _ = _run(straight, "ppo", "--max-steps", "20")
    checkpoint = str(tmp_path / "mid.ckpt")
    _run(first, "ppo", "--max-steps", "10", "--save", checkpoint)
    saved = torch.load(checkpoint, weights_only=True)["rl4py"]["ranks"]
    assert len(saved) == 2 and not torch.equal(saved[0]["torch_rng"], saved[1]["torch_rng"])
    r0, r1 = _run(resumed, "ppo", "--max-steps", "20", "--resume", checkpoint)
    assert not torch.equal(r0["first_obs"], r1["first_obs"])  # each rank resumed its own envs
    assert r0["env_frames"] == s0["env_frames"] == 10 * 8 * 16
    for (name, a), b in zip(s0["state_dict"].items(), r0["state_dict"].values()):
        assert torch.equal(a, b), f"{name} differs from the uninterrupted run"


def test_cli_spelling_trains_two_ddp_processes_on_cpu(tmp_path):
    """``rl4py fit --config recipes/ppo_cartpole.yaml --trainer.devices 2 --trainer.strategy ddp
    --trainer.accelerator cpu``: both ranks train, the summary counts both ranks' env steps."""
    recipe = Path(__file__).parents[2] / "recipes" / "ppo_cartpole.yaml"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "rl4py.cli", "fit", "--config", str(recipe)]
    command += ["--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.accelerator", "cpu"]
    command += ["--trainer.max_steps", "12", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false"]
    command += ["--trainer.default_root_dir", str(tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    # 2 rollouts per rank (12 steps of 6 epochs x 1 minibatch), 32 x 32 env steps each, 2 ranks
    assert f"after {2 * 2 * 32 * 32:,} env steps (12 optimizer steps)" in output, output[-2000:]
