"""Networks conditioned on a strategy embedding ``z``: concatenated to the observation, or applied by FiLM."""

from __future__ import annotations

import math
from collections.abc import Sequence

import gymnasium as gym
import torch
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.activations import Tanh
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import Categorical
from rl4py.modules.film import FiLM
from rl4py.modules.init import orthogonal_init_
from rl4py.modules.mlp import MLP

__all__ = ["Z_CONDITIONING_MODES", "ZConditionedMLP", "make_z_conditioned_actor_critic"]

#: how a :class:`ZConditionedMLP` conditions on its context
Z_CONDITIONING_MODES = ("concat", "film")


class ZConditionedMLP(nn.Module):
    """An MLP on ``x`` conditioned on a context (a strategy ``z``, and whatever else is passed).

    - ``mode="concat"``: an :class:`MLP` on ``cat(x, context)``.
    - ``mode="film"``: the MLP's hidden layers on ``x`` alone, each hidden pre-activation
      modulated by a :class:`FiLM` of the context (``(1 + gamma(c)) * h + beta(c)``; FiLM starts as
      the identity, so the network starts as the unconditioned MLP).

    The context is the concatenation of the tensors after ``x`` in :meth:`forward`, so a
    TensorDict module may read ``in_keys=["observation", "z", "z_statistics"]``.

    Args:
        in_features: size of ``x``.
        context_dim: total size of the context tensors.
        out_features: output size.
        num_cells: hidden sizes (at least one for ``"film"``).
        activation: hidden activation class.
        mode: ``"concat"`` or ``"film"``.
        output_gain: orthogonal gain of the output layer.

    Shapes:
        ``x [*B, in_features]``, contexts ``[*B, c_i]`` with ``sum(c_i) = context_dim`` ->
        ``[*B, out_features]``.

    Examples:
        >>> import torch
        >>> net = ZConditionedMLP(8, 2, 3, mode="film")
        >>> net(torch.zeros(5, 8), torch.zeros(5, 1), torch.zeros(5, 1)).shape
        torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        context_dim: int,
        out_features: int,
        num_cells: Sequence[int] = (64, 64),
        activation: type[nn.Module] = Tanh,
        mode: str = "concat",
        output_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if mode not in Z_CONDITIONING_MODES:
            raise ValueError(f"ZConditionedMLP: mode must be one of {Z_CONDITIONING_MODES}, got {mode!r}")
        if context_dim < 1 or in_features < 1:
            raise ValueError(
                f"ZConditionedMLP: in_features and context_dim must be >= 1, got {in_features} and {context_dim}"
            )
        self.in_features, self.context_dim, self.mode = in_features, context_dim, mode
        if mode == "concat":
            self.net = MLP(in_features + context_dim, out_features, num_cells, activation, output_gain=output_gain)
            return
        if not num_cells:
            raise ValueError("ZConditionedMLP: mode='film' needs at least one hidden layer (num_cells)")
        sizes = [in_features, *num_cells]
        self.linears = nn.ModuleList()
        self.films = nn.ModuleList()
        self.activations = nn.ModuleList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            linear = nn.Linear(n_in, n_out)
            orthogonal_init_(linear, math.sqrt(2))
            self.linears.append(linear)
            self.films.append(FiLM(context_dim, n_out))
            self.activations.append(activation())
        self.head = nn.Linear(sizes[-1], out_features)
        orthogonal_init_(self.head, output_gain)

    def forward(self, x: torch.Tensor, *context: torch.Tensor) -> torch.Tensor:
        """``x [*B, in_features]`` conditioned on ``cat(context, -1)`` ``[*B, context_dim]``."""
        if not context:
            raise ValueError("ZConditionedMLP: needs at least one context tensor after x (the strategy z)")
        c = torch.cat(context, dim=-1) if len(context) > 1 else context[0]
        if c.shape[-1] != self.context_dim or c.shape[:-1] != x.shape[:-1] or x.shape[-1] != self.in_features:
            raise ValueError(
                f"ZConditionedMLP: expected x [*B, {self.in_features}] and a context [*B, {self.context_dim}], "
                f"got x {tuple(x.shape)} and context {tuple(c.shape)} (from {[tuple(t.shape) for t in context]})"
            )
        if self.mode == "concat":
            return self.net(torch.cat((x, c.to(x.dtype)), dim=-1))
        h = x
        for linear, film, act in zip(self.linears, self.films, self.activations):
            h = act(film(linear(h), c.to(x.dtype)))
        return self.head(h)


def make_z_conditioned_actor_critic(
    observation_space: gym.Space,
    action_space: gym.Space,
    context_dim: int,
    context_keys: Sequence[NestedKey] = (keys.STRATEGY, "z_statistics"),
    mode: str = "concat",
    num_cells: Sequence[int] = (64, 64),
    activation: type[nn.Module] = Tanh,
) -> tuple[ProbabilisticActor, TensorDictModule]:
    """A z-conditioned actor and critic for a ``Discrete`` action space (CleanRL's gains).

    Both are :class:`ZConditionedMLP` s reading ``"observation"`` and the ``context_keys``
    (written by :class:`~rl4py.envs.ZConditioning`: ``"z"`` and ``"z_statistics"``); the actor
    writes ``"logits"`` and samples a categorical ``"action"``, the critic writes
    ``"state_value"`` ``[*B, 1]``. Pass them to :func:`~rl4py.trainers.train_ppo` as
    ``actor=``/``critic=``.

    Args:
        observation_space: a flat ``Box``.
        action_space: a ``Discrete`` space.
        context_dim: total size of the context entries (``2 * z_dim`` for ``"z"`` and ``"z_statistics"``).
        context_keys: the context entries, in order.
        mode: ``"concat"`` or ``"film"``.
        num_cells, activation: hidden sizes and activation of each network.

    Returns:
        ``(actor, critic)``.
    """
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"make_z_conditioned_actor_critic: needs a flat Box observation space, got {observation_space}")
    if not isinstance(action_space, gym.spaces.Discrete) or int(action_space.start) != 0:
        raise TypeError(f"make_z_conditioned_actor_critic: needs a Discrete(n) action space, got {action_space}")
    if not context_keys:
        raise ValueError("make_z_conditioned_actor_critic: context_keys must name at least one entry")
    obs = int(observation_space.shape[0])
    in_keys = [keys.OBSERVATION, *context_keys]
    actor = ProbabilisticActor(
        ZConditionedMLP(obs, context_dim, int(action_space.n), num_cells, activation, mode, output_gain=0.01),
        in_keys=in_keys,
        dist_keys=[keys.LOGITS],
        distribution_class=Categorical,
    )
    critic = TensorDictModule(
        ZConditionedMLP(obs, context_dim, 1, num_cells, activation, mode, output_gain=1.0),
        in_keys=in_keys,
        out_keys=[keys.STATE_VALUE],
    )
    return actor, critic
