from __future__ import annotations

import itertools
import math

import pytest
import torch
from tensordict import TensorDict
from torch import distributions as D

from rl4py.modules.autoregressive import AutoRegressiveActor, AutoRegressiveDist
from rl4py.modules.distributions import Categorical, DiagGaussian, MaskedCategorical, MultiCategorical
from rl4py.modules.gaussian import GaussianParams

# ------------------------------------------------------------------ masked categorical


def test_masked_actions_have_zero_probability_and_are_never_sampled():
    logits = torch.randn(100_000, 5)
    mask = torch.tensor([True, False, True, False, True]).expand(100_000, 5)
    dist = MaskedCategorical(logits, mask, generator=torch.Generator().manual_seed(0))
    samples = dist.sample()
    assert not bool((samples == 1).any()) and not bool((samples == 3).any())
    assert torch.all(dist.probs[:, [1, 3]] == 0)
    assert torch.isinf(dist.log_prob(torch.full((100_000,), 3))).all()


def test_masked_matches_renormalized_reference_and_entropy_ignores_masked():
    logits = torch.randn(6, 4)
    mask = torch.rand(6, 4) < 0.6
    mask[:, 0] = True
    dist = MaskedCategorical(logits, mask)
    ref = D.Categorical(logits=logits.masked_fill(~mask, -1e9))
    actions = torch.where(mask[:, 2], 2, 0)
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(dist.entropy(), ref.entropy())
    # a masked entry's logit changes nothing
    changed = logits.clone()
    changed[~mask] += 100.0
    torch.testing.assert_close(MaskedCategorical(changed, mask).entropy(), dist.entropy())


def test_masked_sampling_frequencies():
    probs = torch.tensor([0.5, 0.2, 0.3, 0.0])
    mask = torch.tensor([True, True, True, False])
    logits = torch.log(torch.tensor([0.5, 0.2, 0.3, 0.9]))  # the masked logit is large
    dist = MaskedCategorical(logits.expand(100_000, 4), mask.expand(100_000, 4), torch.Generator().manual_seed(1))
    freq = torch.bincount(dist.sample(), minlength=4).float() / 100_000
    torch.testing.assert_close(freq, probs, atol=5e-3, rtol=0)


def test_masked_gradient_reaches_only_allowed_logits():
    logits = torch.randn(3, 4, requires_grad=True)
    mask = torch.tensor([[True, True, False, False]] * 3)
    MaskedCategorical(logits, mask).log_prob(torch.tensor([0, 1, 0])).sum().backward()
    assert torch.all(logits.grad[:, 2:] == 0) and torch.any(logits.grad[:, :2] != 0)


def test_all_false_mask_row_raises():
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"mask row \[1\] allows no action"):
        MaskedCategorical(torch.zeros(3, 4), mask)
    with pytest.raises(TypeError, match="bool"):
        MaskedCategorical(torch.zeros(3, 4), torch.ones(3, 4))
    with pytest.raises(ValueError, match="shape"):
        MaskedCategorical(torch.zeros(3, 4), torch.ones(3, 5, dtype=torch.bool))


# ------------------------------------------------------------------ multi-discrete


def test_multi_categorical_is_sum_of_independent_heads():
    logits = torch.randn(7, 3 + 4)
    dist = MultiCategorical(logits, [3, 4])
    a = torch.stack([torch.randint(0, 3, (7,)), torch.randint(0, 4, (7,))], -1)
    r1, r2 = D.Categorical(logits=logits[:, :3]), D.Categorical(logits=logits[:, 3:])
    torch.testing.assert_close(dist.log_prob(a), r1.log_prob(a[:, 0]) + r2.log_prob(a[:, 1]))
    torch.testing.assert_close(dist.entropy(), r1.entropy() + r2.entropy())
    assert dist.sample().shape == (7, 2)


def test_multi_categorical_per_head_masks_and_frequencies():
    n = 100_000
    logits = torch.zeros(n, 5)
    mask = torch.tensor([True, False, True, True, False]).expand(n, 5)  # head 0: {0, 2}; head 1: {0}
    dist = MultiCategorical(logits, [3, 2], mask, generator=torch.Generator().manual_seed(0))
    s = dist.sample()
    assert not bool((s[:, 0] == 1).any()) and bool((s[:, 1] == 0).all())
    assert abs((s[:, 0] == 0).float().mean().item() - 0.5) < 0.01


