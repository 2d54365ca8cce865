"""Tune PPO's hyperparameters with optuna from Python: a search space, an objective that trains with
the plain loop and evaluates as it goes, a study in SQLite that resumes, and the best config as YAML.

Run: python recipes/hyperparameter_tuning.py            (20 trials on CartPole, a few minutes)
     python recipes/hyperparameter_tuning.py --smoke    (2 tiny trials in memory, seconds)
The command line does the same: rl4py tune --algo ppo --env CartPole --space recipes/tune/ppo_space.yaml
Needs optuna: pip install "rl4py[tune]".
"""

import argparse

import optuna
import torch

from rl4py.trainers import PPOConfig
from rl4py.trainers.config import as_config
from rl4py.tuning import Objective, best_config, best_config_yaml, parse_space, tune

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="a tiny study (CI)")
parser.add_argument("--storage", default=None, help="e.g. sqlite:///cartpole.db: run again to add trials")
options = parser.parse_args()
torch.set_num_threads(1)  # small networks: one thread per trial

# searched fields carry a `type`; a plain value is fixed for every trial (a YAML file works the same: load_space)
params, fixed = parse_space(
    {
        "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},
        "rollout_length": {"type": "categorical", "choices": [16, 32, 64, 128]},
        "epochs": {"type": "int", "low": 2, "high": 8},
        "num_minibatches": {"type": "categorical", "choices": [1, 2, 4]},
        "entropy_coeff": {"type": "categorical", "choices": [0.0, 0.01]},
        "num_envs": 8,
    },
    PPOConfig,
)

# each trial: `seeds` runs of `frames` env steps, evaluated n_evaluations times (the median pruner
# sees each evaluation); the score is the mean of the last final_evaluations evaluations, over the runs
budget = dict(frames=1024, seeds=1, n_evaluations=2, final_evaluations=1, eval_episodes=2)
if not options.smoke:
    budget = dict(frames=30_000, seeds=2, n_evaluations=6, final_evaluations=2, eval_episodes=8)
objective = Objective("ppo", "CartPole", params, fixed, **budget)

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner prints one JSON line per trial
study = tune(
    objective,
    trials=2 if options.smoke else 20,
    storage=options.storage,  # None: in memory; an SQLite URL keeps the study and resumes it
    study_name="ppo-cartpole",
    n_startup_trials=1 if options.smoke else 8,  # random trials before TPE (and before pruning)
)

print(f"best mean evaluation return: {study.best_value:.1f} (trial {study.best_trial.number})")
config = as_config(best_config(study, objective), PPOConfig)  # the best settings as a PPOConfig
print(f"best PPOConfig: lr={config.lr:.3g} rollout_length={config.rollout_length} epochs={config.epochs}")
print(best_config_yaml(study, objective), end="")  # paste into a recipe for `rl4py fit --config`
