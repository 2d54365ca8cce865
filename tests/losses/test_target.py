from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from rl4py.losses.target import polyak_update


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    target = copy.deepcopy(source)
    torch.manual_seed(1)
    with torch.no_grad():
        for p in target.parameters():
            p.normal_()
        target[1].running_mean.fill_(5.0)
        target[1].num_batches_tracked.fill_(7)
        source[1].running_mean.uniform_()
        source[1].num_batches_tracked.fill_(3)
    return target, source


def test_tau_one_copies_parameters_and_buffers_exactly():
    target, source = _pair()
    polyak_update(target, source, 1.0)
    for t, s in zip(target.state_dict().values(), source.state_dict().values()):
        assert torch.equal(t, s)
    assert all(t is not s for t, s in zip(target.parameters(), source.parameters()))


def test_tau_zero_leaves_target_unchanged():
    target, source = _pair()
    before = copy.deepcopy(target.state_dict())
    polyak_update(target, source, 0.0)
    for key, value in target.state_dict().items():
        assert torch.equal(value, before[key])


def test_tau_half_is_the_average_and_buffers_are_copied():
    target, source = _pair()
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target, source, 0.5)
    for t, b, s in zip(target.parameters(), before, source.parameters()):
        torch.testing.assert_close(t, (b + s) / 2)
    assert torch.equal(target[1].running_mean, source[1].running_mean)
    assert int(target[1].num_batches_tracked) == 3


def test_small_tau_follows_the_polyak_formula_and_keeps_requires_grad():
    target, source = _pair()
    target.requires_grad_(False)
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target, source, 0.005)
    for t, b, s in zip(target.parameters(), before, source.parameters()):
        torch.testing.assert_close(t, 0.995 * b + 0.005 * s)
        assert not t.requires_grad and t.grad is None


def test_shape_mismatch_raises_naming_the_parameter():
    with pytest.raises(ValueError, match=r"'0.weight' of target has shape \(8, 3\), source '0.weight' has \(4, 3\)"):
        polyak_update(nn.Sequential(nn.Linear(3, 8)), nn.Sequential(nn.Linear(3, 4)), 0.5)
    with pytest.raises(ValueError, match="target has 2 parameters, source has 4"):
        polyak_update(nn.Linear(3, 3), nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3)), 0.5)


def test_bad_tau_and_same_module_raise():
    net = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"tau must be in \[0, 1\], got 1.5"):
        polyak_update(copy.deepcopy(net), net, 1.5)
    with pytest.raises(ValueError, match="same module"):
        polyak_update(net, net, 0.5)


def test_mismatched_dtypes_or_names_are_refused():
    online = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="is torch.bfloat16, source torch.float32"):
        polyak_update(copy.deepcopy(online).to(torch.bfloat16), online, 0.5)
    renamed = nn.ModuleDict({"layer": nn.Linear(4, 2)})
    with pytest.raises(ValueError, match="pair 'layer.weight' \\(target\\) with 'weight'"):
        polyak_update(renamed, online, 0.5)
