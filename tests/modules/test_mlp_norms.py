from __future__ import annotations

import pytest
import torch
from torch import nn

from rl4py.modules import MLP


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _norm_outputs(mlp: MLP, x: torch.Tensor, norm: type[nn.Module]) -> list[torch.Tensor]:
    """The outputs of the MLP's ``norm`` layers on ``x``."""
    outputs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outputs.append(o)) for m in mlp if isinstance(m, norm)]
    mlp(x)
    for hook in hooks:
        hook.remove()
    return outputs


@pytest.mark.parametrize("norm", [nn.RMSNorm, nn.LayerNorm])
def test_mlp_places_the_norm_after_each_hidden_linear(norm):
    mlp = MLP(6, 3, num_cells=(16, 8), activation=nn.SiLU, norm=norm)
    kinds = [type(m) for m in mlp]
    assert kinds == [nn.Linear, norm, nn.SiLU, nn.Linear, norm, nn.SiLU, nn.Linear]
    assert [m.normalized_shape for m in mlp if isinstance(m, norm)] == [(16,), (8,)]


def test_rmsnorm_hidden_features_have_unit_root_mean_square():
    mlp = MLP(6, 3, num_cells=(32, 32), activation=nn.SiLU, norm=nn.RMSNorm)
    x = torch.randn(10, 6) * 50  # the input scale does not reach the hidden layers
    for h in _norm_outputs(mlp, x, nn.RMSNorm):
        torch.testing.assert_close(h.square().mean(-1).sqrt(), torch.ones(10), atol=1e-4, rtol=1e-4)
    # RMSNorm does not centre: unlike LayerNorm, the hidden means are not zero
    assert max(h.mean(-1).abs().max().item() for h in _norm_outputs(mlp, x, nn.RMSNorm)) > 1e-2


def test_layernorm_hidden_features_are_standardised():
    mlp = MLP(6, 3, num_cells=(32,), norm=nn.LayerNorm)
    (h,) = _norm_outputs(mlp, torch.randn(10, 6) * 50, nn.LayerNorm)
    torch.testing.assert_close(h.mean(-1), torch.zeros(10), atol=1e-5, rtol=0)
    torch.testing.assert_close(h.var(-1, unbiased=False), torch.ones(10), atol=1e-3, rtol=0)


def test_rmsnorm_makes_the_mlp_invariant_to_the_first_layer_scale():
    # scaling the first layer's weight and bias scales its pre-norm output: RMSNorm cancels it
    mlp = MLP(6, 3, num_cells=(16, 16), norm=nn.RMSNorm)
    x = torch.randn(10, 6, 2).transpose(1, 2)  # [10, 2, 6]: leading dims pass through
    out = mlp(x)
    assert out.shape == (10, 2, 3)
    with torch.no_grad():
        mlp[0].weight.mul_(7.0)
        mlp[0].bias.mul_(7.0)
    torch.testing.assert_close(mlp(x), out, atol=1e-5, rtol=1e-5)


def test_rmsnorm_mlp_trains_and_its_gains_get_gradients():
    mlp = MLP(4, 1, num_cells=(32, 32), activation=nn.SiLU, norm=nn.RMSNorm)
    x = torch.randn(128, 4)
    y = (x[:, :1] * x[:, 1:2]).sin()
    opt = torch.optim.Adam(mlp.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = (mlp(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.3 * first
    gains = [m.weight for m in mlp if isinstance(m, nn.RMSNorm)]
    assert len(gains) == 2 and all(not torch.allclose(g, torch.ones_like(g)) for g in gains)
