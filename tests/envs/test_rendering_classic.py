"""rgb_array rendering of the native Acrobot and mountain cars (against gymnasium's pygame drawing),
and GymEnv's render passthrough that lets record_episode film gymnasium envs."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
import torch

from rl4py.envs import Acrobot, GymEnv, MountainCar, MountainCarContinuous
from rl4py.loggers.video import record_episode


def _foreground_iou(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = (a != 255).any(-1), (b != 255).any(-1)
    return float((fa & fb).sum() / (fa | fb).sum())


@pytest.mark.parametrize("index", [None, 1])
def test_acrobot_and_mountain_car_render_shapes(index):
    for env, shape in ((Acrobot(num_envs=3), (500, 500, 3)), (MountainCar(num_envs=3), (400, 600, 3))):
        env.reset(seed=0)
        image = env.render(index=index)
        assert image.dtype == torch.uint8 and tuple(image.shape) == ((3, *shape) if index is None else shape)
        with pytest.raises(IndexError, match="out of range"):
            env.render(index=3)


@pytest.mark.parametrize(
    ("gym_id", "env_cls", "min_iou"),
    [
        ("Acrobot-v1", Acrobot, 0.9),
        ("MountainCar-v0", MountainCar, 0.65),
        ("MountainCarContinuous-v0", MountainCarContinuous, 0.65),
    ],
)
def test_the_drawings_match_gymnasiums(gym_id, env_cls, min_iou, monkeypatch):
    """The same states drawn by gymnasium (pygame) and by rl4py: the same pixels but for the
    anti-aliased edges (the mountain's track is a 1-pixel anti-aliased curve in gymnasium)."""
    if not os.environ.get("DISPLAY"):  # older pygame needs SDL's dummy driver for off-screen frames
        monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    reference = gym.make(gym_id, render_mode="rgb_array")
    reference.reset(seed=0)
    ours = env_cls(num_envs=1)
    ours.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        if env_cls is Acrobot:
            state = rng.uniform(-np.pi, np.pi, 4)
        else:
            state = np.array([rng.uniform(-1.2, 0.6), 0.0])
        reference.unwrapped.state = state
        ours.state = torch.tensor(state[None], dtype=ours.dtype)
        expected, drawn = reference.render(), ours.render(index=0).numpy()
        assert drawn.shape == expected.shape
        assert (drawn == expected).all(-1).mean() > 0.99
        assert _foreground_iou(drawn, expected) > min_iou
    reference.close()


def test_a_gym_env_renders_its_sub_envs_and_can_be_recorded():
    env = GymEnv("CartPole-v1", num_envs=2, render_mode="rgb_array")
    env.reset(seed=3)
    frames = env.render()
    assert frames.dtype == torch.uint8 and tuple(frames.shape) == (2, 400, 600, 3)
    assert torch.equal(env.render(index=1), torch.from_numpy(env.env.envs[1].render()))
    clip = record_episode(env, None, max_steps=15, index=1, seed=3)
    assert 1 <= len(clip) <= 15 and tuple(clip[0].shape) == (400, 600, 3)
    env.close()


def test_a_gym_env_without_rgb_array_refuses_to_render():
    env = GymEnv("CartPole-v1", num_envs=1)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="render_mode='rgb_array'"):
        env.render()
    with pytest.raises(TypeError, match="render_mode='rgb_array'"):
        record_episode(env, None, max_steps=5)
    env.close()
