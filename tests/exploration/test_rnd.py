"""RND: novel states pay more than seen ones, the bonus is normalized by the running std, resume is exact."""

from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict

from rl4py.exploration import RND, IntrinsicReward


def _td(next_obs: torch.Tensor) -> TensorDict:
    return TensorDict({"next": {"observation": next_obs}}, batch_size=next_obs.shape[:-1])


def test_seen_states_pay_less_than_novel_ones() -> None:
    rnd = RND(8, seed=0, lr=1e-3)
    assert isinstance(rnd, IntrinsicReward) and not rnd.update_first
    gen = torch.Generator().manual_seed(0)
    seen = torch.randn(256, 8, generator=gen) * 0.3 + 1.0  # one cluster of states
    novel = torch.randn(256, 8, generator=gen) * 0.3 - 1.0  # another one
    for _ in range(300):
        rnd.update(_td(seen))
    assert float(rnd(_td(novel)).mean()) > 5 * float(rnd(_td(seen)).mean())


def test_bonus_is_the_error_over_the_running_std() -> None:
    rnd = RND(3, seed=1)
    obs = torch.randn(64, 3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(rnd(_td(obs)).squeeze(-1), rnd.prediction_error(_td(obs)).detach())  # std 1 at first
    errors = rnd.prediction_error(_td(obs)).detach().double()
    rnd.update(_td(obs))
    assert rnd.error_std.item() == pytest.approx(errors.std(unbiased=False).item(), rel=1e-6)
    torch.testing.assert_close(
        rnd(_td(obs)).squeeze(-1), (rnd.prediction_error(_td(obs)).detach() / rnd.error_std).float()
    )
    assert not any(p.requires_grad for p in rnd.target.parameters())


def test_state_dict_resumes_networks_moments_and_optimizer_exactly() -> None:
    gen = torch.Generator().manual_seed(3)
    batches = [torch.randn(32, 4, generator=gen) for _ in range(6)]
    rnd = RND(4, seed=5, epochs=2)
    for obs in batches[:3]:
        rnd.update(_td(obs))
    twin = RND(4, seed=9, epochs=2)  # other weights: all of them come from the state dict
    twin.load_state_dict(rnd.state_dict())
    for obs in batches[3:]:
        assert rnd.update(_td(obs)) == twin.update(_td(obs))
    assert torch.equal(rnd(_td(batches[0])), twin(_td(batches[0])))


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="lr must be > 0"):
        RND(4, lr=0.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        RND(4, epochs=0)
    with pytest.raises(ValueError, match=r"must be \[\*B, 4\]"):
        RND(4)(_td(torch.zeros(2, 5)))
