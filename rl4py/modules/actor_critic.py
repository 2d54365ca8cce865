"""Actor-critic builders."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py import keys
from rl4py.modules.activations import Tanh
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import Categorical, DiagGaussian, MaskedCategorical, MultiCategorical
from rl4py.modules.gaussian import GaussianParams
from rl4py.modules.gsde import GSDEActor, GSDEParams
from rl4py.modules.mlp import MLP

__all__ = ["make_actor_critic", "make_discrete_actor_critic"]


def start_kwargs(action_space: gym.spaces.Discrete | gym.spaces.MultiDiscrete) -> dict:
    """The distribution keyword for a space whose actions do not start at 0: ``{"start": ...}`` or ``{}``.

    ``Discrete(n, start=k)`` gives ``{"start": k}`` (:class:`Categorical`); a ``MultiDiscrete``
    with a non-zero ``start`` gives the list of the heads' starts (:class:`MultiCategorical`).
    """
    if isinstance(action_space, gym.spaces.Discrete):
        start = int(action_space.start)
        return {"start": start} if start else {}
    starts = [int(s) for s in np.asarray(action_space.start).reshape(-1)]
    return {"start": starts} if any(starts) else {}


def make_discrete_actor_critic(
    observation_size: int,
    n_actions: int,
    num_cells: Sequence[int] = (64, 64),
    activation: type[nn.Module] = Tanh,
    value_heads: int = 1,
) -> tuple[ProbabilisticActor, TensorDictModule]:
    """Separate actor and critic MLPs, as in CleanRL's ``ppo.py``.

    The actor maps ``"observation"`` ``[*B, observation_size]`` to ``"logits"``
    ``[*B, n_actions]`` (output gain 0.01) and samples a categorical ``"action"``; the critic
    writes ``"state_value"`` ``[*B, value_heads]`` (output gain 1). Hidden layers: orthogonal gain
    ``sqrt(2)``, zero bias.

    Args:
        observation_size: size of the flat observation.
        n_actions: number of discrete actions.
        num_cells: hidden sizes of each network.
        activation: hidden activation.
        value_heads: values the critic predicts, one per reward head (multi-head value
            decomposition, :class:`~rl4py.values.MultiHeadGAE`).

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
    return actor, _critic(observation_size, num_cells, activation, value_heads)