def test_multi_categorical_bad_shapes_raise():
    with pytest.raises(ValueError, match="sum\\(nvec\\) = 5"):
        MultiCategorical(torch.zeros(2, 4), [3, 2])
    with pytest.raises(ValueError, match="expected 2"):
        MultiCategorical(torch.zeros(2, 5), [3, 2]).log_prob(torch.zeros(2, 3, dtype=torch.long))


# ------------------------------------------------------------------ actions offset by start


def test_categorical_start_offsets_samples_mode_and_log_prob():
    logits = torch.randn(50_000, 3)
    plain = Categorical(logits, generator=torch.Generator().manual_seed(0))
    offset = Categorical(logits, generator=torch.Generator().manual_seed(0), start=-1)
    # same draws, shifted; log_prob of the shifted action is torch's at the logit index
    assert torch.equal(offset.sample(), plain.sample() - 1)
    assert torch.equal(offset.mode, plain.mode - 1)
    actions = torch.randint(-1, 2, (50_000,))
    torch.testing.assert_close(offset.log_prob(actions), D.Categorical(logits=logits).log_prob(actions + 1))
    torch.testing.assert_close(offset.entropy(), plain.entropy())
    counts = torch.bincount(offset.sample() + 1, minlength=3).float() / 50_000
    torch.testing.assert_close(counts, D.Categorical(logits=logits).probs.mean(0), atol=1e-2, rtol=0)


def test_masked_categorical_start_reads_mask_entry_k_for_action_start_plus_k():
    n = 20_000
    mask = torch.tensor([True, False, True]).expand(n, 3)  # actions 2 and 4 of {2, 3, 4}
    dist = MaskedCategorical(torch.zeros(n, 3), mask, torch.Generator().manual_seed(0), start=2)
    assert set(dist.sample().unique().tolist()) == {2, 4}
    assert torch.isinf(dist.log_prob(torch.full((n,), 3))).all()
    torch.testing.assert_close(dist.log_prob(torch.full((n,), 4)), torch.full((n,), math.log(0.5)))


def test_multi_categorical_start_per_head():
    logits = torch.randn(7, 3 + 2)
    dist = MultiCategorical(logits, [3, 2], start=[-1, 10])
    a = torch.stack([torch.randint(-1, 2, (7,)), torch.randint(10, 12, (7,))], -1)
    r1, r2 = D.Categorical(logits=logits[:, :3]), D.Categorical(logits=logits[:, 3:])
    torch.testing.assert_close(dist.log_prob(a), r1.log_prob(a[:, 0] + 1) + r2.log_prob(a[:, 1] - 10))
    assert torch.equal(dist.mode, torch.stack([r1.probs.argmax(-1) - 1, r2.probs.argmax(-1) + 10], -1))
    with pytest.raises(ValueError, match=r"start has 1 entries, expected one per head of nvec \[3, 2\]"):
        MultiCategorical(logits, [3, 2], start=[1])
    with pytest.raises(TypeError, match=r"Categorical: start must be an int .*got 0.5"):
        Categorical(logits, start=0.5)


# ------------------------------------------------------------------ Gaussian


def test_diag_gaussian_matches_torch_normal():
    loc, log_std = torch.randn(5, 3), torch.randn(5, 3) * 0.5
    ours, ref = DiagGaussian(loc, log_std), D.Independent(D.Normal(loc, log_std.exp()), 1)
    x = torch.randn(5, 3)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    torch.testing.assert_close(ours.entropy(), ref.entropy())


def test_diag_gaussian_clamps_log_std_everywhere():
    loc = torch.zeros(4, 2)
    big, small = DiagGaussian(loc, torch.full((4, 2), 10.0)), DiagGaussian(loc, torch.full((4, 2), -20.0))
    ref_big = D.Independent(D.Normal(loc, math.exp(2.0)), 1)
    ref_small = D.Independent(D.Normal(loc, math.exp(-5.0)), 1)
    x = torch.full((4, 2), 0.001)
    torch.testing.assert_close(big.log_prob(x), ref_big.log_prob(x))
    torch.testing.assert_close(small.entropy(), ref_small.entropy())
    torch.manual_seed(0)
    assert big.sample((2000,)).std().item() == pytest.approx(math.exp(2.0), rel=0.05)


