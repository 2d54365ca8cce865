"""MP4 writing; needs imageio-ffmpeg (the ``test`` extra), kept apart so the GIF tests run without it."""

from __future__ import annotations

import re
import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from rl4py.loggers import write_mp4


def _moving_square(num_frames: int, height: int, width: int) -> list[np.ndarray]:
    frames = []
    for t in range(num_frames):
        frame = np.full((height, width, 3), 255, dtype=np.uint8)
        frame[8:16, 4 * t : 4 * t + 8] = (215, 40, 40)
        frames.append(frame)
    return frames


def _decode_mp4(path) -> np.ndarray:
    """Decodes every frame with the ffmpeg that imageio-ffmpeg ships, as ``[T, H, W, 3]`` uint8."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([ffmpeg, "-i", str(path)], capture_output=True, text=True)  # prints the stream info
    width, height = (int(v) for v in re.search(r"Video: h264.*?, (\d+)x(\d+)", probe.stderr).groups())
    command = [ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)


def test_mp4_is_written_and_read_back(tmp_path):
    frames = _moving_square(10, height=32, width=64)
    path = write_mp4(tmp_path / "square.mp4", frames, fps=10)
    read = _decode_mp4(path)
    assert read.shape == (10, 32, 64, 3)
    assert imageio_ffmpeg.count_frames_and_secs(str(path)) == (10, pytest.approx(1.0))  # 10 frames at 10 fps
    for original, back in zip(frames, read):  # lossy: close, not equal
        assert np.abs(back.astype(np.int16) - original).mean() < 8


def test_mp4_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match="frames are 5x4; H.264 in yuv420p needs an even width and height"):
        write_mp4(tmp_path / "odd.mp4", [np.zeros((4, 5, 3), np.uint8)])
