from __future__ import annotations

import math

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule

from rl4py.modules import ProbabilisticActor
from rl4py.testing import vtrace_reference
from rl4py.values import GAE, VALUE_ESTIMATORS, VTrace, make_value_estimator
from rl4py.values.functional import VTraceReturns, generalized_advantage_estimate, vtrace, vtrace_advantage_estimate

# the public batched function and the loop reference it is tested against: the paper transcription pins both
BATCHED = [vtrace_advantage_estimate, vtrace_reference]


def _paper_vtrace(log_rhos, discounts, rewards, values, bootstrap, rho_bar, c_bar):
    """Plain-Python transcription of IMPALA's definition (Espeholt et al. 2018, eq. 1), per-step discounts.

    v_s = V(x_s) + sum_{t=s}^{T-1} (prod_{i=s}^{t-1} discount_i c_i) delta_t,
    delta_t = rho_t (r_t + discount_t V(x_{t+1}) - V(x_t)),  pg_s = rho_s (r_s + discount_s v_{s+1} - V(x_s)).
    """
    n = len(rewards)
    vals = list(values) + [bootstrap]
    rho = [min(rho_bar, math.exp(x)) for x in log_rhos]
    c = [min(c_bar, math.exp(x)) for x in log_rhos]
    delta = [rho[t] * (rewards[t] + discounts[t] * vals[t + 1] - vals[t]) for t in range(n)]
    vs = []
    for s in range(n):
        total = vals[s]
        for t in range(s, n):
            coef = 1.0
            for i in range(s, t):
                coef *= discounts[i] * c[i]
            total += coef * delta[t]
        vs.append(total)
    vs_next = vs[1:] + [bootstrap]
    pg = [rho[s] * (rewards[s] + discounts[s] * vs_next[s] - vals[s]) for s in range(n)]
    return vs, pg


def _random_rollout(seed, shape, p_done=0.25, dtype=torch.float64):
    """Random values, rewards, log-ratios and episode flags; ``next_state_value`` is the value of the next
    observation (the shifted values inside an episode, the final observation's value at a done step)."""
    g = torch.Generator().manual_seed(seed)
    *batch, t, _ = shape
    obs_values = torch.randn(*batch, t + 1, 1, generator=g, dtype=dtype)
    state_value = obs_values[..., :-1, :]
    done = torch.rand(shape, generator=g) < p_done
    terminated = done & (torch.rand(shape, generator=g) < 0.5)
    next_state_value = torch.where(done, torch.randn(shape, generator=g, dtype=dtype), obs_values[..., 1:, :])
    reward = torch.randn(shape, generator=g, dtype=dtype)
    log_rho = 0.8 * torch.randn(shape, generator=g, dtype=dtype)
    return log_rho, state_value, next_state_value, reward, done, terminated


def _col(values, dtype=torch.float64):
    return torch.tensor(values, dtype=dtype).view(1, -1, 1)


# ---- the book-style single-sequence function ----


def test_book_style_hand_computed():
    # discounts 0.5; rho = c = [min(1, 2), min(1, 0.5)] = [1, 0.5]
    # delta_1 = 0.5 * (2 + 0.5 * 4 - 2) = 1 -> v_1 = 2 + 1 = 3
    # delta_0 = 1 * (1 + 0.5 * 2 - 1) = 1 -> v_0 = 1 + 1 + 0.5 * 1 * (3 - 2) = 2.5
    # pg_0 = 1 * (1 + 0.5 * 3 - 1) = 1.5; pg_1 = 0.5 * (2 + 0.5 * 4 - 2) = 1
    out = vtrace(
        torch.tensor([math.log(2.0), math.log(0.5)]),
        torch.tensor([0.5, 0.5]),
        torch.tensor([1.0, 2.0]),
        torch.tensor([1.0, 2.0]),
        4.0,
    )
    assert isinstance(out, VTraceReturns)
    torch.testing.assert_close(out.vs, torch.tensor([2.5, 3.0]))
    torch.testing.assert_close(out.pg_advantages, torch.tensor([1.5, 1.0]))
    vs, pg = out  # unpacks as (value_targets, advantages), the book's order
    torch.testing.assert_close(vs, out.vs)
    torch.testing.assert_close(pg, out.pg_advantages)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("rho_bar", "c_bar"), [(1.0, 1.0), (2.0, 0.7), (0.5, 1.5), (math.inf, math.inf)])
