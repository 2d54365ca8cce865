from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from rl4py import make_discrete_actor_critic, total_loss
from rl4py.losses.actor_critic import ActorCriticLoss


def _batch(n: int = 32, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "observation": torch.randn(n, 4, generator=g),
            "action": torch.randint(0, 3, (n,), generator=g),
            "action_log_prob": torch.log(torch.rand(n, 1, generator=g) * 0.5 + 0.2),
            "advantage": torch.randn(n, 1, generator=g),
            "upgo_advantage": torch.randn(n, 1, generator=g),
            "value_target": torch.randn(n, 1, generator=g) * 3,
        },
        batch_size=[n],
    )


def test_terms_match_hand_written_a2c_loss_and_gradients():
    actor, critic = make_discrete_actor_critic(4, 3)
    td = _batch()
    loss = ActorCriticLoss(actor, critic, entropy_coeff=0.02, critic_coeff=0.7)
    out = loss(td)
    total_loss(out).backward()
    grads = [p.grad.clone() for p in loss.parameters()]
    loss.zero_grad()

    logits = actor.module(td["observation"])
    dist = torch.distributions.Categorical(logits=logits)
    log_prob = dist.log_prob(td["action"])
    value = critic.module(td["observation"]).squeeze(-1)
    pg = -(td["advantage"].squeeze(-1) * log_prob).mean()
    vl = 0.7 * 0.5 * ((value - td["value_target"].squeeze(-1)) ** 2).mean()
    ent = -0.02 * dist.entropy().mean()
    (pg + vl + ent).backward()
    torch.testing.assert_close(out["loss_objective"], pg)
    torch.testing.assert_close(out["loss_critic"], vl)
    torch.testing.assert_close(out["loss_entropy"], ent)
    for g, p in zip(grads, loss.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_advantage_keys_add_up():
    actor, critic = make_discrete_actor_critic(4, 3)
    td = _batch()
    one = ActorCriticLoss(actor, critic)(td)["loss_objective"]
    other = ActorCriticLoss(actor, critic, advantage_keys=["upgo_advantage"])(td)["loss_objective"]
    both = ActorCriticLoss(actor, critic, advantage_keys=["advantage", "upgo_advantage"])(td)["loss_objective"]
    torch.testing.assert_close(both, one + other)


def test_gradient_isolation_and_constant_targets():
    actor, critic = make_discrete_actor_critic(4, 3)
    td = _batch()
    td["advantage"].requires_grad_(True)
    out = ActorCriticLoss(actor, critic)(td)
    out["loss_critic"].backward(retain_graph=True)
    assert all(p.grad is None for p in actor.parameters())
    assert all(p.grad is not None for p in critic.parameters())
    critic.zero_grad(set_to_none=True)
    (out["loss_objective"] + out["loss_entropy"]).backward()
    assert all(p.grad is None for p in critic.parameters())
    assert td["advantage"].grad is None  # advantages are constants


def test_missing_entries_and_bad_arguments_raise():
    actor, critic = make_discrete_actor_critic(4, 3)
    with pytest.raises(KeyError, match=r"'advantage'.*value estimator"):
        ActorCriticLoss(actor, critic)(_batch().exclude("advantage"))
    with pytest.raises(KeyError, match="value_target"):
        ActorCriticLoss(actor, critic)(_batch().exclude("value_target"))
    with pytest.raises(ValueError, match="shape"):
        td = _batch()
        td["advantage"] = torch.zeros(32, 2)
        ActorCriticLoss(actor, critic)(td)
    with pytest.raises(ValueError, match="advantage_keys"):
        ActorCriticLoss(actor, critic, advantage_keys="advantage")
    with pytest.raises(ValueError, match="entropy_coeff"):
        ActorCriticLoss(actor, critic, entropy_coeff=-1.0)


def test_approx_kl_against_behaviour_policy():
    actor, critic = make_discrete_actor_critic(4, 3)
    td = _batch()
    with torch.no_grad():
        td["action_log_prob"] = actor.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
    out = ActorCriticLoss(actor, critic)(td)
    assert out["approx_kl"].abs().item() < 1e-6


def test_value_target_of_another_shape_is_an_error():
    from tensordict import TensorDict

    from rl4py import make_discrete_actor_critic

    actor, critic = make_discrete_actor_critic(4, 2)
    td = TensorDict({"observation": torch.randn(6, 4), "action": torch.randint(0, 2, (6,))}, batch_size=[6])
    td["advantage"] = torch.randn(6, 1)
    td["value_target"] = torch.randn(6)  # [6] against the critic's [6, 1]
    with pytest.raises(ValueError, match="'value_target' has shape \\(6,\\), expected \\(6, 1\\)"):
        ActorCriticLoss(actor, critic)(td)
