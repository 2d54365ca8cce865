"""EnvBase.defer_checks / flush_checks: the value checks without a host sync per step, same errors."""

from __future__ import annotations

import pytest
import torch

from rl4py.envs import CartPole, EpisodeStats, GridWorld, Pendulum
from rl4py.envs.base import EnvStep


def ok_actions(t: int) -> torch.Tensor:
    return torch.tensor([0, 1, 1, 0]) if t % 2 else torch.tensor([1, 0, 0, 1])


def test_bad_action_raises_at_flush_naming_value_index_and_step() -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    env.defer_checks(True)
    for t in range(4):
        env.step_tensors(torch.tensor([0, 2, 1, 0]) if t == 1 else ok_actions(t))  # no error yet
    with pytest.raises(
        ValueError,
        match=r"CartPole: 'action' holds 2 at index \[1\], outside the action space Discrete\(2\) "
        r"\(at step 2 of the 4 steps whose checks were deferred to flush_checks\)",
    ):
        env.flush_checks()
    env.flush_checks()  # the record is consumed: the next flush has nothing left to report


def test_good_steps_flush_silently_and_eager_checks_return_after_ending() -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    env.defer_checks(True)
    for t in range(5):
        env.step_tensors(ok_actions(t))
    env.defer_checks(False)  # flushes: nothing wrong
    with pytest.raises(ValueError, match=r"'action' holds -1 at index \[3\]"):
        env.step_tensors(torch.tensor([0, 1, 1, -1]))  # eager again: raised by the step itself


def test_ending_deferral_flushes() -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    env.defer_checks(True)
    env.step_tensors(torch.tensor([0, 1, 3, 0]))
    with pytest.raises(ValueError, match=r"holds 3 at index \[2\].*at step 1 of the 1 steps"):
        env.defer_checks(False)


def test_shape_and_dtype_are_still_checked_at_the_step() -> None:
    env = CartPole(num_envs=4)
    env.reset(seed=0)
    env.defer_checks(True)
    with pytest.raises(ValueError, match=r"'action' has shape \(3,\), expected \(4,\)"):
        env.step_tensors(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"'action' has dtype torch.float32, expected an integer dtype"):
        env.step_tensors(torch.zeros(4))


def test_non_finite_box_action_is_named_at_flush() -> None:
    env = Pendulum(num_envs=2)
    env.reset(seed=0)
    env.defer_checks(True)
    env.step_tensors(torch.zeros(2, 1))
    env.step_tensors(torch.tensor([[0.5], [float("nan")]]))
    with pytest.raises(ValueError, match=r"Pendulum: 'action' holds a non-finite value nan at index \[1, 0\].*step 2"):
        env.flush_checks()


def test_non_finite_output_is_named_at_flush() -> None:
    class InfReward(CartPole):
        def _step(self, action: torch.Tensor) -> EnvStep:
            out = super()._step(action)
            out.next["reward"][2, 0] = float("inf")
            return out

    env = InfReward(num_envs=4)
    env.check_outputs = True
    env.reset(seed=0)
    env.defer_checks(True)
    env.step_tensors(ok_actions(0))
    with pytest.raises(ValueError, match=r"\('next', 'reward'\) holds a non-finite value inf at index \[2, 0\]"):
        env.flush_checks()


def test_env_with_state_dependent_action_checks_does_not_defer() -> None:
    # GridWorld checks actions against the current masks: deferring would check them against a later state
    env = GridWorld(num_envs=1)
    env.reset(seed=0)
    assert not env.can_defer_checks
    env.defer_checks(True)
    with pytest.raises(ValueError, match=r"'action' holds 9"):
        env.step_tensors(torch.tensor([9]))


def test_deferral_flushes_by_itself_after_max_deferred_steps() -> None:
    env = CartPole(num_envs=4)
    env.max_deferred_steps = 3
    env.reset(seed=0)
    env.defer_checks(True)
    env.step_tensors(torch.tensor([5, 0, 0, 0]))
    env.step_tensors(ok_actions(1))
    with pytest.raises(ValueError, match=r"holds 5 at index \[0\].*step 1 of the 3 steps"):
        env.step_tensors(ok_actions(2))


def test_wrappers_forward_deferral_to_the_validating_env() -> None:
    env = EpisodeStats(CartPole(num_envs=4))
    assert env.can_defer_checks
    env.reset_tensors(seed=0)
    env.defer_checks(True)
    env.step_tensors(torch.tensor([0, 0, 7, 0]))
    with pytest.raises(ValueError, match=r"CartPole: 'action' holds 7 at index \[2\]"):
        env.flush_checks()


def test_trusted_env_checks_its_entries_at_the_first_step_only() -> None:
    class Broken(CartPole):
        def _step(self, action: torch.Tensor) -> EnvStep:
            out = super()._step(action)
            out.next["reward"] = out.next["reward"].squeeze(-1)  # [B]: wrong
            return out

    with pytest.raises(ValueError, match=r"\('next', 'reward'\) has shape \(4,\), expected \(4, 1\)"):
        env = Broken(num_envs=4)
        env.reset(seed=0)
        env.step_tensors(ok_actions(0))
    Broken.trusted_entries = False  # an untrusted env checks every step
    env = Broken(num_envs=4)
    env.reset(seed=0)
    env._entries_checked = True
    with pytest.raises(ValueError, match=r"\('next', 'reward'\) has shape \(4,\)"):
        env.step_tensors(ok_actions(0))
