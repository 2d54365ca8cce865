from __future__ import annotations

import pytest
import torch

from rl4py.modules.film import FiLM


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_film_is_the_identity_at_initialisation():
    film = FiLM(context_dim=8, feature_dim=16)
    for layer in (film.gamma, film.beta):
        assert torch.count_nonzero(layer.weight) == 0 and torch.count_nonzero(layer.bias) == 0
    x, context = torch.randn(5, 16), torch.randn(5, 8)
    assert torch.equal(film(x, context), x)
    x = torch.randn(5, 7, 16)  # entities sharing one context
    assert torch.equal(film(x, context), x)


def test_film_applies_one_plus_gamma_and_beta_of_the_context():
    film = FiLM(8, 16)
    with torch.no_grad():
        for p in film.parameters():
            p.normal_()
    x, context = torch.randn(5, 16), torch.randn(5, 8)
    gamma = context @ film.gamma.weight.T + film.gamma.bias
    beta = context @ film.beta.weight.T + film.beta.bias
    torch.testing.assert_close(film(x, context), (1 + gamma) * x + beta)


def test_gamma_and_beta_each_change_the_output_after_a_parameter_change():
    film = FiLM(8, 16)
    x, context = torch.randn(5, 16), torch.randn(5, 8)
    with torch.no_grad():
        film.gamma.bias.fill_(1.0)  # gamma = 1: features doubled
    torch.testing.assert_close(film(x, context), 2 * x)
    with torch.no_grad():
        film.gamma.bias.zero_()
        film.beta.weight[3, 0] = 2.0  # beta_3 = 2 * context_0
    expected = x.clone()
    expected[:, 3] += 2 * context[:, 0]
    torch.testing.assert_close(film(x, context), expected)


def test_film_conditions_on_the_context_per_sample():
    film = FiLM(4, 6)
    with torch.no_grad():
        film.gamma.weight.normal_()
    x = torch.randn(1, 6).expand(3, 6)
    out = film(x, torch.randn(3, 4))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_film_gradient_reaches_gamma_and_beta_from_identity():
    film = FiLM(4, 6)
    x, context = torch.randn(3, 6), torch.randn(3, 4)
    film(x, context).square().sum().backward()
    assert film.gamma.weight.grad.abs().sum() > 0 and film.beta.weight.grad.abs().sum() > 0


def test_film_on_channel_first_feature_maps():
    film = FiLM(4, 6, dim=-3)
    with torch.no_grad():
        for p in film.parameters():
            p.normal_()
    x, context = torch.randn(2, 6, 5, 7), torch.randn(2, 4)
    gamma, beta = film.gamma(context)[:, :, None, None], film.beta(context)[:, :, None, None]
    torch.testing.assert_close(film(x, context), (1 + gamma) * x + beta)
    # the same as modulating channel-last features
    last = FiLM(4, 6)
    last.load_state_dict(film.state_dict())
    channel_last = last(x.permute(0, 2, 3, 1), context)
    torch.testing.assert_close(film(x, context), channel_last.permute(0, 3, 1, 2))


def test_film_errors_name_argument_expected_and_received():
    film = FiLM(4, 6)
    with pytest.raises(ValueError, match=r"context must have shape \[\*B, 4\], got \(3, 5\)"):
        film(torch.randn(3, 6), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"must have 6 features along dim -1, got shape \(3, 7\)"):
        film(torch.randn(3, 7), torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"x must start with the context's batch dims \(3,\).*got x \(2, 6\)"):
        film(torch.randn(2, 6), torch.randn(3, 4))
    with pytest.raises(ValueError, match="context_dim and feature_dim must be >= 1"):
        FiLM(0, 6)


def test_out_of_range_dim_is_an_error_not_a_wrap_around():
    with pytest.raises(ValueError, match="dim=-5 is out of range"):
        FiLM(8, 5, dim=-5)(torch.randn(4, 16, 5, 5), torch.randn(4, 8))
