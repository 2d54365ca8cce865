"""rl4py.losses.dreamer: world-model loss (KL balance, free nats, heads), representation variants, actor, critic."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tensordict import TensorDict
from torch import nn

from rl4py.losses import (
    BarlowTwinsLoss,
    DecoderLoss,
    DreamerActorLoss,
    DreamerProLoss,
    DreamerValueLoss,
    DreamerWorldModelLoss,
    InfoNCELoss,
    total_loss,
)
from rl4py.modules import MLP, RSSM, ConvDecoder, ConvEncoder, ProbabilisticActor, TwoHot, symlog
from rl4py.testing import shift_seed

OBS, EMBED, ACTIONS = 4, 32, 2


def _sequences(b: int = 8, t: int = 16, seed: int = 0) -> TensorDict:
    """A fixed batch of a small deterministic system: the action pushes x[0], x[1] integrates x[0], ..."""
    g = torch.Generator().manual_seed(seed)
    action = torch.randint(0, ACTIONS, (b, t), generator=g)
    obs = torch.zeros(b, t + 1, OBS)
    obs[:, 0] = torch.randn(b, OBS, generator=g) * 0.1
    for i in range(t):
        push = (action[:, i] * 2 - 1).float() * 0.1
        step = torch.stack([push, obs[:, i, 0], -0.5 * obs[:, i, 1], torch.full((b,), 0.05)], -1)
        obs[:, i + 1] = obs[:, i] + step
    terminated = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init = torch.zeros(b, t, 1, dtype=torch.bool)
    is_init[:, 0] = True
    if t > 8:
        terminated[0, 7] = True
        is_init[0, 8] = True  # a new episode after the terminal step: exercises the start posterior
    return TensorDict(
        {
            "observation": obs[:, :-1],
            "action": action,
            "is_init": is_init,
            "next": {"observation": obs[:, 1:], "reward": obs[:, 1:, :1].clone(), "terminated": terminated},
        },
        batch_size=[b, t],
    )


def _encoder() -> MLP:
    return MLP(OBS, EMBED, (32,), activation=nn.SiLU, norm=nn.RMSNorm)


def _world_model(variant: str | None, **kwargs: object) -> DreamerWorldModelLoss:
    rssm = RSSM.from_preset("tiny", EMBED, ACTIONS)
    if variant == "decoder":
        rep = DecoderLoss(MLP(rssm.feature_size, OBS, (32,), activation=nn.SiLU, norm=nn.RMSNorm))
    elif variant == "barlow":
        rep = BarlowTwinsLoss(rssm.feature_size, EMBED)
    elif variant == "infonce":
        rep = InfoNCELoss(rssm.feature_size, EMBED)
    elif variant == "dreamerpro":
        generator = torch.Generator().manual_seed(shift_seed(0))
        rep = DreamerProLoss(rssm.feature_size, EMBED, num_prototypes=16, projection_size=16, generator=generator)
    else:
        rep = None
    return DreamerWorldModelLoss(_encoder(), rssm, rep, **kwargs)


def test_world_model_terms_and_posterior_written() -> None:
    loss = _world_model("decoder")
    td = _sequences()
    out = loss(td)
    assert {k for k in out.sorted_keys if k.startswith("loss_")} == {
        "loss_dyn",
        "loss_rep",
        "loss_reward",
        "loss_continue",
        "loss_reconstruction",
    }
    for key in ("kl", "prior_entropy", "posterior_entropy", "reward_error", "continue_accuracy"):
        assert out[key].shape == () and not out[key].requires_grad
    # the zero-initialized reward head: uniform over 255 bins -> CE = log(255)
    assert out["loss_reward"].item() == pytest.approx(math.log(255), rel=1e-4)
    # free nats: each KL term is at least its coefficient times 1 nat
    assert out["loss_dyn"].item() >= 1.0 - 1e-6 and out["loss_rep"].item() >= 0.1 - 1e-6
    assert td["next", "deter"].shape == (8, 16, loss.rssm.deter_size)
    assert td["next", "stoch"].shape == (8, 16, loss.rssm.stoch_groups, loss.rssm.classes)
    assert not td["next", "deter"].requires_grad


def _grads(term: torch.Tensor, module: nn.Module) -> list[torch.Tensor]:
    params = list(module.parameters())
    grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _norm(grads: list[torch.Tensor]) -> float:
    return sum(g.abs().sum().item() for g in grads)


def test_free_nats_stop_the_gradient_below_the_floor() -> None:
    loss = _world_model(None, free_nats=1e6)
    out = loss(_sequences())
    assert out["loss_dyn"].item() == pytest.approx(1e6) and out["loss_rep"].item() == pytest.approx(1e5)
    assert _norm(_grads(out["loss_dyn"] + out["loss_rep"], loss)) == 0
    # below the floor only the heads train
    assert _norm(_grads(out["loss_reward"], loss.rssm.reward_head)) > 0


def test_kl_balance_each_term_reaches_only_its_side() -> None:
    # one step from the zero state: the prior depends on the prior net only, the posterior on the
    # encoder and the posterior net only, so the stop-gradients decide everything
    loss = _world_model(None, free_nats=0.0)
    td = _sequences(t=1)
    td["is_init"][:] = False
    out = loss(td)
    rssm = loss.rssm
    dyn_prior, dyn_post, dyn_enc = (
        _grads(out["loss_dyn"], m) for m in (rssm.prior_net, rssm.posterior_net, loss.encoder)
    )
    rep_prior, rep_post, rep_enc = (
        _grads(out["loss_rep"], m) for m in (rssm.prior_net, rssm.posterior_net, loss.encoder)
    )
    assert _norm(dyn_prior) > 0 and _norm(dyn_post) == 0 and _norm(dyn_enc) == 0
    assert _norm(rep_prior) == 0 and _norm(rep_post) > 0 and _norm(rep_enc) > 0


def test_kl_balance_rep_term_never_reaches_the_prior_logits() -> None:
    loss = _world_model(None, free_nats=0.0)
    captured = {}
    observe = loss.rssm.observe

    def spy(*args: object, **kwargs: object) -> TensorDict:
        out = observe(*args, **kwargs)
        captured["prior"] = out["prior_logits"]
        return out

    loss.rssm.observe = spy  # type: ignore[method-assign]
    out = loss(_sequences())
    prior = captured["prior"]
    (g_rep,) = torch.autograd.grad(out["loss_rep"], prior, retain_graph=True, allow_unused=True)
    (g_dyn,) = torch.autograd.grad(out["loss_dyn"], prior, retain_graph=True)
    assert g_rep is None or torch.all(g_rep == 0)
    assert g_dyn.abs().sum() > 0
    # and the scales: dyn 1.0, rep 0.1 of the same KL values (free nats 0)
    assert out["loss_rep"].item() == pytest.approx(0.1 * out["loss_dyn"].item(), rel=1e-5)
    assert out["kl"].item() == pytest.approx(out["loss_dyn"].item(), rel=1e-5)


@pytest.mark.parametrize(
    "variant, term, margin",
    [
        ("decoder", "loss_reconstruction", 0.3),
        ("barlow", "loss_barlow", 0.3),
        ("infonce", "loss_infonce", 0.8),
        ("dreamerpro", "loss_temporal", 0.5),
    ],
)
def test_world_model_loss_falls_on_a_fixed_batch(variant: str, term: str, margin: float) -> None:
    torch.manual_seed(shift_seed(0))
    loss = _world_model(variant)
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-3)
    td = _sequences(seed=shift_seed(0))
    history = []
    for _ in range(40):
        out = loss(td.clone())
        optimizer.zero_grad()
        total_loss(out).backward()
        optimizer.step()
        history.append({k: v.item() for k, v in out.items()})
    first, last = history[0], history[-1]
    total = lambda h: sum(v for k, v in h.items() if k.startswith("loss_"))  # noqa: E731
    assert total(last) < 0.5 * total(first)
    assert last[term] < margin * first[term]
    assert last["loss_reward"] < 0.5 * first["loss_reward"]
    assert last["loss_continue"] < 0.5 * first["loss_continue"]
    if variant == "dreamerpro":  # the swapped prediction falls too (about 0.3x in 40 steps)
        assert last["loss_swav"] < 0.6 * first["loss_swav"]


def test_world_model_on_images() -> None:
    encoder = ConvEncoder(3, 16, channels=(4, 8), kernel_sizes=4, strides=2, paddings=1, out_features=EMBED)
    rssm = RSSM.from_preset("tiny", EMBED, ACTIONS)
    decoder = ConvDecoder.from_encoder(encoder, in_features=rssm.feature_size, output_activation=nn.Sigmoid)
    loss = DreamerWorldModelLoss(encoder, rssm, DecoderLoss(decoder))
    td = _sequences(b=2, t=4)
    g = torch.Generator().manual_seed(0)
    td["observation"] = torch.randint(0, 256, (2, 4, 3, 16, 16), dtype=torch.uint8, generator=g)
    td["next", "observation"] = torch.randint(0, 256, (2, 4, 3, 16, 16), dtype=torch.uint8, generator=g)
    out = loss(td)
    # per image: sum of squared errors over 3 * 16 * 16 pixels against pixels / 255
    recon = decoder(td["next", "deter"].new_zeros(0, rssm.feature_size))  # shape check of the decoder
    assert recon.shape == (0, 3, 16, 16)
    assert 0 < out["loss_reconstruction"].item() < 3 * 16 * 16
    assert out["reconstruction_mse"].item() == pytest.approx(
        out["loss_reconstruction"].item() / (3 * 16 * 16), rel=1e-4
    )


def test_decoder_loss_targets() -> None:
    decoder = nn.Identity()
    obs = torch.tensor([[[3.0, -1.0]]])
    out = DecoderLoss(decoder)(torch.zeros(1, 1, 2), torch.zeros(1, 1, 1), obs)
    assert out["loss_reconstruction"].item() == pytest.approx(symlog(obs).square().sum().item())
    out = DecoderLoss(decoder, coeff=2.0, symlog=False)(torch.zeros(1, 1, 2), torch.zeros(1, 1, 1), obs)
    assert out["loss_reconstruction"].item() == pytest.approx(2.0 * 10.0)
    with pytest.raises(ValueError, match="the decoder returned"):
        DecoderLoss(decoder)(torch.zeros(1, 1, 3), torch.zeros(1, 1, 1), obs)


def test_barlow_twins_numbers_and_detached_embedding() -> None:
    loss = BarlowTwinsLoss(3, 3, off_diagonal_coeff=0.5, coeff=2.0, projector=nn.Identity())
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    # identical standardized views: c = correlation matrix of x; on-diagonal (1 - c_ii)^2 with the
    # biased/unbiased std mix: c_ii = (N - 1) / N
    embed = x.clone().requires_grad_(True)
    features = x.clone().requires_grad_(True)
    out = loss(features.view(8, 8, 3), embed.view(8, 8, 3), torch.zeros(8, 8, 1))
    z = (x - x.mean(0)) / x.std(0)
    c = z.T @ z / 64
    on = ((torch.diagonal(c) - 1) ** 2).sum()
    off = (c**2).sum() - (torch.diagonal(c) ** 2).sum()
    assert out["loss_barlow"].item() == pytest.approx(2.0 * (on + 0.5 * off).item(), rel=1e-4)
    out["loss_barlow"].backward()
    assert embed.grad is None and features.grad is not None
    with pytest.raises(ValueError, match="at least 2 samples"):
        loss(torch.zeros(1, 1, 3), torch.zeros(1, 1, 3), torch.zeros(1, 1, 1))


def test_infonce_perfect_match_is_accurate() -> None:
    loss = InfoNCELoss(4, 4, projector=nn.Identity(), temperature=0.1)
    x = torch.eye(4).repeat(1, 1).view(2, 2, 4) * 5
    out = loss(x, x, torch.zeros(2, 2, 1))
    assert out["infonce_accuracy"].item() == 1.0
    assert out["loss_infonce"].item() < 1e-6


def test_world_model_bad_input() -> None:
    loss = _world_model(None)
    td = _sequences()
    with pytest.raises(ValueError, match=r"\[B, T\] sequences"):
        loss(td[:, 0])
    bad = td.clone()
    bad["action"] = torch.full((8, 16), 5)
    with pytest.raises(ValueError, match=r"integer actions must be in \[0, 2\)"):
        loss(bad)
    bad["action"] = torch.zeros(8, 16, 3)
    with pytest.raises(ValueError, match=r"float actions must be \[\*B, 2\]"):
        loss(bad)
    with pytest.raises(KeyError, match="terminated"):
        loss(td.exclude(("next", "terminated")))
    with pytest.raises(TypeError, match="RepresentationLoss"):
        DreamerWorldModelLoss(_encoder(), loss.rssm, nn.Linear(2, 2))  # type: ignore[arg-type]


# -- actor and critic ----------------------------------------------------------------------------


def _imagined(n: int = 6, h: int = 5, features: int = 8, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict(
        {
            "features": torch.randn(n, h, features, generator=g),
            "action": torch.randint(0, 3, (n, h), generator=g),
            "value_target": torch.randn(n, h, 1, generator=g) * 3,
            "state_value": torch.randn(n, h, 1, generator=g),
            "weight": torch.rand(n, h, 1, generator=g),
        },
        batch_size=[n, h],
    )


def test_actor_reinforce_numbers() -> None:
    actor = ProbabilisticActor(nn.Linear(8, 3), in_keys=["features"])
    loss = DreamerActorLoss(actor, entropy_coeff=0.1)
    td = _imagined()
    out = loss(td, scale=torch.tensor(2.0))
    dist = actor.get_dist(td)
    w = td["weight"].squeeze(-1)
    adv = ((td["value_target"] - td["state_value"]) / 2.0).squeeze(-1)
    expected = -(w * dist.log_prob(td["action"]) * adv).mean()
    assert out["loss_objective"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert out["loss_entropy"].item() == pytest.approx(-0.1 * (w * dist.entropy()).mean().item(), rel=1e-5)
    assert out["advantage"].item() == pytest.approx(adv.mean().item(), rel=1e-5)
    # the advantage is a constant: the gradient is the score function's
    out["loss_objective"].backward()
    assert actor.module.weight.grad is not None
    with pytest.raises(ValueError, match="scale must be one positive number"):
        loss(td, scale=0.0)
    with pytest.raises(ValueError, match="needs returns that carry the graph"):
        DreamerActorLoss(actor, gradient="dynamics")(td)
    with pytest.raises(ValueError, match="gradient must be"):
        DreamerActorLoss(actor, gradient="reparam")


def test_value_loss_numbers_and_slow_critic() -> None:
    critic = nn.Linear(8, 255)
    twohot = TwoHot()
    loss = DreamerValueLoss(critic, twohot, slow_rate=0.25, slow_coeff=0.5)
    td = _imagined()
    features = td["features"].clone().requires_grad_(True)
    td["features"] = features
    out = loss(td)
    logits = critic(td["features"])
    slow = twohot.decode(loss.slow_critic(td["features"]))
    per_step = twohot.loss(logits, td["value_target"].squeeze(-1)) + 0.5 * twohot.loss(logits, slow)
    assert out["loss_critic"].item() == pytest.approx((td["weight"].squeeze(-1) * per_step).mean().item(), rel=1e-5)
    out["loss_critic"].backward()
    assert features.grad is None and critic.weight.grad is not None
    assert all(p.grad is None for p in loss.slow_critic.parameters())
    # EMA: slow <- slow + 0.25 (critic - slow)
    before = loss.slow_critic.weight.detach().clone()
    with torch.no_grad():
        critic.weight.add_(1.0)
    loss.update_slow_critic()
    assert torch.allclose(loss.slow_critic.weight, before + 0.25 * (critic.weight - before), atol=1e-6)
    with pytest.raises(ValueError, match="slow_rate"):
        DreamerValueLoss(critic, slow_rate=0.0)


# -- DreamerPro ----------------------------------------------------------------------------------


def test_dreamerpro_sinkhorn_against_a_hand_computation() -> None:
    # epsilon 1 and one iteration on scores whose exponentials are Q = [[1, 2], [1, 1], [3, 1]]:
    # columns to 1/K = 1/2: [[.1, .25], [.1, .125], [.3, .125]]; rows then to 1 (after the * N)
    loss = DreamerProLoss(4, 4, num_prototypes=2, sinkhorn_epsilon=1.0, sinkhorn_iterations=1)
    scores = torch.tensor([[0.0, math.log(2)], [0.0, 0.0], [math.log(3), 0.0]], dtype=torch.float64)
    q = loss.sinkhorn(scores)
    expected = torch.tensor([[2 / 7, 5 / 7], [4 / 9, 5 / 9], [12 / 17, 5 / 17]], dtype=torch.float64)
    assert torch.allclose(q, expected, atol=1e-12)
    # the defaults (epsilon 0.05, 3 iterations): every sample's row sums to 1, columns approach N / K
    loss = DreamerProLoss(4, 4, num_prototypes=3)
    g = torch.Generator().manual_seed(0)
    z, c = F.normalize(torch.randn(6, 4, generator=g), dim=-1), F.normalize(torch.randn(3, 4, generator=g), dim=-1)
    scores = z @ c.T
    q = loss.sinkhorn(scores.double())
    assert torch.allclose(q.sum(-1), torch.ones(6, dtype=torch.float64), atol=1e-12)
    assert (q >= 0).all()
    loss.sinkhorn_iterations = 500
    q = loss.sinkhorn(scores.double())
    assert torch.allclose(q.sum(-1), torch.ones(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(q.sum(-2), torch.full((3,), 6 / 3, dtype=torch.float64), atol=1e-3)
    # batched: each [N, K] slice on its own
    both = loss.sinkhorn(torch.stack([scores, scores.flip(0)]).double())
    assert torch.allclose(both[0], q) and torch.allclose(both[1], q.flip(0))


def test_dreamerpro_targets_carry_no_gradient_and_the_terms_train_their_parts() -> None:
    loss = DreamerProLoss(6, 5, num_prototypes=4, projection_size=3, generator=torch.Generator().manual_seed(0))
    captured = []
    sinkhorn = loss.sinkhorn

    def spy(scores: torch.Tensor) -> torch.Tensor:
        q = sinkhorn(scores)
        captured.append(q)
        return q

    loss.sinkhorn = spy  # type: ignore[method-assign]
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 5, 6, generator=g, requires_grad=True)
    embed = torch.randn(2, 5, 5, generator=g, requires_grad=True)
    out = loss(features, embed, torch.zeros(2, 5, 1))
    (q,) = captured
    assert q.shape == (2, 10, 4) and not q.requires_grad and q.grad_fn is None
    # with the targets fixed, the loss is the cross-entropies recomputed from the parameters alone
    prototypes = F.normalize(loss.prototypes, dim=-1)
    h = F.normalize(loss.feature_projector(features.reshape(10, 6)), dim=-1)
    temporal = -(q[0] * F.log_softmax(h @ prototypes.T / 0.1, -1)).sum(-1).mean()
    assert out["loss_temporal"].item() == pytest.approx(temporal.item(), rel=1e-5)
    (g_feat, g_embed, g_proto) = torch.autograd.grad(
        out["loss_temporal"], [features, embed, loss.prototypes], retain_graph=True, allow_unused=True
    )
    assert g_feat.abs().sum() > 0 and g_proto.abs().sum() > 0
    assert g_embed is None  # the target side of the temporal term is constant
    g_embed, g_proj, g_feat = torch.autograd.grad(
        out["loss_swav"], [embed, loss.embed_projector.weight, features], allow_unused=True
    )
    assert g_embed.abs().sum() > 0 and g_proj.abs().sum() > 0  # the swapped prediction trains the encoder
    assert g_feat is None
    assert 0 < out["prototype_usage"].item() <= 1 and not out["prototype_usage"].requires_grad
    assert 0 <= out["temporal_accuracy"].item() <= 1


def test_dreamerpro_noise_is_seeded() -> None:
    torch.manual_seed(0)
    a = DreamerProLoss(6, 5, num_prototypes=4, generator=torch.Generator().manual_seed(3))
    b = DreamerProLoss(6, 5, num_prototypes=4, generator=torch.Generator().manual_seed(3))
    b.load_state_dict(a.state_dict())
    x, e = torch.randn(3, 4, 6), torch.randn(3, 4, 5)
    torch.manual_seed(123)  # the global generator is not used
    out_a = a(x, e, torch.zeros(3, 4, 1))
    out_b = b(x, e, torch.zeros(3, 4, 1))
    assert out_a["loss_swav"].item() == out_b["loss_swav"].item()
    # without noise the two views are identical and each view predicts its own assignments
    c = DreamerProLoss(6, 5, num_prototypes=4, noise_scale=0.0)
    c.load_state_dict(a.state_dict())
    out_c = c(x, e, torch.zeros(3, 4, 1))
    assert out_c["loss_swav"].item() != out_a["loss_swav"].item()


def test_dreamerpro_bad_input() -> None:
    loss = DreamerProLoss(6, 5, num_prototypes=4)
    obs = torch.zeros(2, 3, 1)
    with pytest.raises(ValueError, match=r"expected features \[..., 6\] and embed \[..., 5\]"):
        loss(torch.zeros(2, 3, 7), torch.zeros(2, 3, 5), obs)
    with pytest.raises(ValueError, match=r"expected features"):
        loss(torch.zeros(2, 3, 6), torch.zeros(2, 3, 4), obs)
    with pytest.raises(ValueError, match="share their batch dims"):
        loss(torch.zeros(2, 3, 6), torch.zeros(3, 2, 5), obs)
    with pytest.raises(ValueError, match="at least 2 samples"):
        loss(torch.zeros(1, 1, 6), torch.zeros(1, 1, 5), obs)
    with pytest.raises(TypeError, match="floating point"):
        loss(torch.zeros(2, 3, 6, dtype=torch.long), torch.zeros(2, 3, 5), obs)
    with pytest.raises(ValueError, match=r"scores must be \[\*, N, K\]"):
        loss.sinkhorn(torch.zeros(4))
    with pytest.raises(ValueError, match="num_prototypes must be an integer >= 2"):
        DreamerProLoss(6, 5, num_prototypes=1)
    with pytest.raises(ValueError, match="temperature and sinkhorn_epsilon must be > 0"):
        DreamerProLoss(6, 5, sinkhorn_epsilon=0.0)
    with pytest.raises(ValueError, match="sinkhorn_iterations must be a positive integer"):
        DreamerProLoss(6, 5, sinkhorn_iterations=0)
    with pytest.raises(ValueError, match="noise_scale, swav_coeff and temporal_coeff must be >= 0"):
        DreamerProLoss(6, 5, noise_scale=-0.1)
