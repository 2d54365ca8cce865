from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py.testing import upgo_reference
from rl4py.values import UPGO, VALUE_ESTIMATORS, make_value_estimator
from rl4py.values.functional import generalized_advantage_estimate, td0_advantage, upgo_advantage_estimate

# the public function and the loop reference it is tested against: hand-computed cases pin both
FNS = [upgo_advantage_estimate, upgo_reference]


def _rows(*rows, dtype=torch.float32):
    return torch.tensor(rows, dtype=dtype).unsqueeze(-1)


def _scalar_upgo(rewards, values, next_values, dones, terminated, gamma):
    """Per-element transcription of the AlphaStar rule with plain Python floats (one row)."""
    n = len(rewards)
    delta = [rewards[t] + gamma * (0.0 if terminated[t] else next_values[t]) - values[t] for t in range(n)]
    out = [0.0] * n
    for t in reversed(range(n)):
        if not dones[t] and t + 1 < n and delta[t + 1] >= 0.0:  # Q(s_{t+1}, a_{t+1}) >= V(s_{t+1})
            out[t] = rewards[t] + gamma * out[t + 1]
        else:
            out[t] = rewards[t] + gamma * (0.0 if terminated[t] else next_values[t])
    return out


@pytest.mark.parametrize("fn", FNS)
def test_hand_computed_with_an_episode_end_in_the_middle(fn):
    # gamma 0.5; the first episode ends at t = 2: terminated in row 0, truncated in row 1
    #   t:        0    1    2    3    4    5
    #   r:        1    0    2    1    0    1
    #   V(s_t):   1    2    1  0.5    1    0
    #   V(s'_t):  2    1    4    1    0    2     (4: the final observation; 2: the bootstrap)
    # delta_t = r_t + 0.5 (1 - term_t) V(s'_t) - V(s_t):
    #   row 0: [1, -1.5, 1, 1, -1, 2]        row 1: delta_2 = 2 + 0.5 * 4 - 1 = 3
    # G_t takes G_{t+1} iff not done_t and delta_{t+1} >= 0:
    #   t=5: last step      G = 1 + 0.5 * 2 = 2
    #   t=4: delta_5 >= 0   G = 0 + 0.5 * 2 = 1
    #   t=3: delta_4 < 0    G = 1 + 0.5 * V(s_4) = 1.5
    #   t=2: done           row 0 (terminated) G = 2; row 1 (truncated) G = 2 + 0.5 * 4 = 4
    #   t=1: delta_2 >= 0   row 0: G = 0 + 0.5 * 2 = 1; row 1: G = 0 + 0.5 * 4 = 2
    #   t=0: delta_1 < 0    G = 1 + 0.5 * V(s_1) = 2
    r = [1.0, 0.0, 2.0, 1.0, 0.0, 1.0]
    v = [1.0, 2.0, 1.0, 0.5, 1.0, 0.0]
    nv = [2.0, 1.0, 4.0, 1.0, 0.0, 2.0]
    done = [False, False, True, False, False, False]
    reward, value, next_value = _rows(r, r), _rows(v, v), _rows(nv, nv)
    dones = _rows(done, done, dtype=torch.bool)
    terminated = _rows(done, [False] * 6, dtype=torch.bool)
    advantage, target = fn(0.5, value, next_value, reward, dones, terminated)
    torch.testing.assert_close(target, _rows([2.0, 1.0, 2.0, 1.5, 1.0, 2.0], [2.0, 2.0, 4.0, 1.5, 1.0, 2.0]))
    torch.testing.assert_close(advantage, _rows([1.0, -1.0, 1.0, 1.0, 0.0, 2.0], [1.0, 0.0, 3.0, 1.0, 0.0, 2.0]))


