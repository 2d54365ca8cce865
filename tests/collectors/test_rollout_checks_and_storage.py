"""SyncCollector: value checks once per rollout (naming the step), rollout storage reuse and independence."""

from __future__ import annotations

import pytest
import torch

from rl4py.collectors import SyncCollector
from rl4py.envs import CartPole


def ok_actions(t: int) -> torch.Tensor:
    return torch.tensor([0, 1, 1, 0]) if t % 2 else torch.tensor([1, 0, 0, 1])


class ConstantPolicy(torch.nn.Module):
    """Writes ``"action"``: ``values[t]`` at its t-th call."""

    def __init__(self, values: list[torch.Tensor]) -> None:
        super().__init__()
        self.values = values
        self.calls = 0

    def forward(self, td):
        td.set("action", self.values[min(self.calls, len(self.values) - 1)])
        self.calls += 1
        return td


def test_collector_reports_a_bad_action_once_per_rollout_naming_the_step() -> None:
    actions = [ok_actions(t) for t in range(8)]
    actions[5] = torch.tensor([0, 1, 4, 1])
    collector = SyncCollector(CartPole(num_envs=4), ConstantPolicy(actions), rollout_length=8, seed=0)
    with pytest.raises(ValueError, match=r"'action' holds 4 at index \[2\].*at step 6 of the 8 steps"):
        collector.rollout()


def test_an_error_inside_a_rollout_is_not_masked_by_deferred_checks() -> None:
    class Failing(ConstantPolicy):
        def forward(self, td):
            if self.calls == 3:
                raise RuntimeError("policy broke")
            return super().forward(td)

    actions = [torch.tensor([9, 9, 9, 9])] * 8  # bad, but the policy's own error comes first
    env = CartPole(num_envs=4)
    collector = SyncCollector(env, Failing(actions), rollout_length=8, seed=0)
    with pytest.raises(RuntimeError, match="policy broke"):
        collector.rollout()
    assert env._deferred is None  # the recorded checks were dropped, checks are eager again


def test_rollouts_without_return_same_td_are_independent() -> None:
    collector = SyncCollector(CartPole(num_envs=4), None, rollout_length=8, seed=0)
    first = collector.rollout()
    kept = first["next", "observation"].clone()
    second = collector.rollout()
    assert torch.equal(first["next", "observation"], kept)  # not overwritten by the next rollout
    assert not torch.equal(first["next", "observation"], second["next", "observation"])


def test_entries_added_to_a_reused_rollout_do_not_reach_the_storage() -> None:
    collector = SyncCollector(CartPole(num_envs=4), None, rollout_length=8, seed=0, return_same_td=True)
    rollout = collector.rollout()
    rollout["advantage"] = torch.zeros(4, 8, 1)
    rollout["next", "value"] = torch.zeros(4, 8, 1)
    again = collector.rollout()
    assert "advantage" not in again.keys()  # noqa: SIM118 - a TensorDict has no __contains__
    assert ("next", "value") not in again.keys(include_nested=True)
    assert again["observation"].data_ptr() == rollout["observation"].data_ptr()  # the same storage, reused