def test_book_style_matches_paper_transcription(seed, rho_bar, c_bar):
    g = torch.Generator().manual_seed(seed)
    t = 12
    log_rhos = torch.randn(t, generator=g, dtype=torch.float64)
    discounts = torch.full((t,), 0.9, dtype=torch.float64)
    discounts[torch.rand(t, generator=g) < 0.2] = 0.0  # episode ends
    rewards, values = (torch.randn(t, generator=g, dtype=torch.float64) for _ in range(2))
    bootstrap = torch.randn((), generator=g, dtype=torch.float64)
    vs, pg = vtrace(log_rhos, discounts, rewards, values, bootstrap, rho_bar=rho_bar, c_bar=c_bar)
    ref_vs, ref_pg = _paper_vtrace(
        log_rhos.tolist(), discounts.tolist(), rewards.tolist(), values.tolist(), bootstrap.item(), rho_bar, c_bar
    )
    torch.testing.assert_close(vs, torch.tensor(ref_vs, dtype=torch.float64))
    torch.testing.assert_close(pg, torch.tensor(ref_pg, dtype=torch.float64))


def test_book_style_batched_rows_are_independent_sequences():
    g = torch.Generator().manual_seed(7)
    shape = (2, 3, 9)
    log_rhos, rewards, values = (torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(3))
    discounts = torch.full(shape, 0.95, dtype=torch.float64)
    bootstrap = torch.randn(shape[:-1], generator=g, dtype=torch.float64)
    vs, pg = vtrace(log_rhos, discounts, rewards, values, bootstrap, rho_bar=1.2, c_bar=0.9)
    assert vs.shape == pg.shape == shape
    for i in range(2):
        for j in range(3):
            ref_vs, ref_pg = _paper_vtrace(
                log_rhos[i, j].tolist(),
                discounts[i, j].tolist(),
                rewards[i, j].tolist(),
                values[i, j].tolist(),
                bootstrap[i, j].item(),
                1.2,
                0.9,
            )
            torch.testing.assert_close(vs[i, j], torch.tensor(ref_vs, dtype=torch.float64))
            torch.testing.assert_close(pg[i, j], torch.tensor(ref_pg, dtype=torch.float64))


def test_book_style_input_validation():
    x = torch.zeros(5)
    with pytest.raises(ValueError, match=r"vtrace: rewards is empty \(shape \(0,\)\); expected at least one time step"):
        vtrace(x, x, torch.zeros(0), x, 0.0)
    with pytest.raises(ValueError, match=r"vtrace: log_rhos is empty"):
        vtrace(torch.zeros(0), torch.zeros(0), torch.zeros(0), torch.zeros(0), 0.0)
    with pytest.raises(ValueError, match=r"vtrace: discounts has shape \(4,\) but values has \(5,\)"):
        vtrace(x, torch.zeros(4), x, x, 0.0)
    with pytest.raises(ValueError, match=r"vtrace: log_rhos has shape \(5,\) but values has \(6,\)"):
        vtrace(x, x, x, torch.zeros(6), 0.0)
    with pytest.raises(ValueError, match=r"vtrace: rho_bar must be a positive clipping threshold \(> 0\), got 0.0"):
        vtrace(x, x, x, x, 0.0, rho_bar=0.0)
    with pytest.raises(ValueError, match=r"vtrace: c_bar must be a positive clipping threshold \(> 0\), got -1.0"):
        vtrace(x, x, x, x, 0.0, c_bar=-1.0)
    with pytest.raises(ValueError, match=r"vtrace: rho_bar .* got nan"):
        vtrace(x, x, x, x, 0.0, rho_bar=float("nan"))
    with pytest.raises(ValueError, match=r"vtrace: bootstrap_value has shape \(3,\), expected \(2,\)"):
        vtrace(*(torch.zeros(2, 5),) * 4, torch.zeros(3))
    with pytest.raises(ValueError, match=r"vtrace: log_rhos is a 0-d tensor; expected shape \[T\]"):
        vtrace(torch.tensor(0.0), x, x, x, 0.0)
    with pytest.raises(TypeError, match="vtrace: rewards must be a torch.Tensor, got list"):
        vtrace(x, x, [0.0] * 5, x, 0.0)


