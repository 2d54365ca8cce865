"""PixelObservation: native envs' observations drawn as uint8 images by the envs' own renderer."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py import keys
from rl4py.collectors import SyncCollector
from rl4py.envs import (
    Acrobot,
    CartPole,
    GridWorld,
    MountainCar,
    ObservationNorm,
    Pendulum,
    PixelObservation,
    RewardClip,
    make_env,
)
from rl4py.modules import ConvEncoder, ProbabilisticActor
from rl4py.trainers import evaluate_policy

#: a 4x4 grid: 16-pixel cells fill 64x64 exactly
LAYOUT = ("....", ".#..", "....", "...G")


def channels_last(images: torch.Tensor) -> torch.Tensor:
    return images.permute(0, 2, 3, 1)


def pooled(frames: torch.Tensor, factor: int) -> torch.Tensor:
    """``[B, H, W, 3]`` uint8 -> block means ``[B, H / factor, W / factor, 3]`` (independent of the wrapper's code)."""
    out = F.avg_pool2d(frames.permute(0, 3, 1, 2).double(), factor).round()
    return out.to(torch.uint8).permute(0, 2, 3, 1)


def test_images_shape_dtype_and_space_feed_a_conv_encoder() -> None:
    env = PixelObservation(CartPole(num_envs=3), width=80, height=48)
    assert env.single_observation_space == gym.spaces.Box(0, 255, (3, 48, 80), np.uint8)
    assert env.observation_space.shape == (3, 3, 48, 80)
    assert env.observation_keys == (keys.OBSERVATION,)
    root = env.reset(seed=0)
    assert root[keys.OBSERVATION].shape == (3, 3, 48, 80)
    assert root[keys.OBSERVATION].dtype == torch.uint8
    out = env.step_tensors(torch.ones(3, dtype=torch.int64))
    for images in (out.next[keys.OBSERVATION], out.root[keys.OBSERVATION]):
        assert images.shape == (3, 3, 48, 80) and images.dtype == torch.uint8 and images.is_contiguous()
    assert out.next[keys.REWARD].shape == (3, 1)
    encoder = ConvEncoder(3, (48, 80), channels=(4, 4), kernel_sizes=4, strides=2, paddings=1, out_features=8)
    assert encoder(out.root[keys.OBSERVATION]).shape == (3, 8)


@pytest.mark.parametrize(
    ("make", "render"),
    [
        (lambda: CartPole(num_envs=3), lambda env, size: env.render(width=size, height=size)),
        (lambda: CartPole(num_envs=3, partial_observation=True), lambda env, size: env.render(width=size, height=size)),
        (lambda: Acrobot(num_envs=3), lambda env, size: env.render(size=size)),
        (lambda: MountainCar(num_envs=3), lambda env, size: env.render(width=size, height=size)),
        (lambda: GridWorld(num_envs=3, layout=LAYOUT), lambda env, size: env.render(cell_size=size // 4)),
    ],
    ids=["CartPole", "CartPole-partial", "Acrobot", "MountainCar", "GridWorld"],
)
def test_images_are_the_envs_render_of_the_same_state(make, render) -> None:
    env = PixelObservation(make(), supersample=1)
    root = env.reset(seed=3)
    assert torch.equal(channels_last(root[keys.OBSERVATION]), render(env.env, 64))
    out = env.step_tensors(env.env.rand_action(torch.Generator().manual_seed(0)))
    assert torch.equal(channels_last(out.root[keys.OBSERVATION]), render(env.env, 64))
    # supersampled: the block means of the render at twice the size
    env = PixelObservation(make(), supersample=2)
    root = env.reset(seed=3)
    assert torch.equal(channels_last(root[keys.OBSERVATION]), pooled(render(env.env, 128), 2))


def test_the_pole_angle_shows_at_64_pixels() -> None:
    angles = [0.0, 0.01, -0.01, 0.1]
    state = torch.zeros(len(angles), 4)
    state[:, 2] = torch.tensor(angles)
    for supersample, distinct in ((1, [(0, 3)]), (2, [(i, j) for i in range(4) for j in range(i + 1, 4)])):
        env = PixelObservation(CartPole(num_envs=4), supersample=supersample)
        images = env.pixels(state)
        for i, j in distinct:
            assert not torch.equal(images[i], images[j]), (supersample, angles[i], angles[j])
    # the pole's own pixels (tan, not the white background, the black cart or the track) are there
    direct = channels_last(PixelObservation(CartPole(num_envs=4), supersample=1).pixels(state))
    tan = (direct == torch.tensor([202, 152, 101], dtype=torch.uint8)).all(-1).sum((1, 2))
    assert tan.min() >= 10, tan


@pytest.mark.parametrize("sync_free", [False, True], ids=["cpu-path", "sync-free-path"])
def test_terminal_images_are_drawn_from_the_terminal_state(sync_free: bool) -> None:
    reference = CartPole(num_envs=4)
    env = PixelObservation(CartPole(num_envs=4), supersample=1)
    env.sync_free = sync_free
    reference.reset(seed=1)
    env.reset(seed=1)
    ended = 0
    for t in range(40):
        action = torch.tensor([1, 0, 1, t % 2])  # the first three fall over within ~10 steps
        expected, out = reference.step_tensors(action.clone()), env.step_tensors(action.clone())
        terminal = reference.draw_observation(expected.next[keys.OBSERVATION], 64, 64)
        first = reference.draw_observation(expected.root[keys.OBSERVATION], 64, 64)
        assert torch.equal(channels_last(out.next[keys.OBSERVATION]), terminal)
        assert torch.equal(channels_last(out.root[keys.OBSERVATION]), first)
        done = expected.next[keys.DONE].squeeze(-1)
        for i in done.nonzero().squeeze(-1).tolist():
            ended += 1  # the terminal picture is not the reset one
            assert not torch.equal(out.next[keys.OBSERVATION][i], out.root[keys.OBSERVATION][i])
    assert ended >= 3


def test_keep_state_returns_the_vectors_under_state() -> None:
    reference = CartPole(num_envs=2)
    env = PixelObservation(CartPole(num_envs=2), keep_state=True)
    assert env.observation_keys == (keys.OBSERVATION, keys.STATE)
    assert env.single_observation_space.shape == (3, 64, 64)
    assert torch.equal(env.reset(seed=0)[keys.STATE], reference.reset(seed=0)[keys.OBSERVATION])
    for _ in range(12):
        expected, out = (
            reference.step_tensors(torch.ones(2, dtype=torch.int64)),
            env.step_tensors(torch.ones(2, dtype=torch.int64)),
        )
        assert torch.equal(out.next[keys.STATE], expected.next[keys.OBSERVATION])
        assert torch.equal(out.root[keys.STATE], expected.root[keys.OBSERVATION])
        assert out.next[keys.OBSERVATION].shape == (2, 3, 64, 64)
    grid = PixelObservation(GridWorld(num_envs=2, layout=LAYOUT), keep_state=True)
    assert grid.observation_keys == (keys.OBSERVATION, keys.ACTION_MASK, keys.STATE)
    root = grid.reset(seed=0)
    assert root[keys.STATE].shape == (2, 16) and root[keys.ACTION_MASK].dtype == torch.bool
    assert keys.STATE not in PixelObservation(CartPole(num_envs=2)).reset(seed=0)


def _pixel_actor() -> ProbabilisticActor:
    torch.manual_seed(0)
    encoder = ConvEncoder(3, 64, channels=(4, 4, 4), kernel_sizes=4, strides=2, paddings=1, out_features=None)
    return ProbabilisticActor(nn.Sequential(encoder, nn.Linear(4 * 8 * 8, 2)), in_keys=[keys.OBSERVATION])


def test_a_sync_collector_and_evaluate_policy_run_on_pixels() -> None:
    env = PixelObservation(CartPole(num_envs=2))
    (rollout,) = SyncCollector(env, _pixel_actor(), rollout_length=5, total_frames=10, seed=0)
    assert rollout.batch_size == (2, 5)
    assert rollout[keys.OBSERVATION].shape == rollout[keys.NEXT, keys.OBSERVATION].shape == (2, 5, 3, 64, 64)
    assert rollout[keys.OBSERVATION].dtype == torch.uint8
    # each step's root image is the previous step's next image where no episode ended
    same = ~rollout[keys.NEXT, keys.DONE][:, :-1].squeeze(-1)
    assert torch.equal(rollout[keys.OBSERVATION][:, 1:][same], rollout[keys.NEXT, keys.OBSERVATION][:, :-1][same])
    # a policy that always pushes right: the pixels change nothing of the episodes
    right = TensorDictModule(lambda obs: torch.ones(obs.shape[0], dtype=torch.int64), [keys.OBSERVATION], [keys.ACTION])
    returns = evaluate_policy(PixelObservation(CartPole(num_envs=3)), right, seed=4)
    assert torch.equal(returns, evaluate_policy(CartPole(num_envs=3), right, seed=4))
    assert returns.max() < 20  # the episodes ended by falling over


def test_state_dict_round_trip_gives_identical_images() -> None:
    env = RewardClip(PixelObservation(CartPole(num_envs=3)))
    env.reset(seed=2)
    actions = [torch.tensor([1, 1, t % 2]) for t in range(20)]
    for action in actions[:4]:
        env.step_tensors(action)
    saved = copy.deepcopy(env.state_dict())
    first = [env.step_tensors(action) for action in actions[4:]]
    restored = RewardClip(PixelObservation(CartPole(num_envs=3)))
    restored.load_state_dict(saved)
    again = [restored.step_tensors(action) for action in actions[4:]]
    assert any(bool(out.next[keys.DONE].any()) for out in first)  # resets (the env's generator) are covered
    for a, b in zip(first, again):
        assert torch.equal(a.next[keys.OBSERVATION], b.next[keys.OBSERVATION])
        assert torch.equal(a.root[keys.OBSERVATION], b.root[keys.OBSERVATION])


def test_make_env_pixels_wraps_native_envs() -> None:
    env = make_env("CartPole", num_envs=2, pixels=64)
    assert isinstance(env, PixelObservation)
    assert env.reset(seed=0)[keys.OBSERVATION].shape == (2, 3, 64, 64)
    assert make_env("MountainCar", num_envs=2, pixels=[48, 80]).reset(seed=0)[keys.OBSERVATION].shape == (2, 3, 48, 80)
    assert not isinstance(make_env("CartPole", num_envs=2), PixelObservation)
    with pytest.raises(
        ValueError, match=r"make_env: pixels=64 draws native envs only, got the gymnasium id 'CartPole-v1'"
    ):
        make_env("CartPole-v1", pixels=64)
    with pytest.raises(ValueError, match=r"make_env: pixels must be an int or \(height, width\), got \(64,\)"):
        make_env("CartPole", pixels=(64,))


def test_gridworld_images_at_any_size_show_the_agent_cell() -> None:
    env = PixelObservation(GridWorld(num_envs=2, size=5), width=50, height=40)
    env.reset(seed=0)
    observation = torch.zeros(2, 25)
    observation[0, 0], observation[1, 12] = 1.0, 1.0  # (0, 0) and (2, 2)
    images = env.pixels(observation)
    assert images.shape == (2, 3, 40, 50)
    red = (images[:, 0].int() - images[:, 1].int()) > 100  # the agent's red against the grey floor
    assert red[0, :8, :10].any() and not red[0, 16:24, 20:30].any()
    assert red[1, 16:24, 20:30].any() and not red[1, :8, :10].any()


def test_bad_envs_and_sizes_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match=r"PixelObservation: Pendulum has no draw_observation\(observation, width"):
        PixelObservation(Pendulum(num_envs=2))
    with pytest.raises(TypeError, match=r"changes the observations before they could be drawn \(ObservationNorm\)"):
        PixelObservation(ObservationNorm(CartPole(num_envs=2)))
    with pytest.raises(TypeError, match=r"before they could be drawn \(PixelObservation\)"):
        PixelObservation(PixelObservation(CartPole(num_envs=2)))
    with pytest.raises(TypeError, match=r"ObservationNorm: needs floating observations, got a uint8 Box"):
        ObservationNorm(PixelObservation(CartPole(num_envs=2)))  # normalized pixels cast back to uint8 are lost
    assert PixelObservation(RewardClip(CartPole(num_envs=2))).reset(seed=0)[keys.OBSERVATION].shape == (2, 3, 64, 64)
    with pytest.raises(ValueError, match=r"PixelObservation: width must be >= 8, got 4"):
        PixelObservation(CartPole(), width=4)
    with pytest.raises(ValueError, match=r"PixelObservation: height must be >= 8, got 0"):
        PixelObservation(CartPole(), height=0)
    with pytest.raises(TypeError, match=r"PixelObservation: width must be an int, got float 64.0"):
        PixelObservation(CartPole(), width=64.0)
    with pytest.raises(TypeError, match=r"PixelObservation: height must be an int, got bool True"):
        PixelObservation(CartPole(), height=True)
    with pytest.raises(ValueError, match=r"PixelObservation: supersample must be >= 1, got 0"):
        PixelObservation(CartPole(), supersample=0)
    with pytest.raises(ValueError, match=r"Acrobot cannot draw 80x64 images \(supersample=2\): .* is square"):
        PixelObservation(Acrobot(), width=80)
