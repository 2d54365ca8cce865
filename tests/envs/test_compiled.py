"""CompiledStep and the native envs' compile=True: the same results as eager, a fallback when compiling fails."""

from __future__ import annotations

import pytest
import torch

from rl4py.envs import CartPole, Pendulum
from rl4py.envs.compiled import CompiledStep


def double(x: torch.Tensor) -> torch.Tensor:
    return x * 2


def test_disabled_runs_eagerly() -> None:
    step = CompiledStep(double, "Test", enabled=False)
    assert not step.compiled
    assert torch.equal(step(torch.ones(3)), torch.full((3,), 2.0))


def test_failed_compile_warns_once_and_falls_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(fn, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    step = CompiledStep(double, "CartPole", enabled=True)
    assert step.compiled
    with pytest.warns(UserWarning, match=r"CartPole: torch.compile of the physics step failed \(RuntimeError: no C"):
        assert torch.equal(step(torch.ones(2)), torch.full((2,), 2.0))
    assert not step.compiled
    assert torch.equal(step(torch.ones(2)), torch.full((2,), 2.0))  # eager from now on, no second warning


def test_env_with_failing_compile_matches_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: lambda *args: (_ for _ in ()).throw(RuntimeError("x")))
    compiled, eager = CartPole(num_envs=8, compile=True), CartPole(num_envs=8)
    compiled.reset(seed=3)
    eager.reset(seed=3)
    with pytest.warns(UserWarning, match="running it eagerly"):
        a = compiled.step_tensors(torch.ones(8, dtype=torch.int64))
    b = eager.step_tensors(torch.ones(8, dtype=torch.int64))
    assert torch.equal(a.next["observation"], b.next["observation"])


@pytest.mark.slow
@pytest.mark.parametrize("env_type", [CartPole, Pendulum])
def test_compiled_env_steps_like_eager(env_type) -> None:
    # torch.compile takes tens of seconds on a CPU; inductor may reorder float ops: round-off per
    # step (the chaotic dynamics would amplify it over an episode, so the states are resynced)
    compiled, eager = env_type(num_envs=64, compile=True), env_type(num_envs=64)
    compiled.reset(seed=0)
    eager.reset(seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):  # past CartPole's terminations and Pendulum's 200-step truncation
        action = eager.rand_action(g)
        a, b = compiled.step_tensors(action), eager.step_tensors(action)
        for key in ("terminated", "truncated", "done"):
            assert torch.equal(a.next[key], b.next[key])
        torch.testing.assert_close(a.next["observation"], b.next["observation"], atol=1e-5, rtol=0)
        torch.testing.assert_close(a.root["observation"], b.root["observation"], atol=1e-5, rtol=0)
        compiled.state = eager.state.clone()
    assert compiled._physics.compiled