# ---- the batched time-last form ----


@pytest.mark.parametrize("fn", BATCHED)
@pytest.mark.parametrize(("rho_bar", "c_bar"), [(1.0, 1.0), (2.0, 3.0)])
def test_on_policy_value_targets_are_lambda_one_returns(fn, rho_bar, c_bar):
    # log-ratios 0 (on-policy) and rho_bar, c_bar >= 1: v_s is the n-step return, i.e. GAE(lambda=1)'s target
    log_rho, value, next_value, reward, done, terminated = _random_rollout(0, (3, 2, 20, 1))
    _, target = fn(
        0.97, torch.zeros_like(log_rho), value, next_value, reward, done, terminated, rho_bar=rho_bar, c_bar=c_bar
    )
    _, gae_target = generalized_advantage_estimate(0.97, 1.0, value, next_value, reward, done, terminated)
    torch.testing.assert_close(target, gae_target)
    # clipping: with rho_bar = c_bar = 1, ratios above 1 act as 1
    _, clipped = fn(0.97, log_rho.abs() + 0.1, value, next_value, reward, done, terminated)
    torch.testing.assert_close(clipped, gae_target)


@pytest.mark.parametrize("fn", BATCHED)
def test_on_policy_targets_are_discounted_return_plus_bootstrap(fn):
    # one episode, no done: v_t = sum_k gamma^(k-t) r_k + gamma^(T-t) V(s_T)
    gamma, rewards, values = 0.9, [1.0, -2.0, 0.5, 3.0], [0.3, 0.1, -0.4, 2.0]
    bootstrap = 1.5
    expected = [
        sum(gamma ** (k - t) * rewards[k] for k in range(t, 4)) + gamma ** (4 - t) * bootstrap for t in range(4)
    ]
    no = _col([False] * 4, torch.bool)
    pg, target = fn(gamma, _col([0.0] * 4), _col(values), _col(values[1:] + [bootstrap]), _col(rewards), no, no)
    torch.testing.assert_close(target.flatten(), torch.tensor(expected, dtype=torch.float64))
    # on-policy advantage: r_t + gamma v_{t+1} - V(s_t)
    next_target = expected[1:] + [bootstrap]
    pg_expected = [rewards[t] + gamma * next_target[t] - values[t] for t in range(4)]
    torch.testing.assert_close(pg.flatten(), torch.tensor(pg_expected, dtype=torch.float64))


@pytest.mark.parametrize("fn", BATCHED)
@pytest.mark.parametrize("seed", range(3))
def test_without_episode_ends_matches_paper_transcription(fn, seed):
    log_rho, value, next_value, reward, _, _ = _random_rollout(seed, (4, 15, 1))
    next_value = torch.cat([value[:, 1:], next_value[:, -1:]], 1)  # one episode per row: V(x_{t+1}) = V(s'_t)
    no = torch.zeros_like(value, dtype=torch.bool)
    pg, target = fn(0.95, log_rho, value, next_value, reward, no, no, rho_bar=1.0, c_bar=0.8)
    for b in range(4):
        ref_vs, ref_pg = _paper_vtrace(
            log_rho[b].flatten().tolist(),
            [0.95] * 15,
            reward[b].flatten().tolist(),
            value[b].flatten().tolist(),
            next_value[b, -1, 0].item(),
            1.0,
            0.8,
        )
        torch.testing.assert_close(target[b].flatten(), torch.tensor(ref_vs, dtype=torch.float64))
        torch.testing.assert_close(pg[b].flatten(), torch.tensor(ref_pg, dtype=torch.float64))