def make_actor_critic(
    observation_space: gym.Space,
    action_space: gym.Space,
    num_cells: Sequence[int] = (64, 64),
    activation: type[nn.Module] = Tanh,
    masked: bool = False,
    log_std_mode: str = "separate",
    init_log_std: float = 0.0,
    tanh_squash: bool = False,
    gsde: bool = False,
    sde_sample_freq: int = -1,
    value_heads: int = 1,
) -> tuple[ProbabilisticActor, TensorDictModule]:
    """Separate actor and critic MLPs for any of the supported single-env action spaces.

    ============================  =====================================================
    action space                  actor
    ============================  =====================================================
    ``Discrete(n, start)``        ``"logits"`` ``[*B, n]`` -> :class:`Categorical`
                                  (:class:`MaskedCategorical` with ``masked``)
    ``MultiDiscrete(nvec, start)``  ``"logits"`` ``[*B, sum(nvec)]`` -> :class:`MultiCategorical`
    ``Box((d,))``                 ``"loc"``, ``"log_std"`` ``[*B, d]`` -> :class:`DiagGaussian`
    ============================  =====================================================

    Actions are the env's: for a space with ``start`` (``Discrete(3, start=-1)``) the actor
    samples and scores ``start, ..., start + n - 1``, logit ``k`` standing for action
    ``start + k`` (mask entry ``k`` too). With ``masked``, the actor reads ``"action_mask"``
    (bool, true = allowed) next to the observation. The critic writes ``"state_value"``
    ``[*B, value_heads]`` (one value per reward head; 1 by default). Initialization follows
    CleanRL: hidden gain ``sqrt(2)``, policy head gain
    0.01, value head gain 1.

    Args:
        observation_space: a flat ``Box`` (one sub-env's space).
        action_space: one sub-env's action space.
        num_cells: hidden sizes of each network.
        activation: hidden activation.
        masked: read ``"action_mask"`` (discrete and multi-discrete spaces).
        log_std_mode: ``"separate"`` (state-independent parameter) or ``"output"`` (``Box`` only).
        init_log_std: initial log standard deviation (``Box`` only).
        tanh_squash: squash Gaussian samples with ``tanh`` (``Box`` only; the env then sees
            actions in ``(-1, 1)``, so scale them to its bounds yourself or use an env in that range).
        gsde: explore with generalized state-dependent noise (``Box`` only): a :class:`~rl4py.modules.GSDEActor`
            whose noise is the last hidden layer's features times an exploration matrix (initial
            ``log(sigma)`` = ``init_log_std``) instead of independent per-step Gaussian noise.
        sde_sample_freq: steps between new exploration matrices (``-1``: one per rollout).
        value_heads: values the critic predicts, one per reward head of an env with
            ``reward_heads = K`` (multi-head value decomposition, :class:`~rl4py.values.MultiHeadGAE`).

    Returns:
        ``(actor, critic)``.
    """
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"make_actor_critic: needs a flat Box observation space, got {observation_space}")
    obs_size = int(observation_space.shape[0])
    if gsde and not (isinstance(action_space, gym.spaces.Box) and log_std_mode == "separate"):
        raise ValueError(
            f"make_actor_critic: gsde needs a Box action space and log_std_mode='separate', got {action_space} "
            f"and {log_std_mode!r}"
        )
    mask_keys = {"mask": keys.ACTION_MASK} if masked else None
    if isinstance(action_space, gym.spaces.Discrete):
        actor = ProbabilisticActor(
            MLP(obs_size, int(action_space.n), num_cells, activation, output_gain=0.01),
            dist_keys=[keys.LOGITS],
            distribution_class=MaskedCategorical if masked else Categorical,
            distribution_kwargs=start_kwargs(action_space),
            dist_in_keys=mask_keys,
        )
    elif isinstance(action_space, gym.spaces.MultiDiscrete):
        if action_space.nvec.ndim != 1:
            raise TypeError(f"make_actor_critic: needs a 1-D MultiDiscrete space, got {action_space}")
        nvec = [int(n) for n in action_space.nvec]
        actor = ProbabilisticActor(
            MLP(obs_size, sum(nvec), num_cells, activation, output_gain=0.01),
            dist_keys=[keys.LOGITS],
            distribution_class=MultiCategorical,
            distribution_kwargs={"nvec": nvec, **start_kwargs(action_space)},
            dist_in_keys=mask_keys,
        )
    elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if masked:
            raise ValueError("make_actor_critic: masks apply to discrete action spaces, not to Box")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ValueError(f"make_actor_critic: the Box action space needs finite bounds, got {action_space}")
        d = int(action_space.shape[0])
        if gsde:
            mlp = MLP(obs_size, d, num_cells, activation, output_gain=0.01)
            *hidden, head = mlp  # the hidden layers give the features the noise multiplies
            params = GSDEParams(nn.Sequential(*hidden), head, init_log_std, sde_sample_freq)
            return GSDEActor(params, tanh=tanh_squash), _critic(obs_size, num_cells, activation, value_heads)
        out = d if log_std_mode == "separate" else 2 * d
        params = GaussianParams(
            MLP(obs_size, out, num_cells, activation, output_gain=0.01), d, log_std_mode, init_log_std
        )
        actor = ProbabilisticActor(
            params,
            dist_keys=[keys.LOC, keys.LOG_STD],
            distribution_class=DiagGaussian,
            distribution_kwargs={"tanh": tanh_squash},
        )
    else:
        raise TypeError(f"make_actor_critic: unsupported action space {action_space}")
    return actor, _critic(obs_size, num_cells, activation, value_heads)


def _critic(
    obs_size: int, num_cells: Sequence[int], activation: type[nn.Module], value_heads: int = 1
) -> TensorDictModule:
    """The value MLP writing ``"state_value"`` ``[*B, value_heads]`` (value head gain 1)."""
    if not isinstance(value_heads, int) or value_heads < 1:
        raise ValueError(f"make_actor_critic: value_heads must be an int >= 1, got {value_heads!r}")
    return TensorDictModule(
        MLP(obs_size, value_heads, num_cells, activation, output_gain=1.0),
        in_keys=[keys.OBSERVATION],
        out_keys=[keys.STATE_VALUE],
    )