def test_tanh_gaussian_log_prob_has_log_det_correction():
    loc, log_std = torch.randn(6, 2), torch.randn(6, 2) * 0.3
    dist = DiagGaussian(loc, log_std, tanh=True)
    ref = D.TransformedDistribution(D.Normal(loc, log_std.exp()), [D.TanhTransform()])
    a = torch.tanh(torch.randn(6, 2))
    torch.testing.assert_close(dist.log_prob(a), ref.log_prob(a).sum(-1), atol=1e-4, rtol=1e-4)
    torch.manual_seed(0)
    s = dist.sample((1000,))
    assert s.abs().max() < 1.0


def test_gaussian_params_modes_and_gradients():
    sep = GaussianParams(torch.nn.Linear(3, 2), action_dim=2, init_log_std=-0.5)
    loc, log_std = sep(torch.randn(4, 3))
    assert loc.shape == (4, 2) and torch.all(log_std == -0.5)
    DiagGaussian(loc, log_std).log_prob(torch.zeros(4, 2)).sum().backward()
    assert sep.log_std.grad is not None and sep.network.weight.grad is not None
    out = GaussianParams(torch.nn.Linear(3, 4), action_dim=2, log_std_mode="output")
    loc, log_std = out(torch.randn(4, 3))
    assert loc.shape == log_std.shape == (4, 2)
    with pytest.raises(ValueError, match="expected 4"):
        GaussianParams(torch.nn.Linear(3, 2), action_dim=2, log_std_mode="output")(torch.randn(1, 3))


# ------------------------------------------------------------------ auto-regressive


def _exact_joint(actor: AutoRegressiveActor, obs: torch.Tensor) -> torch.Tensor:
    """P(a1, a2) for one observation, by enumerating the heads' conditionals."""
    n1, n2 = actor.nvec
    emb = actor.encoder(obs)
    p1 = torch.softmax(actor.heads[0](emb), -1)
    joint = torch.zeros(n1, n2)
    for a1 in range(n1):
        p2 = torch.softmax(
            actor.heads[1](torch.cat([emb, torch.nn.functional.one_hot(torch.tensor(a1), n1).float()])), -1
        )
        joint[a1] = p1[a1] * p2
    return joint


def _conditioned_actor() -> AutoRegressiveActor:
    torch.manual_seed(0)
    actor = AutoRegressiveActor(torch.nn.Linear(2, 4), 4, nvec=[3, 3])
    with torch.no_grad():  # head 2 strongly prefers to repeat head 1's action
        head2 = actor.heads[1][-1]
        head2.weight.zero_()
        head2.weight[:, 4:] = 6.0 * torch.eye(3)
        head1 = actor.heads[0][-1]
        head1.weight.normal_()
    return actor


def test_autoregressive_sampling_matches_exact_joint_and_depends_on_prefix():
    actor = _conditioned_actor()
    obs = torch.tensor([0.3, -0.2])
    n = 100_000
    torch.manual_seed(1)
    with torch.no_grad():
        td = actor(TensorDict({"observation": obs.expand(n, 2)}, batch_size=[n]))
        joint = _exact_joint(actor, obs)
    a = td["action"]
    counts = torch.zeros(3, 3)
    counts.index_put_((a[:, 0], a[:, 1]), torch.ones(n), accumulate=True)
    torch.testing.assert_close(counts / n, joint, atol=6e-3, rtol=0)
    assert (a[:, 0] == a[:, 1]).float().mean() > 0.9  # a real dependency, not independent heads
    torch.testing.assert_close(td["action_log_prob"].squeeze(-1).exp(), joint[a[:, 0], a[:, 1]])


def test_autoregressive_log_prob_teacher_forcing_and_gradients_reach_every_head():
    actor = _conditioned_actor()
    td = TensorDict({"observation": torch.randn(8, 2)}, batch_size=[8])
    actions = torch.tensor(list(itertools.product(range(3), range(3)))[:8])
    dist = actor.get_dist(td)
    lp = dist.log_prob(actions)
    with torch.no_grad():
        for i in range(8):
            joint = _exact_joint(actor, td["observation"][i])
            assert lp[i].item() == pytest.approx(joint[actions[i, 0], actions[i, 1]].log().item(), abs=1e-5)
    (lp.sum() + dist.entropy().sum()).backward()
    for head in actor.heads:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert actor.encoder.weight.grad.abs().sum() > 0


