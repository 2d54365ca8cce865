"""Recurrent policies and critics: an encoder, a :class:`~rl4py.modules.recurrent.RecurrentCore` and a head.

State flow (the keys are TorchRL's, with the state nested under ``"recurrent_state"``)::

    reads   "observation" [B, obs], "is_init" [B, 1] bool, ("recurrent_state", name, "h"/"c") [B, ...]
    writes  "logits" / "action" / "action_log_prob" (actor) or "state_value" (critic),
            ("next", "recurrent_state", name, "h"/"c")   the state after the step

Called on a ``TensorDict[B]`` a module advances one step (the collector's call). Called on a
``TensorDict[*B, T]`` (time last) it re-runs its core over the ``T`` steps from the state stored at
``t = 0``, resetting where ``"is_init"``: this is how :class:`~rl4py.losses.PPOLoss` trains on sequence
chunks with truncated back-propagation through time, through :meth:`RecurrentActor.get_dist` and the
critic's forward, with no change to the loss.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, TensorDictModule, TensorDictModuleBase
from tensordict.nn.probabilistic import interaction_type  # not re-exported by tensordict.nn before 0.15
from torch import distributions as D
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.activations import Tanh
from rl4py.modules.actor_critic import start_kwargs
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import Categorical, DiagGaussian, MaskedCategorical, MultiCategorical
from rl4py.modules.gaussian import GaussianParams
from rl4py.modules.mlp import MLP
from rl4py.modules.recurrent import RecurrentCore, make_core

__all__ = [
    "RecurrentActor",
    "RecurrentActorCritic",
    "RecurrentValue",
    "StoredStateValue",
    "make_recurrent_actor_critic",
]


def _state_keys(state_name: str, core: RecurrentCore) -> list[tuple[str, ...]]:
    return [(keys.RECURRENT_STATE, state_name, name) for name in core.state_names]


def _require(owner: str, td: TensorDictBase, key: NestedKey) -> torch.Tensor:
    value = td.get(key, None)
    if value is None:
        raise KeyError(
            f"{owner}: the TensorDict has no {key!r}; a collector running a recurrent policy writes it "
            "(SyncCollector, from the policy's initial_state and is_init at episode starts)"
        )
    return value


def run_core(
    owner: str,
    td: TensorDictBase,
    encoder: nn.Module,
    core: RecurrentCore,
    in_key: NestedKey,
    is_init_key: NestedKey,
    state_keys: Sequence[NestedKey],
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
    """Runs ``encoder`` and ``core`` on a ``TensorDict[B]`` (one step) or ``[*B, T]`` (a sequence).

    Args:
        owner: the module named in error messages.
        td: ``[B]``: one step from the state under ``state_keys``; ``[*B, T]``: the core re-runs the
            ``T`` steps from the state stored at ``t = 0``, resetting where ``is_init_key``.
        encoder: maps ``td[in_key]`` ``[..., obs]`` to the core's input ``[..., core.input_size]``.
        core: the recurrent core.
        in_key: the input entry.
        is_init_key: ``[*B, 1]`` bool entry, true at the first step of an episode.
        state_keys: the state entries, one per ``core.state_names``.

    Returns:
        ``(features, new_state)``: ``features`` ``[*td.batch_size, core.output_size]``; ``new_state`` the
        state after the step for a ``[B]`` input, ``None`` for a sequence.
    """
    if td.batch_dims < 1:
        raise ValueError(f"{owner}: needs a TensorDict with a batch dim, got batch size {tuple(td.batch_size)}")
    x = encoder(_require(owner, td, in_key))
    is_init = _require(owner, td, is_init_key)
    state = tuple(_require(owner, td, key) for key in state_keys)
    if td.batch_dims == 1:
        return core.step(x, state, is_init)
    lead, t_len = td.batch_size[:-1], td.batch_size[-1]
    n = lead.numel()
    d = td.batch_dims
    state0 = tuple(s.select(d - 1, 0).reshape(n, *s.shape[d:]) for s in state)
    y, _ = core.sequence(x.reshape(n, t_len, x.shape[-1]), state0, is_init.reshape(n, t_len, 1))
    return y.reshape(*lead, t_len, y.shape[-1]), None


def _initial_state_td(
    core: RecurrentCore, state_keys: Sequence[NestedKey], batch_size: int, device: torch.device | str | None
) -> TensorDict:
    state = core.initial_state(batch_size, device)
    td = TensorDict({}, batch_size=[batch_size], device=state[0].device)
    for key, value in zip(state_keys, state):
        td.set(key, value)
    return td


def _sample(owner: str, dist: D.Distribution) -> torch.Tensor:
    mode = interaction_type()
    if mode is None or mode == InteractionType.RANDOM:
        return dist.sample()
    if mode in (InteractionType.DETERMINISTIC, InteractionType.MODE):
        return dist.deterministic_sample if hasattr(dist, "deterministic_sample") else dist.mode
    if mode == InteractionType.MEAN:
        return dist.mean
    raise ValueError(f"{owner}: unsupported interaction type {mode}")


class RecurrentActor(ProbabilisticActor):
    """A policy ``encoder -> core -> head -> distribution`` that carries a recurrent state.

    On a ``TensorDict[B]`` :meth:`forward` resets the state where ``"is_init"``, steps the core and
    writes the distribution parameters, ``"action"``, ``"action_log_prob"`` ``[B, 1]`` and the next
    state ``("next", "recurrent_state", state_name, *core.state_names)``. :meth:`get_dist` on a
    ``TensorDict[*B, T]`` re-runs the core over ``T`` from the stored state at ``t = 0`` (with
    gradient, resets at ``"is_init"``), so a loss back-propagates through the chunk; on a
    ``TensorDict[B]`` it takes one step from each stored state.

    Args:
        core: the recurrent core.
        head: maps the core's output ``[..., core.output_size]`` to one tensor per ``dist_keys``.
        encoder: maps the observation to the core's input (``None``: the observation itself).
        in_key: the observation entry.
        state_name: the state lives under ``("recurrent_state", state_name)``.
        is_init_key: the episode-start flag.
        dist_keys, distribution_class, distribution_kwargs, dist_in_keys, action_key, log_prob_key, return_log_prob: as
            :class:`~rl4py.modules.ProbabilisticActor`.

    Examples:
        >>> from rl4py.modules.recurrent import LSTMCore
        >>> actor = RecurrentActor(LSTMCore(2, 16), nn.Linear(16, 2))
        >>> td = actor.initial_state(3)
        >>> td["observation"] = torch.zeros(3, 2)
        >>> td["is_init"] = torch.ones(3, 1, dtype=torch.bool)
        >>> actor(td)["next", "recurrent_state", "actor", "h"].shape
        torch.Size([3, 1, 16])
    """

    def __init__(
        self,
        core: RecurrentCore,
        head: nn.Module,
        encoder: nn.Module | None = None,
        *,
        in_key: NestedKey = keys.OBSERVATION,
        state_name: str = "actor",
        is_init_key: NestedKey = keys.IS_INIT,
        dist_keys: Sequence[str] = (keys.LOGITS,),
        distribution_class: type[D.Distribution] = Categorical,
        distribution_kwargs: Mapping | None = None,
        dist_in_keys: Mapping[str, NestedKey] | None = None,
        action_key: NestedKey = keys.ACTION,
        log_prob_key: NestedKey = keys.ACTION_LOG_PROB,
        return_log_prob: bool = True,
    ) -> None:
        super().__init__(
            head,
            in_keys=[in_key],
            dist_keys=dist_keys,
            distribution_class=distribution_class,
            distribution_kwargs=distribution_kwargs,
            dist_in_keys=dist_in_keys,
            action_key=action_key,
            log_prob_key=log_prob_key,
            return_log_prob=return_log_prob,
        )
        self.core = core
        self.encoder = nn.Identity() if encoder is None else encoder
        self.in_key = in_key
        self.is_init_key = is_init_key
        self.state_name = state_name
        self.state_keys = _state_keys(state_name, core)
        self.in_keys = [in_key, is_init_key, *self.state_keys, *self.dist_in_keys.values()]
        self.out_keys = [*self.out_keys, *(keys.next_key(k) for k in self.state_keys)]

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDict:
        """The episode-start state as a ``TensorDict[B]`` of the entries ``("recurrent_state", state_name, ...)``."""
        return _initial_state_td(self.core, self.state_keys, batch_size, device)

    def _head(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.module(features)
        out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        if len(out) != len(self.dist_keys):
            raise ValueError(
                f"RecurrentActor: the head returned {len(out)} tensors, expected one per dist key {self.dist_keys}"
            )
        return out

    def _params(self, td: TensorDictBase) -> tuple[torch.Tensor, ...]:
        features, _ = run_core(
            "RecurrentActor", td, self.encoder, self.core, self.in_key, self.is_init_key, self.state_keys
        )
        return self._head(features)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        """One step on a ``TensorDict[B]``: samples the action and writes the next state."""
        if td.batch_dims != 1:
            raise ValueError(
                f"RecurrentActor: forward steps a TensorDict[B], got batch size {tuple(td.batch_size)}; "
                "use get_dist for a sequence [*B, T]"
            )
        features, state = run_core(
            "RecurrentActor", td, self.encoder, self.core, self.in_key, self.is_init_key, self.state_keys
        )
        params = self._head(features)
        dist = self._dist(td, params)
        action = _sample("RecurrentActor", dist)
        for key, value in zip(self.dist_keys, params):
            td.set(key, value)
        td.set(self.action_key, action)
        if self.return_log_prob:
            td.set(self.log_prob_key, dist.log_prob(action).unsqueeze(-1))
        for key, value in zip(self.state_keys, state):
            td.set(keys.next_key(key), value)
        return td


class RecurrentValue(TensorDictModuleBase):
    """A critic ``encoder -> core -> head`` writing ``"state_value"`` ``[*B, 1]``, with its own state.

    On a ``TensorDict[B]`` it steps (resetting where ``"is_init"``) and writes the next state
    ``("next", "recurrent_state", state_name, ...)``; on a ``TensorDict[*B, T]`` it re-runs the core
    over ``T`` from the state stored at ``t = 0`` and writes the values only. For the value estimator
    use :meth:`stored_state`, which evaluates every step from its own stored state.

    Args:
        core: the recurrent core.
        head: maps ``[..., core.output_size]`` to ``[..., 1]``.
        encoder: maps the observation to the core's input (``None``: the observation itself).
        in_key: the observation entry.
        state_name: the state lives under ``("recurrent_state", state_name)``.
        is_init_key: the episode-start flag.
        value_key: the output entry.
    """

    def __init__(
        self,
        core: RecurrentCore,
        head: nn.Module,
        encoder: nn.Module | None = None,
        *,
        in_key: NestedKey = keys.OBSERVATION,
        state_name: str = "critic",
        is_init_key: NestedKey = keys.IS_INIT,
        value_key: NestedKey = keys.STATE_VALUE,
    ) -> None:
        super().__init__()
        self.core = core
        self.head = head
        self.encoder = nn.Identity() if encoder is None else encoder
        self.in_key = in_key
        self.is_init_key = is_init_key
        self.value_key = value_key
        self.state_name = state_name
        self.state_keys = _state_keys(state_name, core)
        self.in_keys = [in_key, is_init_key, *self.state_keys]
        self.out_keys = [value_key, *(keys.next_key(k) for k in self.state_keys)]

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDict:
        """The episode-start state as a ``TensorDict[B]`` of the entries ``("recurrent_state", state_name, ...)``."""
        return _initial_state_td(self.core, self.state_keys, batch_size, device)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        features, state = run_core(
            "RecurrentValue", td, self.encoder, self.core, self.in_key, self.is_init_key, self.state_keys
        )
        td.set(self.value_key, self.head(features))
        if state is not None:
            for key, value in zip(self.state_keys, state):
                td.set(keys.next_key(key), value)
        return td

    def stored_state(self) -> StoredStateValue:
        """This critic as a value estimator's network: one step from each stored state (:class:`StoredStateValue`)."""
        return StoredStateValue(self)


