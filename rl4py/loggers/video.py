"""Recording episodes of a rendering env and writing them as GIF or MP4.

:func:`record_episode` works with any rl4py env that has a ``render(index=...)`` method returning
one ``uint8`` ``[H, W, 3]`` image: the native :class:`~rl4py.envs.CartPole`, :class:`~rl4py.envs.Acrobot`,
:class:`~rl4py.envs.MountainCar`, :class:`~rl4py.envs.MountainCarContinuous` and
:class:`~rl4py.envs.GridWorld`, a :class:`~rl4py.envs.GymEnv` made with ``render_mode="rgb_array"``,
and wrappers around them. :func:`write_gif` uses Pillow, which
every install has (tensorboard depends on it); :func:`write_mp4` uses ``imageio-ffmpeg``, an
optional dependency that ships its own ffmpeg binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from tensordict import TensorDictBase
from tensordict.nn import InteractionType, set_interaction_type

from rl4py import keys

__all__ = ["Frames", "record_episode", "write_gif", "write_mp4"]

#: what the writers accept: a sequence of ``[H, W, 3]`` uint8 images (tensors or arrays), or one
#: ``[T, H, W, 3]`` uint8 tensor or array
Frames = Union[Sequence[Union[torch.Tensor, np.ndarray]], torch.Tensor, np.ndarray]


def _env_name(env: object) -> str:
    name = getattr(env, "name", None)
    return name if isinstance(name, str) else type(env).__name__


def _check_frame(owner: str, frame: object, where: str) -> np.ndarray:
    """Returns ``frame`` as a C-contiguous uint8 numpy array ``[H, W, 3]``, or raises naming ``where``."""
    if isinstance(frame, torch.Tensor):
        if frame.dtype != torch.uint8:
            raise TypeError(f"{owner}: {where} has dtype {frame.dtype}, expected torch.uint8")
        array = frame.detach().cpu().numpy()
    elif isinstance(frame, np.ndarray):
        if frame.dtype != np.uint8:
            raise TypeError(f"{owner}: {where} has dtype {frame.dtype}, expected uint8")
        array = frame
    else:
        raise TypeError(f"{owner}: {where} is a {type(frame).__name__}, expected a uint8 tensor or array")
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"{owner}: {where} has shape {tuple(array.shape)}, expected [H, W, 3] (RGB)")
    return np.ascontiguousarray(array)


def _check_frames(owner: str, frames: Frames) -> list[np.ndarray]:
    if isinstance(frames, (torch.Tensor, np.ndarray)):
        if frames.ndim != 4:
            raise ValueError(f"{owner}: frames has shape {tuple(frames.shape)}, expected [T, H, W, 3]")
        items: Sequence[Any] = list(frames)
    elif isinstance(frames, Sequence) and not isinstance(frames, (str, bytes)):
        items = frames
    else:
        raise TypeError(f"{owner}: frames must be a sequence of [H, W, 3] images, got {type(frames).__name__}")
    if len(items) == 0:
        raise ValueError(f"{owner}: frames is empty; nothing to write")
    arrays = [_check_frame(owner, frame, f"frame {i}") for i, frame in enumerate(items)]
    for i, array in enumerate(arrays):
        if array.shape != arrays[0].shape:
            raise ValueError(
                f"{owner}: frame {i} has shape {array.shape}, frame 0 has {arrays[0].shape}; every frame needs one size"
            )
    return arrays


def _frame_duration_ms(owner: str, fps: float | None, duration_ms: float | None) -> float:
    if fps is not None and duration_ms is not None:
        raise ValueError(f"{owner}: give fps or duration_ms, not both (got fps={fps}, duration_ms={duration_ms})")
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"{owner}: fps must be > 0, got {fps}")
        return 1000.0 / fps
    if duration_ms is None:
        return 40.0
    if duration_ms <= 0:
        raise ValueError(f"{owner}: duration_ms must be > 0, got {duration_ms}")
    return float(duration_ms)


@torch.no_grad()
def record_episode(
    env: Any,
    policy: Callable[[TensorDictBase], TensorDictBase] | None,
    max_steps: int = 1000,
    index: int = 0,
    deterministic: bool = True,
    seed: int | None = None,
    **render_kwargs: Any,
) -> list[torch.Tensor]:
    """Runs ``policy`` in ``env`` until sub-env ``index`` finishes an episode and returns its frames.

    The env is reset (with ``seed``) and stepped as a whole batch; only sub-env ``index`` is drawn.
    Frame ``t`` is the state the policy acted on at step ``t``, so an episode of ``n`` steps gives
    ``n`` frames. The terminal state itself is not drawn: rl4py envs reset a finished sub-env
    inside the step that ends it, so after that step ``render`` shows the next episode's start.
    If the episode has not ended after ``max_steps`` steps, the ``max_steps`` frames so far are
    returned.

    Args:
        env: a batched rl4py env with ``reset``, ``step_and_reset`` and ``render(index=...)``
            returning ``[H, W, 3]`` uint8 (see the module docstring).
        policy: TensorDict module reading the root TensorDict and writing ``"action"``, or
            ``None`` for uniformly random actions (``env.rand_action()``).
        max_steps: the most steps (and frames) recorded.
        index: the sub-env drawn.
        deterministic: run the policy in ``InteractionType.DETERMINISTIC`` (its mode) instead of
            sampling.
        seed: seed of the env reset.
        **render_kwargs: passed to ``env.render`` (``width``/``height`` for CartPole,
            ``cell_size`` for GridWorld).

    Returns:
        The frames, ``uint8`` ``[H, W, 3]`` CPU tensors.

    Raises:
        TypeError: the env has no ``render`` method, or it does not return uint8 images.
        IndexError: ``index`` is outside ``[0, num_envs)``.
    """
    render = getattr(env, "render", None)
    if not callable(render):
        raise TypeError(
            f"record_episode: {_env_name(env)} has no render() method; recording needs an env that draws "
            "itself (rl4py's CartPole, Acrobot, MountainCar and GridWorld do; a GymEnv made with "
            "render_mode='rgb_array' does)"
        )
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"record_episode: max_steps must be a positive int, got {max_steps!r}")
    num_envs = int(getattr(env, "num_envs", 1))
    if not 0 <= index < num_envs:
        raise IndexError(f"record_episode: index {index} is out of range for {_env_name(env)} with num_envs={num_envs}")
    root = env.reset(seed=seed)
    frames: list[torch.Tensor] = []
    mode = InteractionType.DETERMINISTIC if deterministic else InteractionType.RANDOM
    with set_interaction_type(mode):
        for t in range(max_steps):
            image = render(index=index, **render_kwargs)
            _check_frame("record_episode", image, f"{_env_name(env)}.render(index={index}) at step {t}")
            frames.append(image.detach().cpu() if isinstance(image, torch.Tensor) else torch.from_numpy(image))
            if policy is None:
                root.set(keys.ACTION, env.rand_action())
                td = root
            else:
                td = policy(root)
            td, root = env.step_and_reset(td)
            if bool(td.get((keys.NEXT, keys.DONE)).reshape(num_envs, -1)[index].any()):
                break
    return frames


def write_gif(
    path: str | os.PathLike[str],
    frames: Frames,
    fps: float | None = None,
    duration_ms: float | None = None,
    loop: int = 0,
) -> Path:
    """Writes ``frames`` as an animated GIF with Pillow.

    GIF stores frame times in hundredths of a second: the frame time is rounded to the nearest
    10 ms (fps 30 plays at 30 ms a frame, fps 60 at 20 ms). Times that round below 20 ms (fps
    above ~66) are refused: browsers show them at 100 ms; use :func:`write_mp4` for faster
    videos. Pillow merges identical consecutive frames into one longer frame, so a GIF read back
    can hold fewer frames than were written while playing as long. Colours are reduced to a
    256-colour palette per frame (exact for the native envs' flat colours).

    Args:
        path: the output file (parent folders are created).
        frames: ``[H, W, 3]`` uint8 images (tensors or arrays), or one ``[T, H, W, 3]`` tensor/array.
        fps: frames per second; give this or ``duration_ms``.
        duration_ms: milliseconds per frame; default 40 (25 frames per second) when neither is given.
        loop: times the GIF repeats; 0 repeats forever.

    Returns:
        The path written.

    Raises:
        ImportError: Pillow is not installed (``pip install pillow``).
        ValueError: frames is empty, frames differ in size, both ``fps`` and ``duration_ms`` are
            given, or the frame time rounds below 20 ms.
        TypeError: a frame is not a uint8 ``[H, W, 3]`` image.
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("write_gif needs Pillow: pip install pillow") from error
    duration = _frame_duration_ms("write_gif", fps, duration_ms)
    centiseconds = round(duration / 10)
    if centiseconds < 2:
        raise ValueError(
            f"write_gif: a frame time of {duration:.1f} ms (fps {1000 / duration:.1f}) rounds below the 20 ms GIF "
            "players show as written (browsers slow shorter frames to 100 ms); use fps <= 50 or write_mp4"
        )
    arrays = _check_frames("write_gif", frames)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(array) for array in arrays]
    images[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=centiseconds * 10,  # a multiple of 10 ms: Pillow truncates to hundredths
        loop=loop,
    )
    return path


