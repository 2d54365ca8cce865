"""rl4py.modules.rssm: presets, sampling statistics, straight-through gradients, resets, shapes."""

from __future__ import annotations

import pytest
import torch

from rl4py.modules.rssm import RSSM, RSSM_PRESETS, RSSMState
from rl4py.testing import shift_seed


def _tiny(**kwargs: object) -> RSSM:
    return RSSM.from_preset("tiny", embed_size=6, action_size=3, **kwargs)


def test_presets_follow_dreamerv3_rules() -> None:
    for name, size in RSSM_PRESETS.items():
        if name == "tiny":
            continue
        assert size.deter == 8 * size.hidden
        assert size.classes == size.hidden // 16
        assert size.units == size.hidden
        assert (size.stoch, size.blocks) == (32, 8)
    # DreamerV3's configs.yaml: size1m and size200m
    assert (RSSM_PRESETS["size1m"].deter, RSSM_PRESETS["size1m"].hidden, RSSM_PRESETS["size1m"].classes) == (512, 64, 4)
    size200m = RSSM_PRESETS["size200m"]
    assert (size200m.deter, size200m.hidden, size200m.classes) == (8192, 1024, 64)
    rssm = RSSM.from_preset("size1m", embed_size=64, action_size=2)
    assert (rssm.deter_size, rssm.stoch_groups, rssm.classes, rssm.gru.n_blocks) == (512, 32, 4, 8)
    assert rssm.feature_size == 512 + 32 * 4
    with pytest.raises(ValueError, match="unknown preset"):
        RSSM.from_preset("size3m", 4, 2)


def test_samples_follow_the_mixed_probabilities() -> None:
    rssm = _tiny()
    logits = torch.tensor([[2.0, 1.0, 0.0, -30.0]]).expand(rssm.stoch_groups, 4)
    probs = rssm.probs(logits)
    # the uniform mix gives the near-impossible class 1% / 4
    assert probs[0, 3].item() == pytest.approx(0.01 / 4, rel=1e-3)
    assert torch.allclose(probs.sum(-1), torch.ones(rssm.stoch_groups))
    n = 20_000
    generator = torch.Generator().manual_seed(shift_seed(1))
    samples = rssm.sample(logits.expand(n, *logits.shape), generator)
    assert ((samples == 0) | (samples == 1)).all() and (samples.sum(-1) == 1).all()
    freq = samples.mean(0)  # [G, C]
    # binomial standard error per (group, class); 5 sigma
    sigma = (probs * (1 - probs) / n).sqrt()
    assert ((freq - probs).abs() <= 5 * sigma + 1e-4).all()
    # sampled, not the argmax: the second class (p ~ 0.24) is drawn
    assert freq[:, 1].min() > 0.2


def test_sampling_is_reproducible_with_a_generator() -> None:
    rssm = _tiny()
    logits = torch.randn(16, rssm.stoch_groups, rssm.classes)
    a = rssm.sample(logits, torch.Generator().manual_seed(3))
    b = rssm.sample(logits, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_straight_through_gradient() -> None:
    rssm = _tiny()
    logits = torch.randn(5, rssm.stoch_groups, rssm.classes, requires_grad=True)
    weight = torch.randn(rssm.stoch_groups, rssm.classes)
    (rssm.sample(logits) * weight).sum().backward()
    expected_logits = logits.detach().clone().requires_grad_(True)
    (rssm.probs(expected_logits) * weight).sum().backward()
    assert torch.allclose(logits.grad, expected_logits.grad)


def test_kl_and_entropy() -> None:
    rssm = _tiny()
    p = torch.randn(4, rssm.stoch_groups, rssm.classes)
    q = torch.randn(4, rssm.stoch_groups, rssm.classes)
    pp, qq = rssm.probs(p), rssm.probs(q)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Categorical(probs=pp), torch.distributions.Categorical(probs=qq)
    ).sum(-1)
    assert torch.allclose(rssm.kl(p, q), expected, atol=1e-6)
    assert torch.allclose(rssm.kl(p, p), torch.zeros(4), atol=1e-6)
    assert torch.allclose(rssm.entropy(p), torch.distributions.Categorical(probs=pp).entropy().sum(-1), atol=1e-6)


def test_observe_shapes_and_matches_obs_step() -> None:
    rssm = _tiny()
    b, t = 3, 5
    embed, action = torch.randn(b, t, 6), torch.randn(b, t, 3)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    out = rssm.observe(embed, action, is_init, generator=torch.Generator().manual_seed(0))
    assert out.batch_size == (b, t)
    assert out["features"].shape == (b, t, rssm.feature_size)
    assert out["posterior_logits"].shape == out["prior_logits"].shape == (b, t, rssm.stoch_groups, rssm.classes)
    # step by step with the same generator gives the same numbers
    generator = torch.Generator().manual_seed(0)
    state = rssm.initial_state(b)
    for i in range(t):
        state, logits = rssm.obs_step(state, action[:, i], embed[:, i], generator)
        assert torch.allclose(out["deter"][:, i], state.deter, atol=1e-6)
        assert torch.allclose(out["posterior_logits"][:, i], logits, atol=1e-6)
        assert torch.equal(out["stoch"][:, i], state.stoch)
        assert torch.allclose(out["prior_logits"][:, i], rssm.prior_logits(state.deter), atol=1e-6)


