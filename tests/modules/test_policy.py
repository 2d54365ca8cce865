"""predict / Policy: plain observations in, the actor's action out, in the input's kind."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import InteractionType, set_interaction_type

from rl4py.modules import (
    EpsilonGreedy,
    Policy,
    make_actor_critic,
    make_q_network,
    make_recurrent_actor_critic,
    predict,
)

OBS = gym.spaces.Box(-1.0, 1.0, (3,))


def reference(actor, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The actor's own deterministic action on a TensorDict[B]."""
    td = TensorDict({"observation": obs}, batch_size=[obs.shape[0]])
    if mask is not None:
        td["action_mask"] = mask
    with torch.no_grad(), set_interaction_type(InteractionType.DETERMINISTIC):
        return actor(td)["action"]


def random_mask(batch: int, n: int) -> torch.Tensor:
    mask = torch.rand(batch, n) < 0.5
    mask[torch.arange(batch), torch.randint(n, (batch,))] = True
    return mask


@pytest.mark.parametrize(
    "action_space",
    [gym.spaces.Discrete(4, start=-1), gym.spaces.MultiDiscrete([3, 2], start=[1, 0]), gym.spaces.Box(-1, 1, (2,))],
)
def test_predict_matches_the_actors_mode_for_one_observation_and_a_batch(action_space):
    actor, _ = make_actor_critic(OBS, action_space, tanh_squash=isinstance(action_space, gym.spaces.Box))
    batch = torch.randn(16, 3)
    expected = reference(actor, batch)
    got = predict(actor, batch)
    assert isinstance(got, torch.Tensor) and torch.equal(got, expected)
    single = predict(actor, batch[5].numpy())
    assert isinstance(single, np.ndarray) and single.shape == tuple(expected.shape[1:])
    # a batch of 1 and of 16 take different matmul kernels: floats agree to rounding
    np.testing.assert_allclose(single, expected[5].numpy(), rtol=1e-5, atol=1e-7)
    assert single.dtype == (np.float32 if isinstance(action_space, gym.spaces.Box) else np.int64)


def test_deterministic_false_samples():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(4))  # gain 0.01 head: nearly uniform
    obs = torch.zeros(200, 3)
    greedy = predict(actor, obs)
    assert (greedy == greedy[0]).all()
    sampled = predict(actor, obs, deterministic=False)
    assert set(sampled.tolist()) == {0, 1, 2, 3}


def test_float64_numpy_observations_are_cast_to_the_actors_dtype():
    actor, _ = make_actor_critic(OBS, gym.spaces.Box(-1, 1, (2,)))
    obs = np.random.default_rng(0).normal(size=(5, 3))  # float64, as numpy makes them
    got = predict(actor, obs)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, reference(actor, torch.from_numpy(obs).float()).numpy())


def test_action_mask_picks_among_allowed_actions():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(5, start=2), masked=True)
    obs, mask = torch.randn(64, 3), random_mask(64, 5)
    got = predict(actor, obs, action_mask=mask)
    assert torch.equal(got, reference(actor, obs, mask))
    assert mask[torch.arange(64), got - 2].all()
    only = torch.zeros(5, dtype=torch.bool)
    only[3] = True
    assert int(predict(actor, obs[0].numpy(), action_mask=only.numpy())) == 5


def test_mask_errors_name_what_was_expected():
    masked, _ = make_actor_critic(OBS, gym.spaces.Discrete(4), masked=True)
    plain, _ = make_actor_critic(OBS, gym.spaces.Discrete(4))
    obs = torch.randn(2, 3)
    with pytest.raises(ValueError, match="pass action_mask"):
        predict(masked, obs)
    with pytest.raises(ValueError, match="reads none"):
        predict(plain, obs, action_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="must be bool"):
        predict(masked, obs, action_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"expected \[2, n_actions\]"):
        predict(masked, obs, action_mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="allows no action"):
        predict(masked, obs, action_mask=torch.tensor([[True] * 4, [False] * 4]))


