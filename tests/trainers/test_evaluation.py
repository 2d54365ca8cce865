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


class _StepCounter:
    """Recurrent: its state counts the steps it has taken (next = state + 1); records what it was fed."""

    KEY = ("recurrent_state", "steps")

    def __init__(self) -> None:
        self.seen: list[tuple[list[bool], list[float]]] = []

    def initial_state(self, batch_size: int, device=None):
        from tensordict import TensorDict

        return TensorDict({self.KEY: torch.zeros(batch_size, 1)}, batch_size=[batch_size], device=device)

    def __call__(self, td):
        self.seen.append((td["is_init"].squeeze(-1).tolist(), td.get(self.KEY).squeeze(-1).tolist()))
        td.set("action", torch.zeros(td.batch_size, dtype=torch.long))
        td.set(("next", *self.KEY), td.get(self.KEY) + 1)
        return td


def test_recurrent_policy_gets_is_init_and_its_carried_state():
    policy = _StepCounter()
    returns = evaluate_policy(CountingEnv(num_envs=2, episode_length=[2, 4]), policy, max_steps=10)
    assert returns.tolist() == [2.0, 4.0]
    is_init = [flags for flags, _ in policy.seen]
    states = [steps for _, steps in policy.seen]
    # sub-env 0 restarts after 2 steps: its state goes back to 0 and is_init is set again
    assert is_init == [[True, True], [False, False], [True, False], [False, False]]
    assert states == [[0.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, 3.0]]


def test_recurrent_actor_critic_evaluates():
    from rl4py import CartPole
    from rl4py.modules.recurrent_actor import make_recurrent_actor_critic

    env = CartPole(num_envs=4, partial_observation=True)
    torch.manual_seed(0)
    policy = make_recurrent_actor_critic(env.single_observation_space, env.single_action_space, hidden_size=8)
    returns = evaluate_policy(env, policy, max_steps=500, seed=0)
    assert returns.shape == (4,) and bool((returns >= 1).all())


def test_recurrent_policy_that_forgets_its_state_raises():
    class Forgetful(_StepCounter):
        def __call__(self, td):
            td.set("action", torch.zeros(td.batch_size, dtype=torch.long))
            return td

    with pytest.raises(KeyError, match="did not write"):
        evaluate_policy(CountingEnv(num_envs=2, episode_length=3), Forgetful(), max_steps=10)
