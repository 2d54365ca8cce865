"""DreamerPolicy: the posterior it acts from, its carried state and resets."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from rl4py.modules import MLP, DreamerPolicy, ProbabilisticActor
from rl4py.modules.rssm import RSSM


def _policy() -> DreamerPolicy:
    torch.manual_seed(0)
    rssm = RSSM.from_preset("tiny", embed_size=8, action_size=2)
    encoder = nn.Linear(3, 8)
    actor = ProbabilisticActor(MLP(rssm.feature_size, 2, (16,)), in_keys=["features"])
    return DreamerPolicy(encoder, rssm, actor)


def _step(policy: DreamerPolicy, state: TensorDict, obs: torch.Tensor, is_init: torch.Tensor) -> TensorDict:
    td = state.clone()
    td["observation"] = obs
    td["is_init"] = is_init
    return policy(td)


def test_first_step_is_the_initial_posterior_and_the_state_carries_over():
    policy = _policy()
    obs = torch.randn(3, 3)
    state = policy.initial_state(3)
    assert state["recurrent_state", "world_model", "action"].shape == (3, 2)
    generator_state = torch.get_rng_state()
    out = _step(policy, state, obs, torch.ones(3, 1, dtype=torch.bool))
    torch.set_rng_state(generator_state)
    first = policy.rssm.initial_posterior(policy.encoder(obs))  # the same draws: the same sample
    torch.testing.assert_close(out["next", "recurrent_state", "world_model", "deter"], first.deter)
    torch.testing.assert_close(out["features"], policy.rssm.features(first))
    action = out["action"]
    torch.testing.assert_close(out["next", "recurrent_state", "world_model", "action"],
                               torch.nn.functional.one_hot(action, 2).float())  # fmt: skip
    # the next step goes on from the carried state, unless is_init resets it
    carried = TensorDict({k: out["next", k] for k in [("recurrent_state", "world_model", n) for n in
                          ("deter", "stoch", "action")]}, batch_size=[3])  # fmt: skip
    go_on = _step(policy, carried, obs, torch.zeros(3, 1, dtype=torch.bool))
    reset = _step(policy, carried, obs, torch.tensor([[True], [False], [True]]))
    assert not torch.equal(go_on["next", "recurrent_state", "world_model", "deter"][0],
                           reset["next", "recurrent_state", "world_model", "deter"][0])  # fmt: skip
    torch.testing.assert_close(go_on["next", "recurrent_state", "world_model", "deter"][1],
                               reset["next", "recurrent_state", "world_model", "deter"][1])  # fmt: skip
    # a reset row's memory is the initial posterior's (the deterministic part does not depend on the draws)
    torch.testing.assert_close(reset["next", "recurrent_state", "world_model", "deter"][0], first.deter[0])


def test_bad_input_names_what_is_missing():
    policy = _policy()
    with pytest.raises(KeyError, match="lacks"):
        policy(TensorDict({"observation": torch.zeros(2, 3)}, batch_size=[2]))
    with pytest.raises(ValueError, match=r"steps a TensorDict\[B\]"):
        policy(TensorDict({"observation": torch.zeros(2, 4, 3)}, batch_size=[2, 4]))
    with pytest.raises(TypeError, match="get_dist"):
        DreamerPolicy(nn.Linear(3, 8), policy.rssm, nn.Linear(2, 2))
