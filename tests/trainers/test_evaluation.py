from __future__ import annotations

import pytest
import torch
from tensordict.nn import TensorDictModule

from rl4py.testing import CountingEnv
from rl4py.trainers import evaluate_policy


class _Constant(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0], dtype=torch.long)


def _policy() -> TensorDictModule:
    return TensorDictModule(_Constant(), in_keys=["observation"], out_keys=["action"])


def test_returns_first_episode_of_each_sub_env():
    env = CountingEnv(num_envs=3, episode_length=[2, 5, 3])
    returns = evaluate_policy(env, _policy(), max_steps=10)
    assert returns.tolist() == [2.0, 5.0, 3.0]  # reward 1 per step; later episodes are ignored


def test_unfinished_episodes_raise():
    with pytest.raises(RuntimeError, match="1 of 2 episodes did not end within max_steps=4"):
        evaluate_policy(CountingEnv(num_envs=2, episode_length=[3, 9]), _policy(), max_steps=4)