@pytest.mark.parametrize("fn", FNS)
def test_zero_td_error_counts_as_upgoing(fn):
    # gamma 0.5, r = [0, 1, 2], V = [0, 1, 0], V(s') = [1, 0, 2]: delta = [0.5, 0, 3]
    # delta_1 = 0 >= 0, so G_0 follows the trajectory: G_2 = 2 + 0.5 * 2 = 3, G_1 = 1 + 0.5 * 3 = 2.5,
    # G_0 = 0 + 0.5 * 2.5 = 1.25 (with a strict > it would be 0 + 0.5 * V(s_1) = 0.5)
    no = _rows([False] * 3, dtype=torch.bool)
    advantage, target = fn(0.5, _rows([0.0, 1.0, 0.0]), _rows([1.0, 0.0, 2.0]), _rows([0.0, 1.0, 2.0]), no, no)
    torch.testing.assert_close(target, _rows([1.25, 2.5, 3.0]))
    torch.testing.assert_close(advantage, _rows([1.25, 1.5, 3.0]))


def _random_rollout(seed, shape, reward_shift=0.0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    *batch, t, _ = shape
    obs_values = torch.randn(*batch, t + 1, 1, generator=g, dtype=dtype)
    done = torch.rand(shape, generator=g) < 0.25
    terminated = done & (torch.rand(shape, generator=g) < 0.5)
    next_value = torch.where(done, torch.randn(shape, generator=g, dtype=dtype), obs_values[..., 1:, :])
    reward = torch.randn(shape, generator=g, dtype=dtype) + reward_shift
    return obs_values[..., :-1, :], next_value, reward, done, terminated


@pytest.mark.parametrize("seed", range(4))
def test_matches_scalar_transcription_on_random_data(seed):
    value, next_value, reward, done, terminated = _random_rollout(seed, (3, 25, 1))
    for fn in FNS:
        _, target = fn(0.9, value, next_value, reward, done, terminated)
        for b in range(3):
            expected = _scalar_upgo(
                *(x[b].flatten().tolist() for x in (reward, value, next_value, done, terminated)), gamma=0.9
            )
            torch.testing.assert_close(target[b].flatten(), torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(40, 1), (7, 33, 1), (3, 2, 19, 1), (4, 1, 1), (2, 1000, 1)])
def test_matches_the_loop_reference_on_random_data(seed, shape):
    value, next_value, reward, done, terminated = _random_rollout(seed, shape)
    a1, t1 = upgo_reference(0.97, value, next_value, reward, done, terminated)
    a2, t2 = upgo_advantage_estimate(0.97, value, next_value, reward, done, terminated)
    assert a1.shape == shape
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(t1, t2)


@pytest.mark.parametrize("fn", FNS)
def test_always_upgoing_is_monte_carlo_and_never_upgoing_is_td0(fn):
    # every TD error positive: UPGO follows every trajectory, so it is GAE(lambda=1)
    value, next_value, reward, done, terminated = _random_rollout(1, (4, 20, 1), reward_shift=10.0)
    advantage, _ = fn(0.9, value, next_value, reward, done, terminated)
    gae, _ = generalized_advantage_estimate(0.9, 1.0, value, next_value, reward, done, terminated)
    torch.testing.assert_close(advantage, gae)
    # every TD error negative: UPGO always falls back on V(s_{t+1}), the one-step TD error
    value, next_value, reward, done, terminated = _random_rollout(1, (4, 20, 1), reward_shift=-10.0)
    advantage, _ = fn(0.9, value, next_value, reward, done, terminated)
    torch.testing.assert_close(advantage, td0_advantage(0.9, value, next_value, reward, terminated))


def test_bad_input_raises():
    x = torch.zeros(2, 5, 1)
    flags = x.bool()
    with pytest.raises(ValueError, match=r"reward has shape \(2, 4, 1\) but state_value has \(2, 5, 1\)"):
        upgo_advantage_estimate(0.9, x, x, torch.zeros(2, 4, 1), flags, flags)
    with pytest.raises(ValueError, match=r"upgo_advantage_estimate: state_value has shape \(5,\), expected"):
        upgo_advantage_estimate(0.9, *(torch.zeros(5),) * 3, torch.zeros(5).bool())
    with pytest.raises(ValueError, match="UPGO: gamma must be in"):
        UPGO(gamma=-0.5)


