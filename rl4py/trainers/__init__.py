"""Training: plain-loop helpers (no Lightning needed) and, later, LightningModules."""

from rl4py.trainers.ppo_loop import PPOConfig, PPOResult, train_ppo
from rl4py.trainers.updates import minibatch_update, num_threads

__all__ = ["PPOConfig", "PPOResult", "minibatch_update", "num_threads", "train_ppo"]
