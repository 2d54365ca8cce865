"""Loss modules returning TensorDicts of ``loss_*`` terms and diagnostics; the math lives in
:mod:`rl4py.losses.functional`."""

from rl4py.losses import functional
from rl4py.losses.common import LossModule, total_loss
from rl4py.losses.ppo import PPOLoss

__all__ = ["LossModule", "PPOLoss", "functional", "total_loss"]
