"""Training: plain-loop trainers and helpers, and LightningModules (imported on first use, so the
plain loops never import Lightning)."""

from rl4py.trainers.dqn_loop import DQNConfig, train_dqn
from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.impala_loop import ImpalaConfig, train_impala
from rl4py.trainers.ppo_loop import PPOConfig, train_ppo
from rl4py.trainers.recurrent_ppo import RecurrentPPOConfig, train_recurrent_ppo
from rl4py.trainers.tracking import EpisodeTracker, ProgressReporter, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.trainers.weights import load_weights, save_weights

__all__ = [
    "DQNConfig",
    "EpisodeTracker",
    "ProgressReporter",
    "ImpalaConfig",
    "PPOConfig",
    "RecurrentPPOConfig",
    "TrainResult",
    "evaluate_policy",
    "load_weights",
    "minibatch_update",
    "num_threads",
    "save_weights",
    "train_dqn",
    "train_impala",
    "train_ppo",
    "train_recurrent_ppo",
]


_LIGHTNING = {
    "PPOModule": "rl4py.trainers.lightning_ppo",
    "RolloutDataset": "rl4py.trainers.lightning_base",
    "RolloutModule": "rl4py.trainers.lightning_base",
    "DQNModule": "rl4py.trainers.lightning_dqn",
    "ImpalaModule": "rl4py.trainers.lightning_impala",
    "EvaluationCallback": "rl4py.trainers.lightning_callbacks",
}


def __getattr__(name: str):
    if name in _LIGHTNING:
        import importlib

        return getattr(importlib.import_module(_LIGHTNING[name]), name)
    raise AttributeError(f"module 'rl4py.trainers' has no attribute {name!r}")