class StoredStateValue(TensorDictModuleBase):
    """Evaluates a :class:`RecurrentValue` at every step of a rollout from the state stored at that step.

    ``V(obs_t) = head(core(encoder(obs_t), state_t))`` for every element of a ``TensorDict[*B]`` at
    once, with no loop over time and no reset (the collector stores the episode-start state at
    ``"is_init"`` steps). Given the rollout's ``"next"`` entries (``("next", "observation")`` and the
    state after the step, ``("next", "recurrent_state", ...)``), it gives the value of the true next
    observation, the bootstrap at a truncation included. Right after collection the stored states
    are the ones the current parameters produce, so the values equal a re-run over the rollout.
    Pass it as ``value_network`` to :class:`~rl4py.values.GAE`.

    Args:
        critic: the recurrent critic (parameters shared).
    """

    def __init__(self, critic: RecurrentValue) -> None:
        super().__init__()
        self.critic = critic
        self.in_keys = [critic.in_key, *critic.state_keys]
        self.out_keys = [critic.value_key]

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        critic = self.critic
        batch = td.batch_size
        d = td.batch_dims
        x = _require("StoredStateValue", td, critic.in_key)
        state = tuple(_require("StoredStateValue", td, k) for k in critic.state_keys)
        x = critic.encoder(x.reshape(batch.numel(), *x.shape[d:]))
        y, _ = critic.core.step(x, tuple(s.reshape(batch.numel(), *s.shape[d:]) for s in state))
        value = critic.head(y)
        td.set(critic.value_key, value.reshape(*batch, value.shape[-1]))
        return td


