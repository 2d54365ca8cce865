"""Loss modules returning TensorDicts of ``loss_*`` terms and diagnostics; the math lives in
:mod:`rl4py.losses.functional` and beside each loss."""

from rl4py.losses import functional
from rl4py.losses.actor_critic import ActorCriticLoss
from rl4py.losses.common import LossModule, total_loss
from rl4py.losses.dqn import DQNLoss
from rl4py.losses.dreamer import (
    BarlowTwinsLoss,
    DecoderLoss,
    DreamerActorLoss,
    DreamerProLoss,
    DreamerValueLoss,
    DreamerWorldModelLoss,
    InfoNCELoss,
    RepresentationLoss,
)
from rl4py.losses.dreamer_loss import DreamerLoss
from rl4py.losses.imitation import (
    BCLoss,
    PolicyDistillationLoss,
    bc_loss_discrete,
    bc_loss_multi_head,
    categorical_kl,
    policy_distillation_loss,
    value_distillation_loss,
)
from rl4py.losses.policy_gradient import awr_loss, huber_value_loss, reinforce_loss
from rl4py.losses.ppo import PPOLoss
from rl4py.losses.target import polyak_update

__all__ = [
    "ActorCriticLoss",
    "BCLoss",
    "BarlowTwinsLoss",
    "DecoderLoss",
    "DreamerActorLoss",
    "DreamerLoss",
    "DreamerProLoss",
    "DreamerValueLoss",
    "DreamerWorldModelLoss",
    "InfoNCELoss",
    "RepresentationLoss",
    "DQNLoss",
    "LossModule",
    "PPOLoss",
    "PolicyDistillationLoss",
    "awr_loss",
    "bc_loss_discrete",
    "bc_loss_multi_head",
    "categorical_kl",
    "functional",
    "huber_value_loss",
    "policy_distillation_loss",
    "polyak_update",
    "reinforce_loss",
    "total_loss",
    "value_distillation_loss",
]
