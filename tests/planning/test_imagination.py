"""rl4py.planning.imagination: rollouts, lambda-returns, weights, and the frozen world model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rl4py.losses import DreamerActorLoss, DreamerValueLoss, total_loss
from rl4py.modules import MLP, RSSM, DiagGaussian, ProbabilisticActor, RSSMState
from rl4py.planning import Imagination, frozen


def _parts(continuous: bool = False) -> tuple[RSSM, ProbabilisticActor, DreamerValueLoss]:
    rssm = RSSM.from_preset("tiny", embed_size=8, action_size=2)
    if continuous:

        class GaussianHead(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Linear(rssm.feature_size, 2)
                self.log_std = nn.Parameter(torch.zeros(2))

            def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                return self.net(f), self.log_std

        actor = ProbabilisticActor(
            GaussianHead(), in_keys=["features"], dist_keys=("loc", "log_std"), distribution_class=DiagGaussian
        )
    else:
        actor = ProbabilisticActor(nn.Linear(rssm.feature_size, 2), in_keys=["features"])
    value_loss = DreamerValueLoss(MLP(rssm.feature_size, 255, (16,), activation=nn.SiLU))
    # non-trivial predictions: random reward and continue heads
    for p in [*rssm.reward_head.parameters(), *rssm.continue_head.parameters()]:
        nn.init.normal_(p, std=0.3)
    return rssm, actor, value_loss


def _start(rssm: RSSM, b: int = 3, t: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    post = rssm.observe(torch.randn(b, t, 8), torch.randn(b, t, 2), torch.zeros(b, t, dtype=torch.bool))
    return post["deter"], post["stoch"]


def test_rollout_layout_and_consistency() -> None:
    rssm, actor, value_loss = _parts()
    imagination = Imagination(rssm, actor, value_loss.critic, horizon=5)
    deter, stoch = _start(rssm)

    td = imagination(RSSMState(deter, stoch), generator=torch.Generator().manual_seed(0))
    assert td.batch_size == (12, 5)
    assert td["features"].shape == (12, 5, rssm.feature_size)
    assert td["action"].shape == (12, 5) and td["action"].dtype == torch.int64
    # the first state is the (flattened) start; next features are the following states
    assert torch.equal(td["deter"][:, 0], deter.reshape(12, -1))
    assert torch.equal(td["next", "features"][:, :-1], td["features"][:, 1:])
    for key in ("value_target", "advantage", "state_value", "weight", ("next", "reward"), ("next", "continue")):
        assert td[key].shape == (12, 5, 1), key
    # no graph in REINFORCE mode
    assert not td["features"].requires_grad and not td["value_target"].requires_grad


def test_lambda_returns_and_weights_against_a_loop() -> None:
    rssm, actor, value_loss = _parts()
    gamma, lmbda = 0.9, 0.8
    imagination = Imagination(rssm, actor, value_loss.critic, horizon=6, gamma=gamma, lmbda=lmbda)

    td = imagination(RSSMState(*_start(rssm)))
    r, c = td["next", "reward"][..., 0], td["next", "continue"][..., 0]
    v, v_next = td["state_value"][..., 0], td["next", "state_value"][..., 0]
    h = 6
    ret = torch.zeros_like(r)
    nxt = v_next[:, -1]
    for t in reversed(range(h)):
        bootstrap = v_next[:, t] if t == h - 1 else (1 - lmbda) * v_next[:, t] + lmbda * nxt
        ret[:, t] = r[:, t] + gamma * c[:, t] * bootstrap
        nxt = ret[:, t]
    assert torch.allclose(td["value_target"][..., 0], ret, atol=1e-5)
    assert torch.allclose(td["advantage"][..., 0], ret - v, atol=1e-5)
    # w_t = c_0 * prod_{i=1..t} gamma c_i, with c_0 from the start state
    c0 = torch.sigmoid(rssm.continue_logits(td["features"][:, 0]))
    w = torch.cat([c0[:, None], c0[:, None] * torch.cumprod(gamma * c[:, :-1], 1)], 1)
    assert torch.allclose(td["weight"][..., 0], w, atol=1e-6)
    # the values are the critic's decoded two-hot predictions and the rewards the RSSM's head
    assert torch.allclose(v, value_loss.value(td["features"]).detach(), atol=1e-6)
    assert torch.allclose(r, rssm.reward(td["next", "features"]).detach(), atol=1e-6)


def test_world_model_is_frozen_for_the_actor_critic_update_reinforce() -> None:
    rssm, actor, value_loss = _parts()

    td = Imagination(rssm, actor, value_loss.critic, horizon=4)(RSSMState(*_start(rssm)))
    rssm.zero_grad(set_to_none=True)
    loss = total_loss(DreamerActorLoss(actor)(td, scale=1.5)) + total_loss(value_loss(td))
    loss.backward()
    assert all(p.grad is None for p in rssm.parameters())
    assert all(p.grad is not None for p in actor.parameters())
    assert all(p.grad is not None for p in value_loss.critic.parameters())
    assert all(p.requires_grad for p in rssm.parameters())  # restored after the rollout


def test_world_model_and_critic_frozen_under_dynamics_backprop() -> None:
    rssm, actor, value_loss = _parts(continuous=True)

    imagination = Imagination(rssm, actor, value_loss.critic, horizon=4, reparameterize=True)
    td = imagination(RSSMState(*_start(rssm)))
    assert td["value_target"].requires_grad and td["action"].requires_grad
    out = DreamerActorLoss(actor, gradient="dynamics")(td, scale=torch.tensor(2.0))
    total_loss(out).backward()
    assert all(p.grad is None for p in rssm.parameters())
    assert all(p.grad is None for p in value_loss.critic.parameters())
    # the returns reach the actor's mean through the imagined dynamics
    assert actor.module.net.weight.grad is not None and actor.module.net.weight.grad.abs().sum() > 0
    assert all(p.requires_grad for p in [*rssm.parameters(), *value_loss.critic.parameters()])


def test_frozen_restores_only_what_it_froze() -> None:
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.bias.requires_grad_(False)
    with frozen(a, b, a):
        assert not any(p.requires_grad for p in [*a.parameters(), *b.parameters()])
    assert a.weight.requires_grad and a.bias.requires_grad and b.weight.requires_grad
    assert not b.bias.requires_grad
    with pytest.raises(RuntimeError), frozen(a):
        raise RuntimeError("inside")
    assert a.weight.requires_grad


def test_bad_input() -> None:
    rssm, actor, value_loss = _parts()

    with pytest.raises(ValueError, match="horizon"):
        Imagination(rssm, actor, value_loss.critic, horizon=0)
    with pytest.raises(ValueError, match="gamma and lmbda"):
        Imagination(rssm, actor, value_loss.critic, gamma=1.5)
    with pytest.raises(TypeError, match="get_dist"):
        Imagination(rssm, nn.Linear(2, 2), value_loss.critic)
    with pytest.raises(ValueError, match="start must be"):
        Imagination(rssm, actor, value_loss.critic).rollout(RSSMState(torch.zeros(3, 5), torch.zeros(3, 8, 4)))


def test_actor_loss_takes_the_percentile_normalizer_scale() -> None:
    from rl4py.values import PercentileNormalizer

    rssm, actor, value_loss = _parts()
    td = Imagination(rssm, actor, value_loss.critic, horizon=4)(RSSMState(*_start(rssm)))
    td["value_target"] = td["value_target"] * 50.0  # returns spread over far more than 1
    normalizer = PercentileNormalizer(debias=True)
    normalizer.update(td["value_target"])
    assert normalizer.scale.item() > 1.0
    loss = DreamerActorLoss(actor)
    out = loss(td, scale=normalizer.scale)
    unscaled = loss(td, scale=1.0)
    assert out["scale"].item() == pytest.approx(normalizer.scale.item())
    assert out["loss_objective"].item() == pytest.approx(unscaled["loss_objective"].item() / normalizer.scale.item())