@pytest.mark.parametrize("fn", BATCHED)
def test_truncation_bootstraps_and_termination_does_not(fn):
    # the episode ends at step 3 of 7; the second episode runs to the end of the rollout
    g = torch.Generator().manual_seed(11)
    t, k, gamma = 7, 3, 0.9
    log_rho, value, reward = (torch.randn(1, t, 1, generator=g, dtype=torch.float64) for _ in range(3))
    next_value = torch.cat([value[:, 1:], torch.randn(1, 1, 1, generator=g, dtype=torch.float64)], 1)
    final_obs_value = 5.0
    next_value[0, k, 0] = final_obs_value  # the true final observation of the first episode
    done = torch.zeros(1, t, 1, dtype=torch.bool)
    done[0, k, 0] = True

    def segment(lo, hi, bootstrap):
        flat = [x[0, lo:hi, 0].tolist() for x in (log_rho, reward, value)]
        return _paper_vtrace(flat[0], [gamma] * (hi - lo), flat[1], flat[2], bootstrap, 1.0, 1.0)

    second_vs, second_pg = segment(k + 1, t, next_value[0, -1, 0].item())
    for terminated_flag, bootstrap in ((False, final_obs_value), (True, 0.0)):
        terminated = done & terminated_flag
        pg, target = fn(gamma, log_rho, value, next_value, reward, done, terminated)
        first_vs, first_pg = segment(0, k + 1, bootstrap)
        torch.testing.assert_close(target.flatten(), torch.tensor(first_vs + second_vs, dtype=torch.float64))
        torch.testing.assert_close(pg.flatten(), torch.tensor(first_pg + second_pg, dtype=torch.float64))
    # and the two really differ at the episode end
    truncated_target = fn(gamma, log_rho, value, next_value, reward, done, done & False)[1]
    terminated_target = fn(gamma, log_rho, value, next_value, reward, done, done)[1]
    rho = min(1.0, math.exp(log_rho[0, k, 0].item()))
    assert (truncated_target - terminated_target)[0, k, 0].item() == pytest.approx(rho * gamma * final_obs_value)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(30, 1), (6, 33, 1), (3, 2, 17, 1), (5, 1, 1), (2, 1000, 1)])
def test_matches_the_loop_reference_on_random_data(seed, shape):
    log_rho, value, next_value, reward, done, terminated = _random_rollout(seed, shape)
    a1, t1 = vtrace_reference(0.99, log_rho, value, next_value, reward, done, terminated, rho_bar=1.5, c_bar=0.9)
    a2, t2 = vtrace_advantage_estimate(
        0.99, log_rho, value, next_value, reward, done, terminated, rho_bar=1.5, c_bar=0.9
    )
    assert a1.shape == t1.shape == shape
    torch.testing.assert_close(a1, a2)
    torch.testing.assert_close(t1, t2)


def test_batched_input_validation():
    x = torch.zeros(2, 5, 1)
    flags = torch.zeros(2, 5, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"reward has shape \(2, 4, 1\) but log_rho has \(2, 5, 1\)"):
        vtrace_advantage_estimate(0.9, x, x, x, torch.zeros(2, 4, 1), flags, flags)
    with pytest.raises(ValueError, match="time dim"):
        vtrace_advantage_estimate(0.9, *(torch.zeros(2, 0, 1),) * 4, *(torch.zeros(2, 0, 1, dtype=torch.bool),) * 2)
    with pytest.raises(ValueError, match=r"c_bar must be a positive clipping threshold \(> 0\), got 0"):
        vtrace_advantage_estimate(0.9, x, x, x, x, flags, flags, c_bar=0)


# ---- the module ----


