from __future__ import annotations

import warnings

import pytest
import torch
from tensordict import TensorDict

from rl4py import GAE, PPOLoss, make_discrete_actor_critic, total_loss
from rl4py.losses import functional as F


def _batch(n: int = 64, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "observation": torch.randn(n, 4, generator=g),
            "action": torch.randint(0, 2, (n,), generator=g),
            "action_log_prob": torch.log(torch.rand(n, 1, generator=g) * 0.8 + 0.1),
            "advantage": torch.randn(n, 1, generator=g) * 2 + 0.3,
            "value_target": torch.randn(n, 1, generator=g),
            "state_value": torch.randn(n, 1, generator=g) * 0.1,
        },
        batch_size=[n],
    )


def _cleanrl_loss(actor_net, critic_net, td, clip_coef, ent_coef, vf_coef, norm_adv=True, clip_vloss=True):
    """CleanRL ppo.py's minibatch loss, transcribed with plain torch (independent of rl4py)."""
    b_obs, b_actions = td["observation"], td["action"]
    b_logprobs = td["action_log_prob"].view(-1)
    b_advantages, b_returns, b_values = (td[k].view(-1) for k in ("advantage", "value_target", "state_value"))
    probs = torch.distributions.Categorical(logits=actor_net(b_obs))
    newlogprob = probs.log_prob(b_actions)
    entropy = probs.entropy()
    newvalue = critic_net(b_obs).view(-1)
    logratio = newlogprob - b_logprobs
    ratio = logratio.exp()
    mb_advantages = b_advantages
    if norm_adv:
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()
    if clip_vloss:
        v_loss_unclipped = (newvalue - b_returns) ** 2
        v_clipped = b_values + torch.clamp(newvalue - b_values, -clip_coef, clip_coef)
        v_loss_clipped = (v_clipped - b_returns) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        v_loss = 0.5 * ((newvalue - b_returns) ** 2).mean()
    entropy_loss = entropy.mean()
    loss = pg_loss - ent_coef * entropy_loss + v_loss * vf_coef
    approx_kl = ((ratio - 1) - logratio).mean()
    clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    return loss, pg_loss, v_loss, entropy_loss, approx_kl, clipfrac