def test_autoregressive_masks_are_respected():
    actor = AutoRegressiveActor(torch.nn.Linear(2, 4), 4, nvec=[2, 3], mask_key="action_mask")
    mask = torch.tensor([False, True, True, False, True]).expand(20_000, 5)
    td = TensorDict({"observation": torch.randn(20_000, 2), "action_mask": mask}, batch_size=[20_000])
    with torch.no_grad():
        a = actor(td)["action"]
    assert bool((a[:, 0] == 1).all()) and not bool((a[:, 1] == 1).any())


def test_autoregressive_bad_arguments():
    with pytest.raises(ValueError, match="nvec"):
        AutoRegressiveActor(torch.nn.Linear(2, 4), 4, nvec=[])
    with pytest.raises(ValueError, match="heads"):
        AutoRegressiveDist(torch.zeros(1, 4), [torch.nn.Linear(4, 2)], [2, 3])


def test_masked_entropy_gradient_is_finite():
    logits = torch.randn(4, 5, requires_grad=True)
    mask = torch.tensor([True, False, True, True, False]).expand(4, 5)
    MaskedCategorical(logits, mask).entropy().sum().backward()
    assert torch.isfinite(logits.grad).all() and torch.all(logits.grad[:, [1, 4]] == 0)
    logits2 = torch.randn(4, 5, requires_grad=True)
    MultiCategorical(logits2, [3, 2], mask).entropy().sum().backward()
    assert torch.isfinite(logits2.grad).all()


def test_diag_gaussian_log_prob_refuses_an_action_of_another_shape():
    dist = DiagGaussian(torch.zeros(4, 1), torch.zeros(1))
    with pytest.raises(ValueError, match=r"the action has shape \(4,\), expected \(4, 1\)"):
        dist.log_prob(torch.zeros(4))  # [4] against loc [4, 1] would broadcast to [4, 4]
    assert dist.log_prob(torch.zeros(3, 4, 1)).shape == (3, 4)  # leading sample dims are fine


def test_rsample_and_log_prob_is_exact_where_tanh_saturates():
    # u = 9 and 12 squash to (float32) 1.0: log_prob(tanh(u)) cannot recover u, the joint call can
    loc = torch.tensor([[9.0], [12.0], [0.3]])
    dist = DiagGaussian(loc, torch.full((1,), -5.0), tanh=True)
    torch.manual_seed(0)
    action, log_prob = dist.rsample_and_log_prob()
    torch.manual_seed(0)
    u = DiagGaussian(loc, torch.full((1,), -5.0))._rsample_u(())
    reference = (
        torch.distributions.Normal(loc, math.exp(-5.0)).log_prob(u)
        - torch.log1p(-torch.tanh(u.double()).square()).float()
    )
    torch.testing.assert_close(log_prob, reference.sum(-1), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(action, torch.tanh(u))
    # away from saturation both paths agree
    torch.testing.assert_close(dist.log_prob(action)[2], log_prob[2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["separate", "output"])
def test_init_log_std_sets_the_starting_log_std_in_both_modes(mode):
    import gymnasium as gym

    from rl4py.modules import make_actor_critic

    torch.manual_seed(0)
    actor, _ = make_actor_critic(
        gym.spaces.Box(-1.0, 1.0, (3,)), gym.spaces.Box(-1.0, 1.0, (2,)), log_std_mode=mode, init_log_std=-1.5
    )
    td = actor(TensorDict({"observation": torch.randn(32, 3)}, batch_size=[32]))
    assert td["log_std"].mean().item() == pytest.approx(-1.5, abs=0.01)


def test_autoregressive_actor_log_prob_has_a_gradient_outside_inference():
    from rl4py.modules import MLP

    torch.manual_seed(0)
    actor = AutoRegressiveActor(MLP(4, 16, num_cells=(16,)), 16, nvec=[3, 2])
    td = actor(TensorDict({"observation": torch.randn(5, 4)}, batch_size=[5]))
    assert td["action_log_prob"].requires_grad
    torch.testing.assert_close(td["action_log_prob"].squeeze(-1), actor.get_dist(td).log_prob(td["action"]))
    with torch.no_grad():
        assert not actor(td.exclude("action", "action_log_prob"))["action_log_prob"].requires_grad