def write_mp4(
    path: str | os.PathLike[str],
    frames: Frames,
    fps: float = 25.0,
    quality: float = 7.0,
) -> Path:
    """Writes ``frames`` as an H.264 MP4 with ``imageio-ffmpeg`` (``pip install imageio-ffmpeg``).

    The video is ``yuv420p``, which players and browsers show everywhere; that format needs an
    even width and height, so odd-sized frames raise instead of being resized.

    Args:
        path: the output file (parent folders are created).
        frames: ``[H, W, 3]`` uint8 images (tensors or arrays), or one ``[T, H, W, 3]`` tensor/array.
        fps: frames per second.
        quality: ffmpeg quality from 0 (smallest file) to 10 (best).

    Returns:
        The path written.

    Raises:
        ImportError: imageio-ffmpeg is not installed.
        ValueError: frames is empty, frames differ in size, or the width or height is odd.
        TypeError: a frame is not a uint8 ``[H, W, 3]`` image.
    """
    try:
        import imageio_ffmpeg
    except ImportError as error:
        raise ImportError("write_mp4 needs imageio-ffmpeg (it ships ffmpeg): pip install imageio-ffmpeg") from error
    if fps <= 0:
        raise ValueError(f"write_mp4: fps must be > 0, got {fps}")
    if not 0 <= quality <= 10:
        raise ValueError(f"write_mp4: quality must be in [0, 10], got {quality}")
    arrays = _check_frames("write_mp4", frames)
    height, width = arrays[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(
            f"write_mp4: frames are {width}x{height}; H.264 in yuv420p needs an even width and height "
            "(crop or pad the frames, or render at an even size)"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (width, height),
        fps=fps,
        codec="libx264",
        quality=quality,
        macro_block_size=2,
        ffmpeg_log_level="error",
    )
    writer.send(None)  # start ffmpeg
    try:
        for array in arrays:
            writer.send(array)
    finally:
        writer.close()
    return path