@pytest.mark.parametrize("norm_adv", [True, False])
@pytest.mark.parametrize("clip_vloss", [True, False])
def test_matches_cleanrl_terms_and_gradients(norm_adv, clip_vloss):
    actor, critic = make_discrete_actor_critic(4, 2)
    with torch.no_grad():  # spread the policy so ratios leave the clip range
        actor.module[-1].weight.mul_(300.0)
    td = _batch()
    loss = PPOLoss(actor, critic, clip_value=clip_vloss, normalize_advantage=norm_adv)
    out = loss(td)
    ours = total_loss(out)
    ours.backward()
    grads = [p.grad.clone() for p in loss.parameters()]
    loss.zero_grad()

    ref, pg, v, ent, kl, clipfrac = _cleanrl_loss(
        actor.module, critic.module, td, 0.2, 0.01, 0.5, norm_adv=norm_adv, clip_vloss=clip_vloss
    )
    ref.backward()
    torch.testing.assert_close(out["loss_objective"], pg)
    torch.testing.assert_close(out["loss_critic"], 0.5 * v)
    torch.testing.assert_close(out["loss_entropy"], -0.01 * ent)
    torch.testing.assert_close(out["approx_kl"], kl)
    torch.testing.assert_close(out["clip_fraction"], clipfrac)
    torch.testing.assert_close(ours, ref)
    assert 0.0 < clipfrac.item() < 1.0, "the batch must exercise the clip"
    for g, p in zip(grads, loss.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_dual_clip_changes_objective_only_for_negative_advantages_beyond_c():
    log_ratio = torch.log(torch.tensor([0.5, 1.0, 2.0, 5.0, 5.0, 0.5, 2.0, 5.0]))
    adv = torch.tensor([-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -0.5])
    plain = F.clipped_surrogate(log_ratio, adv, 0.2)
    dual = F.clipped_surrogate(log_ratio, adv, 0.2, dual_clip=3.0)
    changed = plain != dual
    # only where A < 0 and the standard objective fell below c * A (ratio > c here)
    assert changed.tolist() == [False, False, False, True, False, False, False, True]
    torch.testing.assert_close(dual[changed], 3.0 * adv[changed])
    # by hand: A=-1, r=5: min(-5, -1.2) = -5 floored at -3
    assert plain[3].item() == pytest.approx(-5.0) and dual[3].item() == pytest.approx(-3.0)


def _flag_losses(**kwargs):
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    with torch.no_grad():
        actor.module[-1].weight.mul_(300.0)
        critic.module[-1].weight.mul_(10.0)
    td = _batch(seed=1)
    return PPOLoss(actor, critic, **kwargs)(td)


def test_dual_clip_flag_changes_the_loss():
    base, dual = _flag_losses(), _flag_losses(dual_clip=1.5)
    assert not torch.isclose(base["loss_objective"], dual["loss_objective"])
    torch.testing.assert_close(base["loss_critic"], dual["loss_critic"])


def test_normalize_advantage_flag_changes_the_loss():
    a, b = _flag_losses(), _flag_losses(normalize_advantage=False)
    assert not torch.isclose(a["loss_objective"], b["loss_objective"])


def test_clip_value_flag_changes_the_loss():
    a, b = _flag_losses(), _flag_losses(clip_value=False)
    assert not torch.isclose(a["loss_critic"], b["loss_critic"])
    c = _flag_losses(clip_value=0.05)
    assert not torch.isclose(a["loss_critic"], c["loss_critic"])


def test_gradient_isolation():
    actor, critic = make_discrete_actor_critic(4, 2)
    loss = PPOLoss(actor, critic)
    out = loss(_batch())
    out["loss_critic"].backward(retain_graph=True)
    assert all(p.grad is None for p in actor.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
    loss.zero_grad(set_to_none=True)
    (out["loss_objective"] + out["loss_entropy"]).backward()
    assert all(p.grad is None for p in critic.parameters())
    assert all(p.grad is not None for p in actor.parameters())


def test_diagnostics_are_detached_and_named():
    actor, critic = make_discrete_actor_critic(4, 2)
    out = PPOLoss(actor, critic)(_batch())
    assert set(out.keys()) == {
        "loss_objective",
        "loss_critic",
        "loss_entropy",
        "entropy",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
    }
    for key in ("entropy", "approx_kl", "clip_fraction", "explained_variance"):
        assert not out[key].requires_grad
    # a near-uniform initial policy over 2 actions has entropy ~ ln 2
    assert out["entropy"].item() == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=1e-3)


def test_loss_does_not_overwrite_stored_entries():
    actor, critic = make_discrete_actor_critic(4, 2)
    td = _batch()
    before = td.clone()
    PPOLoss(actor, critic)(td)
    assert set(td.keys()) == set(before.keys())
    for key in before.keys():  # noqa: SIM118 - iterating a TensorDict unbinds its batch dim
        torch.testing.assert_close(td[key], before[key])


def test_missing_advantage_raises_and_loss_never_runs_gae():
    actor, critic = make_discrete_actor_critic(4, 2)
    td = _batch().exclude("advantage")
    with pytest.raises(KeyError, match=r"'advantage'.*value estimator"):
        PPOLoss(actor, critic)(td)
    with pytest.raises(KeyError, match="action_log_prob"):
        PPOLoss(actor, critic)(_batch().exclude("action_log_prob"))


def test_works_after_gae_on_a_rollout():
    from rl4py import CartPole, SyncCollector

    actor, critic = make_discrete_actor_critic(4, 2)
    td = SyncCollector(CartPole(num_envs=4), actor, rollout_length=8, seed=0).rollout()
    GAE(value_network=critic)(td)
    out = PPOLoss(actor, critic)(td)  # [B, T] batch, not flattened
    total_loss(out).backward()
    assert out["approx_kl"].abs().item() < 1e-6  # same policy that collected


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"clip_epsilon": 0.0}, "clip_epsilon"),
        ({"dual_clip": 0.5}, "dual_clip"),
        ({"entropy_coeff": -1.0}, "entropy_coeff"),
        ({"clip_value": -0.1}, "clip_value"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    actor, critic = make_discrete_actor_critic(4, 2)
    with pytest.raises(ValueError, match=match):
        PPOLoss(actor, critic, **kwargs)


def test_total_loss_sums_loss_terms_only():
    out = TensorDict({"loss_a": torch.tensor(1.0), "loss_b": torch.tensor(2.0), "kl": torch.tensor(5.0)}, [])
    assert total_loss(out).item() == 3.0
    with pytest.raises(KeyError, match="no 'loss_\\*' entry"):
        total_loss(TensorDict({"kl": torch.tensor(1.0)}, []))


def test_single_sample_minibatch_with_normalization_raises():
    actor, critic = make_discrete_actor_critic(4, 2)
    with pytest.raises(ValueError, match="at least 2 advantages"):
        PPOLoss(actor, critic)(_batch(n=1))


def test_estimator_outputs_are_constants_of_the_loss():
    # a rollout whose advantages and targets still carry the critic's graph (estimator run on values
    # computed by hand): no gradient may flow from them into the critic
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    loss = PPOLoss(actor, critic, critic_coeff=0.0, entropy_coeff=0.0)
    td = TensorDict({"observation": torch.randn(8, 4), "action": torch.randint(0, 2, (8,))}, batch_size=[8])
    with torch.no_grad():
        td["action_log_prob"] = actor.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
    values = critic(td.clone())["state_value"]  # with graph
    td["advantage"] = 1.0 - values
    td["value_target"] = 1.0 + values
    td["state_value"] = values
    out = loss(td)
    out["loss_objective"].backward()
    assert all(p.grad is None for p in critic.parameters())


@pytest.mark.parametrize("entry", ["advantage", "value_target", "state_value"])
def test_shape_mismatch_is_an_error_not_a_broadcast(entry):
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    obs = torch.randn(8, 4)
    td = TensorDict({"observation": obs, "action": torch.randint(0, 2, (8,))}, batch_size=[8])
    with torch.no_grad():
        td["action_log_prob"] = actor.get_dist(td).log_prob(td["action"]).unsqueeze(-1)
        td["state_value"] = critic(td.clone())["state_value"]
    td["advantage"] = torch.randn(8, 1)
    td["value_target"] = torch.randn(8, 1)
    td[entry] = td[entry].squeeze(-1)  # [8] instead of [8, 1]
    with pytest.raises(ValueError, match="one shape"):
        PPOLoss(actor, critic)(td)


def test_a_plain_critic_module_runs_its_network_directly_and_others_through_forward(monkeypatch):
    from tensordict.nn import TensorDictModule

    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    td = _batch()
    expected = PPOLoss(actor, critic)(td)
    calls = []
    critic.register_forward_hook(lambda module, args, out: calls.append(1))  # a hook: the module's forward runs
    hooked = PPOLoss(actor, critic)(td)
    assert calls == [1]
    for key in expected.keys():  # noqa: SIM118 (iterating a TensorDict walks its batch dim)
        assert torch.equal(expected[key], hooked[key]), key

    def no_forward(self, *args, **kwargs):
        raise AssertionError("TensorDictModule.forward ran")

    monkeypatch.setattr(TensorDictModule, "forward", no_forward)
    _, plain = make_discrete_actor_critic(4, 2)
    plain.load_state_dict(critic.state_dict())
    fast = PPOLoss(actor, plain)(td)
    for key in expected.keys():  # noqa: SIM118 (iterating a TensorDict walks its batch dim)
        assert torch.equal(expected[key], fast[key]), key


def test_compile_gives_the_eager_terms_and_gradients(monkeypatch):
    import copy

    real_compile = torch.compile
    # the AOTAutograd tracer without inductor's C++ codegen: the same graphs, compiled in seconds
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: real_compile(fn, backend="aot_eager", **kw))
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    eager = PPOLoss(actor, critic)
    compiled = PPOLoss(copy.deepcopy(actor), copy.deepcopy(critic), compile=True)
    for seed in (1, 2):  # the second call reuses the compiled graphs
        td = _batch(seed=seed)
        out_e, out_c = eager(td), compiled(td)
        total_loss(out_e).backward()
        total_loss(out_c).backward()
        for key in out_e.keys():  # noqa: SIM118
            torch.testing.assert_close(out_c[key], out_e[key], msg=key)
        for pe, pc in zip(eager.parameters(), compiled.parameters()):
            torch.testing.assert_close(pc.grad, pe.grad)
    assert compiled._compiled_ran and copy.deepcopy(compiled)._compiled is None


def test_compile_failure_warns_once_and_runs_eagerly(monkeypatch):
    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken)
    torch.manual_seed(0)
    actor, critic = make_discrete_actor_critic(4, 2)
    td = _batch()
    expected = PPOLoss(actor, critic)(td)
    loss = PPOLoss(actor, critic, compile=True)
    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C\\+\\+ compiler.*runs eagerly"):
        out = loss(td)
    assert not loss.use_compile
    for key in expected.keys():  # noqa: SIM118 (iterating a TensorDict walks its batch dim)
        assert torch.equal(out[key], expected[key]), key
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(td)  # no second warning