class RecurrentActorCritic(TensorDictModuleBase):
    """The collector's policy: a :class:`RecurrentActor` and a critic, stepped together.

    The actor and the critic keep separate cores and states (``("recurrent_state", "actor")`` and
    ``("recurrent_state", "critic")``): the value loss (unnormalized returns) then shapes no feature
    of the policy, and :class:`~rl4py.losses.PPOLoss`'s two calls (``actor.get_dist`` and ``critic``)
    re-run each core once. A feed-forward critic (any TensorDict module writing ``"state_value"``) is
    allowed too; it is not run during collection.

    Pass ``actor`` and ``critic`` to :class:`~rl4py.losses.PPOLoss`, :attr:`value_network` to the value
    estimator and the whole module to :class:`~rl4py.collectors.SyncCollector`.

    Args:
        actor: the recurrent policy.
        critic: a :class:`RecurrentValue` (stepped with the actor, so its state is collected) or a
            feed-forward TensorDict module.
    """

    def __init__(self, actor: RecurrentActor, critic: TensorDictModuleBase) -> None:
        super().__init__()
        self.actor = actor
        self.critic = critic
        self.recurrent_critic = isinstance(critic, RecurrentValue)
        in_keys = list(actor.in_keys)
        out_keys = list(actor.out_keys)
        if self.recurrent_critic:
            in_keys += [k for k in critic.in_keys if k not in in_keys]
            out_keys += [k for k in critic.out_keys if k not in out_keys]
        self.in_keys = in_keys
        self.out_keys = out_keys

    @property
    def value_network(self) -> TensorDictModuleBase:
        """The module a value estimator runs on the rollout: :meth:`RecurrentValue.stored_state` or the critic."""
        return self.critic.stored_state() if self.recurrent_critic else self.critic

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> TensorDict:
        """The episode-start states of the actor and (if recurrent) the critic, ``TensorDict[B]``."""
        state = self.actor.initial_state(batch_size, device)
        if self.recurrent_critic:
            state.update(self.critic.initial_state(batch_size, device))
        return state

    def get_dist(self, td: TensorDictBase) -> D.Distribution:
        """The actor's :meth:`RecurrentActor.get_dist`."""
        return self.actor.get_dist(td)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        td = self.actor(td)
        if self.recurrent_critic:
            td = self.critic(td)
        return td