def test_observation_errors_name_the_expected_shape_and_dtype():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=r"shape \(2, 4\), expected \(3,\) for one observation or \('B', 3\)"):
        predict(actor, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="real-valued"):
        predict(actor, torch.zeros(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="numeric array"):
        predict(actor, np.array(["a", "b", "c"]))
    with pytest.raises(TypeError, match="torch.Tensor or a numpy array, got list"):
        predict(actor, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="NaN or inf"):
        predict(actor, np.array([0.0, np.nan, 0.0]))
    with pytest.raises(TypeError, match="not recurrent"):
        predict(actor, torch.zeros(3), state=TensorDict({}, batch_size=[1]))


def test_observation_shape_from_a_space_overrides_inference():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match=r"expected \(5,\)"):
        Policy(actor, gym.spaces.Box(-1, 1, (5,))).predict(torch.zeros(3))


def test_q_value_actor_is_greedy_and_epsilon_greedy_explores_when_not_deterministic():
    q = make_q_network(3, 4, action_mask_key="action_mask")
    obs, mask = torch.randn(300, 3), random_mask(300, 4)
    expected = q.network(obs).masked_fill(~mask, float("-inf")).argmax(-1)
    assert torch.equal(predict(q, obs, action_mask=mask), expected)
    explorer = EpsilonGreedy(4, eps_start=1.0, eps_end=1.0, generator=0, actor=q, action_mask_key="action_mask")
    assert torch.equal(predict(explorer, obs, action_mask=mask), expected)
    explored = predict(explorer, obs, deterministic=False, action_mask=mask)
    assert not torch.equal(explored, expected)
    assert mask[torch.arange(300), explored].all()


def test_objects_holding_an_actor_and_predict_as_a_method():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(3))

    class Trained:
        predict = predict

        def __init__(self):
            self.actor = actor

    obs = torch.randn(4, 3)
    assert torch.equal(Trained().predict(obs), reference(actor, obs))
    assert torch.equal(predict(SimpleNamespace(actor=actor), obs), reference(actor, obs))
    with pytest.raises(TypeError, match="expected an rl4py actor"):
        predict(torch.nn.Linear(3, 2), obs)


def test_observation_transform_runs_before_the_actor():
    actor, _ = make_actor_critic(OBS, gym.spaces.Box(-1, 1, (2,)))
    shift = torch.nn.Linear(3, 3)
    with torch.no_grad():
        shift.weight.copy_(2 * torch.eye(3))
        shift.bias.fill_(-1.0)
    obs = torch.rand(6, 3)
    got = Policy(actor, observation_transform=shift).predict(obs)
    assert torch.equal(got, reference(actor, 2 * obs - 1))
    assert not torch.equal(got, reference(actor, obs))


def test_recurrent_predict_carries_the_state_as_the_actor_does():
    policy = make_recurrent_actor_critic(OBS, gym.spaces.Discrete(3), core="lstm", hidden_size=8)
    actor = policy.actor
    obs = torch.randn(5, 2, 3)  # 5 steps, 2 envs
    # the reference: the actor stepped on TensorDicts, as the collector does
    td_state = actor.initial_state(2)
    expected = []
    for t in range(5):
        td = td_state.clone()
        td["observation"] = obs[t]
        td["is_init"] = torch.full((2, 1), t == 0)
        with torch.no_grad(), set_interaction_type(InteractionType.DETERMINISTIC):
            out = actor(td)
        expected.append(out["action"])
        td_state = out["next"].select(*actor.state_keys)
    state = None
    got = []
    for t in range(5):
        action, state = predict(policy, obs[t], state=state)
        got.append(action)
    assert torch.equal(torch.stack(got), torch.stack(expected))
    # the state matters: a fresh state at step 4 gives the step-0 answer for that observation
    fresh, _ = predict(policy, obs[4])
    restarted, _ = predict(policy, obs[4], state=state, episode_start=torch.tensor([True, True]))
    assert torch.equal(fresh, restarted)
    logits_fresh = actor.module(actor.core.step(obs[4], actor.core.initial_state(2))[0])
    assert torch.equal(fresh, logits_fresh.argmax(-1))
    # one observation: numpy in and out, state of batch 1
    action, single_state = predict(policy, obs[0, 0].numpy())
    assert action.shape == () and tuple(single_state.batch_size) == (1,)
    with pytest.raises(ValueError, match=r"TensorDict\[2\]"):
        predict(policy, obs[0], state=single_state)
    with pytest.raises(ValueError, match="episode_start must be bool"):
        predict(policy, obs[0], state=state, episode_start=np.array([1, 0]))
