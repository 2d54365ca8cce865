from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from rl4py.modules.vae import BetaVAE, gaussian_kl


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _two_clusters(n: int = 256, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(n) % 2
    centers = torch.stack([torch.full((dim,), -2.0), torch.full((dim,), 2.0)])
    return centers[labels] + 0.3 * torch.randn(n, dim), labels


def test_gaussian_kl_matches_a_hand_computation_and_torch():
    mu = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]])
    # 0.5 * sum(mu^2 + var - 1 - logvar): row 0 = 0.5 * ((1 + 1 - 1 - 0) + (0 + 4 - 1 - ln 4))
    expected = torch.tensor(
        [0.5 * (1.0 + 3.0 - math.log(4.0)), 0.5 * ((0.25 - 1.0 - math.log(0.25)) + (4.0 + 1.0 - 1.0))]
    )
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, logvar), ref)


def test_loss_terms_for_a_known_posterior():
    vae = BetaVAE(input_dim=3, latent_dim=2, hidden=(8,), beta=4.0)
    mu, logvar = torch.tensor([1.0, 0.0]), torch.tensor([0.0, math.log(4.0)])
    head = vae.encoder[-1]
    with torch.no_grad():  # the encoder outputs (mu, logvar) for every input
        head.weight.zero_()
        head.bias.copy_(torch.cat([mu, logvar]))
    x = torch.randn(5, 3)
    output = vae(x)
    torch.testing.assert_close(output["mu"], mu.expand(5, 2))
    losses = vae.loss(x, output)
    kl = 0.5 * (1.0 + 3.0 - math.log(4.0))
    torch.testing.assert_close(losses["kl"], torch.tensor(kl))
    torch.testing.assert_close(losses["loss_kl"], torch.tensor(4.0 * kl))
    recon = (output["reconstruction"] - x).square().sum(-1).mean()
    torch.testing.assert_close(losses["loss_reconstruction"], recon)
    torch.testing.assert_close(losses["reconstruction_error"], recon / 3)
    assert not losses["kl"].requires_grad and losses["loss_kl"].requires_grad


def test_reparameterized_latent_uses_mu_and_std_and_the_generator():
    vae = BetaVAE(input_dim=4, latent_dim=3, hidden=(8,))
    x = torch.randn(6, 4)
    a = vae(x, generator=torch.Generator().manual_seed(1))
    b = vae(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a["latent"], b["latent"])
    eps = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a["latent"], a["mu"] + (0.5 * a["logvar"]).exp() * eps)
    torch.testing.assert_close(a["reconstruction"], vae.decode(a["latent"]))
    # gradients reach the encoder through the sample
    a["latent"].sum().backward()
    assert vae.encoder[0].weight.grad.abs().sum() > 0


def test_loss_decreases_and_the_strategy_embedding_separates_clusters():
    x, labels = _two_clusters()
    vae = BetaVAE(input_dim=8, latent_dim=2, hidden=(32, 32), beta=1.0)
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    history = []
    for _ in range(200):
        losses = vae.loss(x, vae(x, generator=generator))
        loss = losses["loss_reconstruction"] + losses["loss_kl"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert last < 0.2 * first, (first, last)
    with torch.no_grad():
        z = vae.strategy_embedding(x)
    assert z.shape == (256, 2)
    gap = (z[labels == 0].mean(0) - z[labels == 1].mean(0)).norm()
    spread = z[labels == 0].std(0).norm() + z[labels == 1].std(0).norm()
    assert gap > 3 * spread, (gap, spread)
    torch.testing.assert_close(z, vae(x)["mu"])  # the posterior mean: deterministic


def test_higher_beta_gives_smaller_kl():
    x, _ = _two_clusters(128)
    kls = []
    for beta in (0.1, 10.0):
        torch.manual_seed(0)
        vae = BetaVAE(input_dim=8, latent_dim=4, hidden=(32,), beta=beta)
        opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
        for _ in range(100):
            losses = vae.loss(x)
            opt.zero_grad()
            (losses["loss_reconstruction"] + losses["loss_kl"]).backward()
            opt.step()
        kls.append(vae.loss(x)["kl"].item())
    assert kls[1] < 0.5 * kls[0], kls


def test_extra_batch_dims_and_errors():
    vae = BetaVAE(input_dim=4, latent_dim=2, hidden=(8,))
    out = vae(torch.randn(2, 3, 4))
    assert out.batch_size == (2, 3) and out["reconstruction"].shape == (2, 3, 4) and out["latent"].shape == (2, 3, 2)
    assert vae.loss(torch.randn(2, 3, 4))["loss_kl"].shape == ()
    with pytest.raises(ValueError, match=r"BetaVAE: x must be a floating-point tensor \[\*B, 4\], got \(2, 5\)"):
        vae(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"output has batch size \(3,\), expected x's \(2,\)"):
        vae.loss(torch.randn(2, 4), vae(torch.randn(3, 4)))
    with pytest.raises(ValueError, match=r"z must have shape \[\*B, 2\], got \(2, 3\)"):
        vae.decode(torch.randn(2, 3))
    with pytest.raises(ValueError, match="beta must be >= 0"):
        BetaVAE(4, beta=-1.0)
    with pytest.raises(ValueError, match="mu .* and logvar .* must have the same shape"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 2))