def test_observe_resets_at_is_init() -> None:
    rssm = _tiny()
    b, t = 2, 6
    embed, action = torch.randn(b, t, 6), torch.randn(b, t, 3)
    is_init = torch.zeros(b, t, dtype=torch.bool)
    is_init[0, 3] = True
    out = rssm.observe(embed, action, is_init)
    # changing what comes before the reset changes nothing from the reset on in row 0, but row 1 moves
    embed2, action2 = embed.clone(), action.clone()
    embed2[:, :3] += 5.0
    action2[:, :3] -= 2.0
    out2 = rssm.observe(embed2, action2, is_init)
    assert torch.allclose(out["deter"][0, 3], out2["deter"][0, 3], atol=1e-6)
    assert torch.allclose(out["posterior_logits"][0, 3], out2["posterior_logits"][0, 3], atol=1e-6)
    assert not torch.allclose(out["deter"][1, 3], out2["deter"][1, 3], atol=1e-3)
    # the reset state is the zero state: row 0 at step 3 equals a fresh sequence's first step
    fresh = rssm.observe(embed[:1, 3:], action[:1, 3:], torch.zeros(1, t - 3, dtype=torch.bool))
    assert torch.allclose(out["deter"][0, 3], fresh["deter"][0, 0], atol=1e-6)
    assert torch.allclose(out["posterior_logits"][0, 3], fresh["posterior_logits"][0, 0], atol=1e-6)


def test_observe_resets_to_given_start_states() -> None:
    rssm = _tiny()
    b, t = 2, 4
    embed, action = torch.randn(b, t, 6), torch.randn(b, t, 3)
    is_init = torch.zeros(b, t, dtype=torch.bool)
    is_init[1, 2] = True
    start = rssm.initial_posterior(torch.randn(b * t, 6))
    start = RSSMState(start.deter.view(b, t, -1), start.stoch.view(b, t, *start.stoch.shape[1:]))
    out = rssm.observe(embed, action, is_init, start=start)
    state = RSSMState(start.deter[1:, 2], start.stoch[1:, 2])
    _, logits = rssm.obs_step(state, action[1:, 2], embed[1:, 2])
    assert torch.allclose(out["posterior_logits"][1, 2], logits[0], atol=1e-6)


def test_img_step_and_heads() -> None:
    rssm = _tiny()
    state = rssm.initial_posterior(torch.randn(4, 6))
    nxt, logits = rssm.img_step(state, torch.randn(4, 3))
    assert nxt.deter.shape == (4, rssm.deter_size) and logits.shape == (4, rssm.stoch_groups, rssm.classes)
    assert torch.allclose(logits, rssm.prior_logits(nxt.deter))
    assert rssm.imagine_step(state, torch.randn(4, 3)).stoch.shape == (4, rssm.stoch_groups, rssm.classes)
    features = rssm.features(nxt)
    # the reward head starts at zero output (DreamerV3's outscale 0): predicted reward exactly 0
    assert torch.equal(rssm.reward(features), torch.zeros(4))
    assert rssm.reward_logits(features).shape == (4, 255)
    assert rssm.continue_logits(features).shape == (4,)


def test_large_actions_are_bounded() -> None:
    rssm = _tiny()
    state = rssm.initial_state(1)
    a = rssm.img_step(state, torch.tensor([[1.0, -1.0, 0.5]]))[0].deter
    b = rssm.img_step(state, torch.tensor([[100.0, -50.0, 0.5]]))[0].deter
    assert torch.allclose(a, b, atol=1e-6)


def test_bad_input() -> None:
    rssm = _tiny()
    state = rssm.initial_state(2)
    with pytest.raises(ValueError, match="action must be a float tensor of shape"):
        rssm.img_step(state, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="action must be a float tensor"):
        rssm.img_step(state, torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="embed must have shape"):
        rssm.obs_step(state, torch.zeros(2, 3), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="is_init must be bool"):
        rssm.observe(torch.zeros(2, 3, 6), torch.zeros(2, 3, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unimix"):
        _tiny(unimix=1.0)
    with pytest.raises(ValueError, match="classes must be >= 2"):
        RSSM(4, 2, deter=8, hidden=4, stoch=2, classes=1, blocks=2)
