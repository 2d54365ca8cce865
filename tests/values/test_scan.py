"""The reverse linear scan every estimator in :mod:`rl4py.values.functional` is built on."""

from __future__ import annotations

import pytest
import torch

from rl4py.values.functional._common import reverse_linear_scan


def _loop(source: torch.Tensor, decay: torch.Tensor) -> torch.Tensor:
    out, running = [], torch.zeros_like(source[..., 0, :])
    for t in reversed(range(source.shape[-2])):
        running = source[..., t, :] + decay[..., t, :] * running
        out.append(running)
    return torch.stack(out[::-1], dim=-2)


@pytest.mark.parametrize("steps", [*range(1, 18), 31, 32, 33, 64, 65, 127])
def test_matches_the_loop_for_every_length_around_powers_of_two(steps):
    g = torch.Generator().manual_seed(steps)
    source = torch.randn(3, steps, 2, generator=g, dtype=torch.float64)
    decay = torch.rand(3, steps, 2, generator=g, dtype=torch.float64) * 1.1  # some products grow
    decay[torch.rand(3, steps, 2, generator=g) < 0.2] = 0.0  # cuts
    torch.testing.assert_close(reverse_linear_scan(source, decay), _loop(source, decay))


def test_hand_computed_and_the_last_decay_is_never_read():
    # x_2 = 3; x_1 = 2 + 0.5 * 3 = 3.5; x_0 = 1 + 0 * 3.5 = 1 (decay_2 = inf would be nan if it were read)
    source = torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1)
    decay = torch.tensor([0.0, 0.5, float("inf")]).view(1, 3, 1)
    torch.testing.assert_close(reverse_linear_scan(source, decay), torch.tensor([1.0, 3.5, 3.0]).view(1, 3, 1))


def test_gradients_equal_the_loops():
    g = torch.Generator().manual_seed(0)
    source = torch.randn(2, 37, 1, generator=g, dtype=torch.float64, requires_grad=True)
    decay = torch.rand(2, 37, 1, generator=g, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 37, 1, generator=g, dtype=torch.float64)
    grads = torch.autograd.grad((reverse_linear_scan(source, decay) * weights).sum(), (source, decay))
    expected = torch.autograd.grad((_loop(source, decay) * weights).sum(), (source, decay))
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)


def test_promotes_mixed_dtypes():
    out = reverse_linear_scan(torch.ones(1, 4, 1, dtype=torch.float32), torch.ones(1, 4, 1, dtype=torch.float64))
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.flatten(), torch.tensor([4.0, 3.0, 2.0, 1.0], dtype=torch.float64))
