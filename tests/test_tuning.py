"""rl4py.tuning / ``rl4py tune``: the search-space format, studies in SQLite that resume, pruning fed
by the evaluations, the best config as a recipe snippet, and the missing-optuna error."""

from __future__ import annotations

import json
import sqlite3
import sys

import pytest
import torch
import yaml

from rl4py.envs import CartPole
from rl4py.testing import shift_seed
from rl4py.trainers import DQNConfig, PPOConfig, train_dqn, train_ppo
from rl4py.trainers.config import as_config
from rl4py.tuning import Objective, Param, _train_with_policy, parse_space, require_optuna

optuna = pytest.importorskip("optuna")

SPACE = """
lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
epochs: {type: int, low: 1, high: 4}
num_cells: {type: categorical, choices: [[64, 64], [32]]}
anneal_lr: {type: categorical, choices: [true, false]}
rollout_length: 32
num_envs: 4
"""
#: a tiny budget: 2 evaluations of 2 CartPole episodes over 1024 frames
TINY = ["--frames", "1024", "--n-evaluations", "2", "--final-evaluations", "1", "--eval-episodes", "2"]


# ------------------------------------------------------------------------------------------ the space


def test_parse_space_types_and_fixed_values():
    params, fixed = parse_space(yaml.safe_load(SPACE), PPOConfig)
    assert fixed == {"rollout_length": 32, "num_envs": 4}
    assert params["lr"] == Param("lr", "float", low=1e-4, high=1e-2, log=True)
    assert params["epochs"] == Param("epochs", "int", low=1, high=4)
    assert params["num_cells"].choices == ([64, 64], [32]) and params["num_cells"].encoded
    assert not params["anneal_lr"].encoded
    # a list choice goes to optuna as JSON text and comes back as the list
    trial = optuna.trial.FixedTrial({"lr": 1e-3, "epochs": 3, "num_cells": "[32]", "anneal_lr": False})
    values = {name: p.suggest(trial) for name, p in params.items()}
    assert values == {"lr": 1e-3, "epochs": 3, "num_cells": [32], "anneal_lr": False}
    # encode: config values -> optuna's, None outside the space
    assert params["num_cells"].encode((64, 64)) == "[64, 64]"
    assert params["num_cells"].encode((128,)) is None
    assert params["lr"].encode(2.5e-4) == 2.5e-4 and params["lr"].encode(0.5) is None
    assert params["anneal_lr"].encode(True) is True and params["anneal_lr"].encode(1) is None
    assert params["epochs"].encode(4) == 4 and params["epochs"].encode(5) is None


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"lr": {"type": "normal", "low": 0, "high": 1}}, "expected one of"),
        ({"nope": {"type": "float", "low": 0, "high": 1}}, "PPOConfig has no field 'nope'"),
        ({"seed": {"type": "int", "low": 0, "high": 3}}, "set by the tuner"),
        ({"total_frames": 1000, "lr": {"type": "float", "low": 0.1, "high": 1}}, "set by the tuner"),
        ({"lr": {"type": "float", "low": 0.1}}, "needs a number 'high'"),
        ({"lr": {"type": "float", "low": "a", "high": 1}}, "needs a number 'low'"),
        ({"epochs": {"type": "int", "low": 1.5, "high": 4}}, "needs an integer 'low'"),
        ({"lr": {"type": "float", "low": 1.0, "high": 0.1}}, "low=1.0 > high=0.1"),
        ({"lr": {"type": "float", "low": 0.0, "high": 0.1, "log": True}}, "a log range needs low > 0"),
        ({"lr": {"type": "float", "low": 0.1, "high": 1, "choices": [1]}}, "not ['choices']"),
        ({"epochs": {"type": "categorical", "choices": []}}, "non-empty list 'choices'"),
        ({"epochs": {"type": "categorical", "choices": 3}}, "non-empty list 'choices'"),
        ({"epochs": {"low": 1, "high": 3}}, "a mapping without 'type'"),
        ({"epochs": 3}, "no searched field"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_parse_space_rejects_bad_input(space, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_space(space, PPOConfig)


def test_objective_rejects_bad_settings():
    params, _ = parse_space({"lr": {"type": "float", "low": 1e-4, "high": 1e-2}})
    with pytest.raises(ValueError, match="unknown algo 'sac'"):
        Objective("sac", "CartPole", params)
    with pytest.raises(ValueError, match="final_evaluations=4 exceeds n_evaluations=2"):
        Objective("ppo", "CartPole", params, n_evaluations=2, final_evaluations=4)
    with pytest.raises(ValueError, match="lmbda must be in"):  # fixed values are checked up front
        Objective("ppo", "CartPole", params, {"lmbda": 2.0})
    searched, _ = parse_space({"num_envs": {"type": "categorical", "choices": [4, 8]}})
    with pytest.raises(ValueError, match="both searched"):
        Objective("ppo", "CartPole", searched, num_envs=(4, 8))
    # runs: seeds per sub-env count, each run its own seed
    assert Objective("ppo", "CartPole", params, seeds=2, num_envs=(4, 8), seed=5).runs == [
        (4, 5),
        (4, 6),
        (8, 7),
        (8, 8),
    ]


# ------------------------------------------------------------------------------------------ training


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_training_with_the_watched_policy_is_the_trainers_run(algo):
    """The tuner builds the policy it evaluates itself and passes it in: the run must be the
    trainer's own run, bit for bit."""
    seed = shift_seed(3)
    if algo == "ppo":
        config = PPOConfig(num_envs=4, rollout_length=16, total_frames=256, seed=seed, num_cells=(32,))
        plain = train_ppo(CartPole(num_envs=4), config)
    else:
        config = DQNConfig(num_envs=4, total_frames=400, learning_starts=100, seed=seed, num_cells=(32,))
        plain = train_dqn(CartPole(num_envs=4), config)
    seen: list = []
    lines: list = []
    watched = _train_with_policy(algo, CartPole(num_envs=4), config, lines.append, seen)
    assert seen[0] is watched.actor
    assert len(lines) == watched.iterations  # progress every iteration
    for (name, a), (_, b) in zip(plain.actor.state_dict().items(), watched.actor.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


# ------------------------------------------------------------------------------------------ studies


def _main(tmp_path, capsys, *extra: str):
    from rl4py.tuning import main

    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    study = main(["--env", "CartPole", "--space", str(space), *TINY, "--startup-trials", "1", *extra])
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    snippet = "\n".join(line for line in out.splitlines() if not line.startswith("{"))
    return study, lines, snippet


def test_study_in_sqlite_resumes_and_prints_a_valid_config(tmp_path, capsys):
    db = tmp_path / "tune.db"
    storage = f"sqlite:///{db}"
    args = ("--storage", storage, "--study-name", "tiny", "--seed", str(shift_seed(0)))
    study, lines, snippet = _main(tmp_path, capsys, "--trials", "2", *args)
    assert db.is_file()
    assert [line["trial"] for line in lines] == [0, 1]
    # a new study starts with today's defaults (those inside the space)
    assert lines[0]["params"] == {"lr": 2.5e-4, "epochs": 4, "num_cells": "[64, 64]", "anneal_lr": True}
    for line in lines:
        if line["state"] == "COMPLETE":
            assert line["runs"][0]["frames"] == 1024 and line["value"] == line["runs"][0]["score"]
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from trials").fetchone()[0] == 2

    # resume: the same study gains trials, and the baseline is not run again
    study, lines, snippet = _main(tmp_path, capsys, "--trials", "1", *args)
    assert [line["trial"] for line in lines] == [2]
    assert len(optuna.load_study(study_name="tiny", storage=storage).trials) == 3
    assert lines[0]["params"] != {"lr": 2.5e-4, "epochs": 4, "num_cells": "[64, 64]", "anneal_lr": True}

    # the printed best config is a recipe snippet with a valid PPOConfig
    recipe = yaml.safe_load(snippet)
    assert recipe["model"]["class_path"] == "rl4py.trainers.PPOModule"
    assert recipe["model"]["init_args"]["env"] == "CartPole"
    config = as_config(recipe["model"]["init_args"]["config"], PPOConfig)
    best = study.best_trial.params
    assert config.lr == best["lr"] and config.epochs == best["epochs"]
    assert config.num_cells == tuple(json.loads(best["num_cells"])) and config.rollout_length == 32
    assert snippet.startswith("# rl4py tune: study 'tiny', best of ")


class _PruneFromStep(optuna.pruners.BasePruner):
    """Prunes every trial once it has reported ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def prune(self, study, trial) -> bool:
        return trial.last_step is not None and trial.last_step >= self.step


def test_evaluations_reach_the_pruner(tmp_path):
    params, fixed = parse_space(yaml.safe_load(SPACE), PPOConfig)
    objective = Objective(
        "ppo", "CartPole", params, fixed, frames=1024, seeds=2, n_evaluations=3, final_evaluations=2, eval_episodes=2
    )
    # every evaluation of both runs is reported, at steps 0..5
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=shift_seed(0)))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == list(range(6))
    runs = [trial.user_attrs["run000"], trial.user_attrs["run001"]]
    assert [r["seed"] for r in runs] == [0, 1]
    values = trial.intermediate_values
    assert runs[0]["score"] == pytest.approx((values[1] + values[2]) / 2)
    assert trial.value == pytest.approx((runs[0]["score"] + runs[1]["score"]) / 2)
    # a pruner that says stop at step 1 stops the run there: two reports, no score
    study = optuna.create_study(direction="maximize", pruner=_PruneFromStep(1))
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [0, 1]
    assert trial.user_attrs["reason"].startswith("pruned at step 1")
    assert "run000" not in trial.user_attrs


def test_an_invalid_combination_prunes_the_trial_with_its_reason():
    params, _ = parse_space({"num_minibatches": {"type": "categorical", "choices": [3]}})
    objective = Objective("ppo", "CartPole", params, {"num_envs": 4, "rollout_length": 16}, frames=256)
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert "does not split into num_minibatches=3" in study.trials[0].user_attrs["reason"]


def test_parallel_workers_share_the_sqlite_study(tmp_path, capfd):
    from rl4py.tuning import main

    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    storage = f"sqlite:///{tmp_path / 'par.db'}"
    study = main(
        ["--env", "CartPole", "--space", str(space), *TINY, "--trials", "3", "--jobs", "2", "--storage", storage]
    )
    assert len(study.trials) == 3
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]
    assert sorted(line["trial"] for line in lines) == [0, 1, 2]
    # the two workers' samplers are seeded apart: no two trials drew the same learning rate
    assert len({t.params["lr"] for t in study.trials}) == 3


def test_jobs_need_a_storage(tmp_path, capsys):
    from rl4py.tuning import main

    space = tmp_path / "space.yaml"
    space.write_text(SPACE)
    with pytest.raises(SystemExit):
        main(["--env", "CartPole", "--space", str(space), "--jobs", "2"])
    assert "pass storage='sqlite:///FILE.db'" in capsys.readouterr().err


def test_without_optuna_the_command_names_the_extra(monkeypatch):
    from rl4py.cli import main

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(ImportError, match=r'pip install "rl4py\[tune\]"'):
        require_optuna()
    with pytest.raises(ImportError, match=r"rl4py\[tune\]"):
        main(["tune", "--env", "CartPole", "--space", "unused.yaml"])