def _rollout_td(batch=(2,), t=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (*batch, t)
    done = torch.rand(*shape, 1, generator=g) < 0.3
    return TensorDict(
        {
            "observation": torch.randn(*shape, 3, generator=g),
            "action_log_prob": -torch.rand(*shape, 1, generator=g),
            "target_log_prob": -torch.rand(*shape, 1, generator=g),
            "next": {
                "observation": torch.randn(*shape, 3, generator=g),
                "reward": torch.randn(*shape, 1, generator=g),
                "done": done,
                "terminated": done & (torch.rand(*shape, 1, generator=g) < 0.5),
            },
        },
        batch_size=list(shape),
    )


def _critic():
    return TensorDictModule(torch.nn.Linear(3, 1), in_keys=["observation"], out_keys=["state_value"])


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_module_with_target_log_prob_key_matches_the_loop_reference(batch):
    critic = _critic()
    td = _rollout_td(batch)
    VTrace(0.9, rho_bar=1.2, c_bar=0.8, value_network=critic)(td)
    with torch.no_grad():
        torch.testing.assert_close(td["state_value"], critic.module(td["observation"]))
        torch.testing.assert_close(td["next", "state_value"], critic.module(td["next", "observation"]))
    adv, target = vtrace_reference(
        0.9,
        td["target_log_prob"] - td["action_log_prob"],
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
        rho_bar=1.2,
        c_bar=0.8,
    )
    torch.testing.assert_close(td["advantage"], adv)
    torch.testing.assert_close(td["value_target"], target)
    assert not td["advantage"].requires_grad and not td["value_target"].requires_grad


def test_module_with_actor_computes_target_log_prob():
    torch.manual_seed(0)
    behaviour = ProbabilisticActor(torch.nn.Linear(3, 2))
    learner = ProbabilisticActor(torch.nn.Linear(3, 2))
    td = _rollout_td((4,), 6).exclude("target_log_prob", "action_log_prob")
    with torch.no_grad():
        behaviour(td)  # writes "action" and the behaviour "action_log_prob"
    VTrace(0.9, value_network=_critic(), actor=learner)(td)
    with torch.no_grad():
        target_log_prob = torch.distributions.Categorical(logits=learner.module(td["observation"])).log_prob(
            td["action"]
        )
    log_rho = target_log_prob.unsqueeze(-1) - td["action_log_prob"]
    assert log_rho.abs().max() > 0.01  # the two policies really differ
    adv, target = vtrace_advantage_estimate(
        0.9,
        log_rho,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["advantage"], adv)
    torch.testing.assert_close(td["value_target"], target)
    assert not td["advantage"].requires_grad
    # stored for later stages (UPGO's importance weights)
    torch.testing.assert_close(td["target_log_prob"], target_log_prob.unsqueeze(-1))
    # the behaviour policy as learner: log_rho = 0, so the targets are GAE(lambda=1)'s
    VTrace(0.9, actor=behaviour)(td)
    _, gae_target = generalized_advantage_estimate(
        0.9,
        1.0,
        td["state_value"],
        td["next", "state_value"],
        td["next", "reward"],
        td["next", "done"],
        td["next", "terminated"],
    )
    torch.testing.assert_close(td["value_target"], gae_target)


def test_module_errors_name_missing_keys_and_bad_arguments():
    td = _rollout_td().exclude("target_log_prob")
    with pytest.raises(KeyError, match=r"VTrace: the rollout has no 'target_log_prob'; it is written by the learner"):
        VTrace(value_network=_critic())(td)
    with pytest.raises(KeyError, match="actor=policy"):
        VTrace(value_network=_critic())(td)
    with pytest.raises(KeyError, match="state_value"):
        VTrace()(_rollout_td())
    with pytest.raises(KeyError, match="'action_log_prob'"):
        VTrace(value_network=_critic())(_rollout_td().exclude("action_log_prob"))
    bad = _rollout_td()
    bad["target_log_prob"] = torch.zeros(2, 5, 2)
    with pytest.raises(ValueError, match=r"'target_log_prob' has shape \(2, 5, 2\), expected \(2, 5, 1\)"):
        VTrace(value_network=_critic())(bad)
    with pytest.raises(ValueError, match="gamma must be in"):
        VTrace(gamma=1.5)
    with pytest.raises(ValueError, match=r"rho_bar must be a positive clipping threshold \(> 0\), got 0"):
        VTrace(rho_bar=0)
    with pytest.raises(ValueError, match=r"c_bar must be a positive clipping threshold \(> 0\), got -2"):
        VTrace(c_bar=-2)
    with pytest.raises(TypeError, match="actor must have a get_dist"):
        VTrace(actor=torch.nn.Linear(3, 2))


def test_registry():
    assert VALUE_ESTIMATORS["vtrace"] is VTrace
    est = make_value_estimator("vtrace", gamma=0.5, rho_bar=2.0, c_bar=1.5)
    assert isinstance(est, VTrace) and (est.gamma, est.rho_bar, est.c_bar) == (0.5, 2.0, 1.5)


def test_swaps_for_gae_in_a_pipeline():
    # on-policy data through VTrace and GAE(lmbda=1): the same value targets
    td = _rollout_td((3,), 8)
    td["target_log_prob"] = td["action_log_prob"].clone()
    critic = _critic()
    a = VTrace(0.95, value_network=critic)(td.clone())
    b = GAE(0.95, 1.0, value_network=critic)(td.clone())
    torch.testing.assert_close(a["value_target"], b["value_target"])