def _encoder(obs_size: int, cells: Sequence[int], activation: type[nn.Module]) -> tuple[nn.Module | None, int]:
    if not cells:
        return None, obs_size
    mlp = MLP(obs_size, cells[-1], cells[:-1], activation, output_gain=float(np.sqrt(2)))
    return nn.Sequential(mlp, activation()), cells[-1]


def _orthogonal_core(core: RecurrentCore) -> RecurrentCore:
    # CleanRL's LSTM init: orthogonal weights (gain 1), zero biases
    for name, param in core.named_parameters():
        if "bias" in name:
            nn.init.zeros_(param)
        elif param.dim() == 2:
            nn.init.orthogonal_(param, 1.0)
    return core


def make_recurrent_actor_critic(
    observation_space: gym.Space,
    action_space: gym.Space,
    core: str = "lstm",
    hidden_size: int = 64,
    num_layers: int = 1,
    n_blocks: int = 1,
    encoder_cells: Sequence[int] = (),
    head_cells: Sequence[int] = (64,),
    activation: type[nn.Module] = Tanh,
    recurrent_critic: bool = True,
    masked: bool = False,
    log_std_mode: str = "separate",
    init_log_std: float = 0.0,
    tanh_squash: bool = False,
    critic_cells: Sequence[int] = (64, 64),
) -> RecurrentActorCritic:
    """A recurrent actor and critic for the action spaces of :func:`~rl4py.modules.make_actor_critic`.

    Each network is ``observation -> [encoder MLP] -> core -> head MLP``; the actor's head ends in
    the distribution parameters (gain 0.01), the critic's in ``"state_value"`` (gain 1). LSTM and GRU
    cores get orthogonal weights and zero biases (CleanRL's ``ppo_atari_lstm.py``).

    Args:
        observation_space: a flat ``Box`` (one sub-env's space).
        action_space: ``Discrete``, ``MultiDiscrete`` or a flat ``Box`` (one sub-env's space).
        core: ``"lstm"``, ``"gru"`` or ``"block_gru"`` (see :func:`~rl4py.modules.recurrent.make_core`).
        hidden_size: state size of each core.
        num_layers: stacked layers (LSTM, GRU).
        n_blocks: diagonal blocks (block GRU).
        encoder_cells: hidden sizes of an MLP (ending in ``activation``) before the core; empty feeds the
            observation to the core directly.
        head_cells: hidden sizes of the MLP after the core.
        activation: hidden activation of the MLPs.
        recurrent_critic: give the critic its own core (else a feed-forward MLP on the observation).
        critic_cells: hidden sizes of that feed-forward critic (``recurrent_critic=False`` only; a
            recurrent critic mirrors the actor: ``encoder_cells``, core, ``head_cells``).
        masked, log_std_mode, init_log_std, tanh_squash: as :func:`~rl4py.modules.make_actor_critic`.

    Returns:
        The :class:`RecurrentActorCritic`.
    """
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"make_recurrent_actor_critic: needs a flat Box observation space, got {observation_space}")
    obs_size = int(observation_space.shape[0])
    mask_keys = {"mask": keys.ACTION_MASK} if masked else None

    def body() -> tuple[nn.Module | None, RecurrentCore]:
        encoder, core_in = _encoder(obs_size, encoder_cells, activation)
        made = make_core(core, core_in, hidden_size, num_layers, n_blocks)
        return encoder, made if core == "block_gru" else _orthogonal_core(made)

    encoder, actor_core = body()
    kwargs: dict = {}
    if isinstance(action_space, gym.spaces.Discrete):
        head: nn.Module = MLP(hidden_size, int(action_space.n), head_cells, activation, output_gain=0.01)
        kwargs = dict(
            distribution_class=MaskedCategorical if masked else Categorical,
            distribution_kwargs=start_kwargs(action_space),
            dist_in_keys=mask_keys,
        )
    elif isinstance(action_space, gym.spaces.MultiDiscrete) and action_space.nvec.ndim == 1:
        nvec = [int(n) for n in action_space.nvec]
        head = MLP(hidden_size, sum(nvec), head_cells, activation, output_gain=0.01)
        kwargs = dict(
            distribution_class=MultiCategorical,
            distribution_kwargs={"nvec": nvec, **start_kwargs(action_space)},
            dist_in_keys=mask_keys,
        )
    elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if masked:
            raise ValueError("make_recurrent_actor_critic: masks apply to discrete action spaces, not to Box")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ValueError(f"make_recurrent_actor_critic: Box actions need finite bounds, got {action_space}")
        d = int(action_space.shape[0])
        out = d if log_std_mode == "separate" else 2 * d
        head = GaussianParams(
            MLP(hidden_size, out, head_cells, activation, output_gain=0.01), d, log_std_mode, init_log_std
        )
        kwargs = dict(dist_keys=[keys.LOC, keys.LOG_STD], distribution_class=DiagGaussian)
        kwargs["distribution_kwargs"] = {"tanh": tanh_squash}
    else:
        raise TypeError(f"make_recurrent_actor_critic: unsupported action space {action_space}")
    actor = RecurrentActor(actor_core, head, encoder, **kwargs)
    if recurrent_critic:
        critic_encoder, critic_core = body()
        critic: TensorDictModuleBase = RecurrentValue(
            critic_core, MLP(hidden_size, 1, head_cells, activation, output_gain=1.0), critic_encoder
        )
    else:
        critic = TensorDictModule(
            MLP(obs_size, 1, tuple(critic_cells), activation, output_gain=1.0),
            in_keys=[keys.OBSERVATION],
            out_keys=[keys.STATE_VALUE],
        )
    return RecurrentActorCritic(actor, critic)