def _rollout_td(batch=(2,), t=6):
    shape = (*batch, t)
    done = torch.rand(*shape, 1) < 0.3
    return TensorDict(
        {
            "observation": torch.randn(*shape, 3),
            "next": {
                "observation": torch.randn(*shape, 3),
                "reward": torch.randn(*shape, 1),
                "done": done,
                "terminated": done & (torch.rand(*shape, 1) < 0.5),
            },
        },
        batch_size=list(shape),
    )


@pytest.mark.parametrize("batch", [(), (3,), (2, 2)])
def test_module_matches_the_loop_reference(batch):
    critic = TensorDictModule(torch.nn.Linear(3, 1), in_keys=["observation"], out_keys=["state_value"])
    td = _rollout_td(batch)
    UPGO(0.9, value_network=critic)(td)
    with torch.no_grad():
        torch.testing.assert_close(td["state_value"], critic.module(td["observation"]))
        torch.testing.assert_close(td["next", "state_value"], critic.module(td["next", "observation"]))
    adv, target = upgo_reference(
        0.9,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["advantage"], adv)
    torch.testing.assert_close(td["value_target"], target)
    assert not td["advantage"].requires_grad


def test_module_runs_after_another_estimator_without_overwriting_its_targets():
    td = _rollout_td()
    td["state_value"] = torch.randn(2, 6, 1)
    td["next", "state_value"] = torch.randn(2, 6, 1)
    td["value_target"] = torch.full((2, 6, 1), 7.0)
    UPGO(0.9, advantage_key="upgo_advantage", write_value_target=False)(td)
    torch.testing.assert_close(td["value_target"], torch.full((2, 6, 1), 7.0))
    expected, _ = upgo_advantage_estimate(
        0.9,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["upgo_advantage"], expected)


def test_module_without_values_raises_naming_key():
    with pytest.raises(KeyError, match=r"UPGO: the rollout has no 'state_value'"):
        UPGO()(_rollout_td())


def test_registry():
    assert VALUE_ESTIMATORS["upgo"] is UPGO
    est = make_value_estimator("upgo", gamma=0.25)
    assert isinstance(est, UPGO) and est.gamma == 0.25


def _off_policy_td() -> TensorDict:
    td = _rollout_td()
    td["state_value"] = torch.randn(2, 6, 1)
    td["next", "state_value"] = torch.randn(2, 6, 1)
    td["action_log_prob"] = torch.log(torch.rand(2, 6, 1))
    td["target_log_prob"] = torch.log(torch.rand(2, 6, 1))
    return td


def test_rho_bar_weights_the_advantage_by_the_clipped_importance_ratio():
    torch.manual_seed(0)
    td = _off_policy_td()
    plain, _ = upgo_advantage_estimate(
        0.9,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    rho = (td["target_log_prob"] - td["action_log_prob"]).exp()
    assert bool((rho > 1).any()) and bool((rho < 1).any())
    UPGO(0.9, rho_bar=1.0)(td)
    torch.testing.assert_close(td["advantage"], plain * rho.clamp(max=1.0))


def test_rho_bar_computes_log_pi_with_the_actor_when_nothing_is_stored():
    from rl4py.modules import ProbabilisticActor

    torch.manual_seed(0)
    actor = ProbabilisticActor(torch.nn.Linear(3, 2))
    td = _off_policy_td().exclude("target_log_prob")
    td["action"] = torch.randint(0, 2, (2, 6))
    UPGO(0.9, rho_bar=1.0, actor=actor)(td)
    with torch.no_grad():
        log_pi = actor.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
    torch.testing.assert_close(td["target_log_prob"], log_pi)
    with pytest.raises(KeyError, match="pass actor=policy to UPGO"):
        UPGO(0.9, rho_bar=1.0)(_off_policy_td().exclude("target_log_prob"))
    with pytest.raises(ValueError, match="rho_bar"):
        UPGO(rho_bar=0.0)
