"""Training: plain-loop helpers and trainers (no Lightning needed)."""

from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.impala_loop import ImpalaConfig, train_impala
from rl4py.trainers.ppo_loop import PPOConfig, train_ppo
from rl4py.trainers.tracking import EpisodeTracker, TrainResult
from rl4py.trainers.updates import minibatch_update, num_threads

__all__ = [
    "EpisodeTracker",
    "ImpalaConfig",
    "PPOConfig",
    "TrainResult",
    "evaluate_policy",
    "minibatch_update",
    "num_threads",
    "train_impala",
    "train_ppo",
]
