"""Loggers (print, no-op, composite, TensorBoard, JSON Lines), ``log_stats``, the metric names
(:mod:`rl4py.loggers.names`), and episode videos (GIF/MP4).

Importing this package imports only its own modules, ``rl4py.keys``, torch, tensordict and numpy;
Lightning (under :class:`TensorBoardWriter`), Pillow and imageio-ffmpeg are imported on first use.
"""

from rl4py.loggers.base import CompositeLogger, Logger, NoopLogger, Scalar, log_stats
from rl4py.loggers.jsonl import JSONLinesLogger, read_json_lines
from rl4py.loggers.print_logger import PrintLogger
from rl4py.loggers.tensorboard import TensorBoardWriter
from rl4py.loggers.video import Frames, record_episode, write_gif, write_mp4

__all__ = [
    "CompositeLogger",
    "Frames",
    "JSONLinesLogger",
    "Logger",
    "NoopLogger",
    "PrintLogger",
    "Scalar",
    "TensorBoardWriter",
    "log_stats",
    "read_json_lines",
    "record_episode",
    "write_gif",
    "write_mp4",
]
