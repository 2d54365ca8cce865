"""ZConditionedMLP: concatenation and FiLM conditioning on a strategy context; the actor-critic builder."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl4py.modules import MLP, ZConditionedMLP, make_z_conditioned_actor_critic


def test_conditioned_mlps_concat_and_film():
    x, z, s = torch.randn(6, 8), torch.rand(6, 1), torch.rand(6, 1)
    concat = ZConditionedMLP(8, 2, 3, num_cells=(16,), mode="concat")
    assert concat(x, z, s).shape == (6, 3) and concat.net[0].in_features == 10
    film = ZConditionedMLP(8, 2, 3, num_cells=(16, 16), mode="film")
    # FiLM starts as the identity: the output does not depend on the context until it learns to
    torch.testing.assert_close(film(x, z, s), film(x, torch.zeros_like(z), torch.ones_like(s)))
    plain = MLP(8, 3, (16, 16))
    for src, dst in zip(film.linears, (plain[0], plain[2])):
        dst.load_state_dict(src.state_dict())
    plain[4].load_state_dict(film.head.state_dict())
    torch.testing.assert_close(film(x, z, s), plain(x))
    with pytest.raises(ValueError, match=r"expected x \[\*B, 8\] and a context \[\*B, 2\]"):
        film(x, z)
    with pytest.raises(ValueError, match="mode must be one of"):
        ZConditionedMLP(8, 2, 3, mode="sum")
    with pytest.raises(ValueError, match="needs at least one hidden layer"):
        ZConditionedMLP(8, 2, 3, num_cells=(), mode="film")


def test_z_conditioned_actor_critic_reads_the_observation_and_the_context_entries():
    from tensordict import TensorDict

    obs_space, act_space = gym.spaces.Box(0.0, 1.0, (5,), np.float32), gym.spaces.Discrete(3)
    actor, critic = make_z_conditioned_actor_critic(obs_space, act_space, context_dim=2, mode="film")
    td = TensorDict({"observation": torch.rand(4, 5), "z": torch.rand(4, 1), "z_statistics": torch.rand(4, 1)}, [4])
    assert actor(td.clone())["action"].shape == (4,) and critic(td.clone())["state_value"].shape == (4, 1)
    assert actor.in_keys == ["observation", "z", "z_statistics"]
    with pytest.raises(TypeError, match="needs a Discrete\\(n\\) action space"):
        make_z_conditioned_actor_critic(obs_space, gym.spaces.Box(-1.0, 1.0, (1,)), context_dim=2)
