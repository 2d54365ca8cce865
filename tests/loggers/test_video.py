from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence
from tensordict.nn import TensorDictModule

from rl4py.envs import CartPole, EpisodeStats, GridWorld
from rl4py.loggers import record_episode, write_gif
from rl4py.testing import CountingEnv
from rl4py.trainers import evaluate_policy


class DrawnCountingEnv(CountingEnv):
    """CountingEnv whose frame ``[4, 6, 3]`` is filled with the sub-env's step count."""

    def render(self, index: int | None = None) -> torch.Tensor:
        frames = self.count.to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 4, 6, 3).clone()
        return frames if index is None else frames[index]


class _Constant(torch.nn.Module):
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0], dtype=torch.long)


def _push_left() -> TensorDictModule:
    return TensorDictModule(_Constant(), in_keys=["observation"], out_keys=["action"])


def _moving_square(num_frames: int, height: int = 32, width: int = 48) -> list[np.ndarray]:
    frames = []
    for t in range(num_frames):
        frame = np.full((height, width, 3), 255, dtype=np.uint8)
        frame[8:16, 4 * t : 4 * t + 8] = (215, 40, 40)
        frames.append(frame)
    return frames


def test_one_frame_per_step_without_the_terminal_state():
    frames = record_episode(DrawnCountingEnv(num_envs=2, episode_length=[3, 5]), None, index=1)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 1, 2, 3, 4]  # 5 steps, count 5 is reset away
    assert all(f.shape == (4, 6, 3) and f.dtype == torch.uint8 for f in frames)


def test_max_steps_caps_an_unfinished_episode():
    frames = record_episode(DrawnCountingEnv(num_envs=1, episode_length=100), None, max_steps=3)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 1, 2]


def test_records_cartpole_episode_of_the_chosen_sub_env():
    env = CartPole(num_envs=3)
    frames = record_episode(env, _push_left(), index=2, seed=7, width=120, height=80)
    # always pushing left ends the episode after a few steps; its length is its return
    length = int(evaluate_policy(CartPole(num_envs=3), _push_left(), seed=7)[2])
    assert len(frames) == length
    env.reset(seed=7)
    torch.testing.assert_close(frames[0], env.render(index=2, width=120, height=80))
    assert frames[0].shape == (80, 120, 3) and frames[0].device == torch.device("cpu")


def test_records_through_wrappers_and_gridworld():
    frames = record_episode(EpisodeStats(GridWorld(num_envs=2, size=4)), None, max_steps=20, seed=0, cell_size=8)
    assert 1 <= len(frames) <= 20
    assert all(f.shape == (32, 32, 3) and f.dtype == torch.uint8 for f in frames)


def test_env_without_render_is_named():
    with pytest.raises(TypeError, match="CountingEnv has no render"):
        record_episode(CountingEnv(), None)


def test_bad_index_and_bad_frames_are_named():
    with pytest.raises(IndexError, match="index 2 is out of range .* num_envs=2"):
        record_episode(DrawnCountingEnv(num_envs=2), None, index=2)

    class FloatFrames(CountingEnv):
        def render(self, index: int | None = None) -> torch.Tensor:
            return torch.zeros(4, 6, 3)

    with pytest.raises(TypeError, match=r"FloatFrames.render\(index=0\) at step 0 has dtype torch.float32"):
        record_episode(FloatFrames(), None)


def test_gif_is_written_and_read_back(tmp_path):
    frames = _moving_square(6)
    path = write_gif(tmp_path / "videos" / "square.gif", frames, fps=20)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.size == (48, 32)
        assert gif.n_frames == 6
        read = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations == [50] * 6
    for original, back in zip(frames, read):
        np.testing.assert_array_equal(back, original)  # two flat colours: the palette is exact


def test_gif_of_a_recorded_cartpole_episode(tmp_path):
    frames = record_episode(CartPole(num_envs=1), _push_left(), seed=3)
    assert all(not torch.equal(a, b) for a, b in zip(frames, frames[1:]))  # every step moves the cart
    path = write_gif(tmp_path / "cartpole.gif", frames, duration_ms=40)
    with Image.open(path) as gif:
        assert gif.n_frames == len(frames) and gif.size == (600, 400)
        gif.seek(len(frames) - 1)
        np.testing.assert_array_equal(np.asarray(gif.convert("RGB")), frames[-1].numpy())


def test_gif_accepts_one_stacked_tensor(tmp_path):
    stacked = torch.from_numpy(np.stack(_moving_square(3)))
    with Image.open(write_gif(tmp_path / "stacked.gif", stacked)) as gif:
        assert gif.n_frames == 3 and gif.info["duration"] == 40  # 25 fps by default


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "frames is empty"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], {}, ValueError, "frame 1 has shape"),
        ([np.zeros((4, 4, 3), np.float32)], {}, TypeError, "frame 0 has dtype float32"),
        ([np.zeros((4, 4), np.uint8)], {}, ValueError, r"expected \[H, W, 3\]"),
        ([np.zeros((4, 4, 3), np.uint8)], {"fps": 10, "duration_ms": 100}, ValueError, "not both"),
        ([np.zeros((4, 4, 3), np.uint8)], {"fps": 0}, ValueError, "fps must be > 0"),
    ],
)
def test_gif_bad_input_is_named(tmp_path, frames, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_gif(tmp_path / "bad.gif", frames, **kwargs)


def test_missing_optional_packages_are_named(tmp_path, monkeypatch):
    from rl4py.loggers import write_mp4

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # makes `import imageio_ffmpeg` fail
    monkeypatch.setitem(sys.modules, "PIL", None)
    frames = [np.zeros((4, 4, 3), np.uint8)]
    with pytest.raises(ImportError, match="pip install imageio-ffmpeg"):
        write_mp4(tmp_path / "x.mp4", frames)
    with pytest.raises(ImportError, match="pip install pillow"):
        write_gif(tmp_path / "x.gif", frames)


@pytest.mark.parametrize(("fps", "expected_ms"), [(30, 30), (7, 140), (25, 40), (50, 20), (60, 20)])
def test_gif_frame_times_are_the_nearest_hundredth(tmp_path, fps, expected_ms):
    from PIL import Image

    frames = [np.full((4, 6, 3), 10 * i, np.uint8) for i in range(4)]  # distinct: no merged frames
    path = write_gif(tmp_path / "a.gif", frames, fps=fps)
    with Image.open(path) as image:
        durations = []
        for index in range(image.n_frames):
            image.seek(index)
            durations.append(image.info["duration"])
    assert durations == [expected_ms] * 4


def test_gif_frame_times_below_20_ms_are_refused(tmp_path):
    frames = [np.zeros((4, 6, 3), np.uint8)] * 2
    with pytest.raises(ValueError, match="rounds below the 20 ms"):
        write_gif(tmp_path / "a.gif", frames, fps=100)
