"""Actor-critic builders."""

from __future__ import annotations

from collections.abc import Sequence

from tensordict.nn import TensorDictModule
from torch import nn

from rl4py import keys
from rl4py.modules.activations import Tanh
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.mlp import MLP

__all__ = ["make_discrete_actor_critic"]


def make_discrete_actor_critic(
    observation_size: int,
    n_actions: int,
    num_cells: Sequence[int] = (64, 64),
    activation: type[nn.Module] = Tanh,
) -> tuple[ProbabilisticActor, TensorDictModule]:
    """Separate actor and critic MLPs, as in CleanRL's ``ppo.py``.

    The actor maps ``"observation"`` ``[*B, observation_size]`` to ``"logits"``
    ``[*B, n_actions]`` (output gain 0.01) and samples a categorical ``"action"``; the critic
    writes ``"state_value"`` ``[*B, 1]`` (output gain 1). Hidden layers: orthogonal gain
    ``sqrt(2)``, zero bias.

    Args:
        observation_size: size of the flat observation.
        n_actions: number of discrete actions.
        num_cells: hidden sizes of each network.
        activation: hidden activation.

    Returns:
        ``(actor, critic)``.

    Examples:
        >>> actor, critic = make_discrete_actor_critic(4, 2)
        >>> sum(p.numel() for p in critic.parameters())
        4545
    """
    actor = ProbabilisticActor(
        MLP(observation_size, n_actions, num_cells, activation, output_gain=0.01),
        in_keys=[keys.OBSERVATION],
        dist_keys=[keys.LOGITS],
    )
    critic = TensorDictModule(
        MLP(observation_size, 1, num_cells, activation, output_gain=1.0),
        in_keys=[keys.OBSERVATION],
        out_keys=[keys.STATE_VALUE],
    )
    return actor, critic
