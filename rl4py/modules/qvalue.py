"""Q-value policies: the greedy :class:`QValueActor` and :class:`EpsilonGreedy` exploration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.activations import activation_class
from rl4py.modules.mlp import MLP

__all__ = ["EpsilonGreedy", "QValueActor", "greedy_action", "linear_schedule", "make_q_network"]


def greedy_action(action_value: torch.Tensor, action_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``argmax_a Q(s, a)`` over the last dim, among the allowed actions when a mask is given.

    Ties go to the lowest index (``torch.argmax``).

    Args:
        action_value: ``[*B, n_actions]``.
        action_mask: ``[*B, n_actions]`` bool, true = allowed; every row needs one allowed action.

    Returns:
        ``[*B]`` int64.
    """
    if action_mask is None:
        return action_value.argmax(-1)
    if action_mask.shape != action_value.shape or action_mask.dtype != torch.bool:
        raise ValueError(
            f"greedy_action: action_mask must be a bool tensor of shape {tuple(action_value.shape)}, "
            f"got {action_mask.dtype} {tuple(action_mask.shape)}"
        )
    return action_value.masked_fill(~action_mask, float("-inf")).argmax(-1)


def linear_schedule(start: float, end: float, steps: int, t: int) -> float:
    """Linear interpolation from ``start`` at ``t = 0`` to ``end`` at ``t = steps``, then constant.

    Args:
        start: value at ``t = 0``.
        end: value from ``t = steps`` on.
        steps: length of the ramp (0: ``end`` throughout).
        t: the current step (``>= 0``).

    Returns:
        ``start + (end - start) * min(t / steps, 1)``.

    Examples:
        >>> linear_schedule(1.0, 0.05, 10_000, 5_000)
        0.525
    """
    if steps < 0:
        raise ValueError(f"linear_schedule: steps must be >= 0, got {steps}")
    if t < 0:
        raise ValueError(f"linear_schedule: t must be >= 0, got {t}")
    if steps == 0 or t >= steps:
        return float(end)
    return float(start + (end - start) * (t / steps))


class QValueActor(TensorDictModuleBase):
    """Runs a Q-network and acts greedily.

    ``network`` maps the ``in_keys`` tensors (``"observation"`` ``[*B, obs_dim]``) to Q-values
    ``[*B, n_actions]``; the module writes them to ``"action_value"`` and the greedy action
    ``argmax_a Q(s, a)`` ``[*B]`` (int64) to ``"action"``. With ``action_mask_key`` the argmax
    runs over the allowed actions only. It is also the ``value_network`` of
    :class:`rl4py.losses.DQNLoss`, which reads ``"action_value"``.

    Args:
        network: module from the ``in_keys`` tensors to ``[*B, n_actions]``.
        in_keys: entries fed to ``network``, in order.
        action_key: where the greedy action goes.
        action_value_key: where the Q-values go.
        action_mask_key: a bool ``[*B, n_actions]`` entry (true = allowed), or ``None``.

    Examples:
        >>> from tensordict import TensorDict
        >>> actor = QValueActor(nn.Linear(4, 2))
        >>> td = actor(TensorDict({"observation": torch.zeros(3, 4)}, batch_size=[3]))
        >>> td["action_value"].shape, td["action"].shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self,
        network: nn.Module,
        in_keys: Sequence[NestedKey] = (keys.OBSERVATION,),
        action_key: NestedKey = keys.ACTION,
        action_value_key: NestedKey = keys.ACTION_VALUE,
        action_mask_key: NestedKey | None = None,
    ) -> None:
        super().__init__()
        self.network = network
        self._network_in_keys = list(in_keys)
        self.in_keys = self._network_in_keys + ([action_mask_key] if action_mask_key is not None else [])
        self.out_keys = [action_value_key, action_key]
        self.action_key = action_key
        self.action_value_key = action_value_key
        self.action_mask_key = action_mask_key

    def action_value(self, td: TensorDictBase) -> torch.Tensor:
        """The Q-values ``[*B, n_actions]`` at ``td`` (with gradient); writes nothing."""
        return self.network(*(td.get(key) for key in self._network_in_keys))

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        action_value = self.action_value(td)
        mask = td.get(self.action_mask_key) if self.action_mask_key is not None else None
        td.set(self.action_value_key, action_value)
        td.set(self.action_key, greedy_action(action_value, mask))
        return td


def _num_actions(action_space: int | gym.spaces.Discrete | Any) -> int:
    space = getattr(action_space, "single_action_space", action_space)
    if isinstance(space, gym.spaces.Discrete):
        if int(space.start) != 0:
            raise ValueError(f"EpsilonGreedy: needs a Discrete space starting at 0, got {space}")
        return int(space.n)
    if isinstance(space, int) and not isinstance(space, bool) and space >= 1:
        return space
    raise TypeError(
        "EpsilonGreedy: action_space must be a positive int (the number of actions), a gymnasium Discrete "
        f"space or an env with a Discrete single_action_space, got {action_space!r}"
    )


class EpsilonGreedy(TensorDictModuleBase):
    """Epsilon-greedy exploration: with probability ``epsilon`` the action is uniformly random.

    ``forward`` runs ``actor`` (when given; otherwise it reads the ``"action"`` an earlier module
    wrote), then replaces each sub-env's action, independently with probability ``epsilon``, by
    one drawn uniformly from ``{0, ..., n_actions - 1}`` (from the allowed actions when
    ``action_mask_key`` is set). Vectorized over the batch, two random draws per call.

    ``epsilon`` follows :func:`linear_schedule` from ``eps_start`` to ``eps_end`` over
    ``annealing_steps`` env steps; :meth:`step` advances it (the trainer calls
    ``step(frames_collected)`` after each rollout). The step count and the generator state are
    saved in ``state_dict()``.

    Args:
        action_space: the number of actions, a ``gymnasium.spaces.Discrete``, or an env whose
            ``single_action_space`` is one.
        eps_start: epsilon at step 0.
        eps_end: epsilon after ``annealing_steps``.
        annealing_steps: length of the linear ramp, in env steps.
        generator: a ``torch.Generator`` (best on the actions' device; the draws of one on another
            device are moved over), an int seed (a CPU generator is made from it), or ``None`` for
            torch's global RNG.
        actor: the greedy policy to run first (a :class:`QValueActor`), or ``None``.
        action_key: the action read and replaced.
        action_mask_key: a bool ``[*B, n_actions]`` entry (true = allowed), or ``None``.

    Examples:
        >>> from tensordict import TensorDict
        >>> policy = EpsilonGreedy(2, eps_start=1.0, eps_end=0.05, annealing_steps=100, generator=0,
        ...                        actor=QValueActor(nn.Linear(4, 2)))
        >>> policy(TensorDict({"observation": torch.zeros(3, 4)}, batch_size=[3]))["action"].shape
        torch.Size([3])
        >>> policy.step(50); round(policy.epsilon, 3)
        0.525
    """

    def __init__(
        self,
        action_space: int | gym.spaces.Discrete | Any,
        eps_start: float = 1.0,
        eps_end: float = 0.05,
        annealing_steps: int = 10_000,
        generator: torch.Generator | int | None = None,
        *,
        actor: TensorDictModuleBase | None = None,
        action_key: NestedKey = keys.ACTION,
        action_mask_key: NestedKey | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("eps_start", eps_start), ("eps_end", eps_end)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"EpsilonGreedy: {name} must be in [0, 1], got {value}")
        if annealing_steps < 0:
            raise ValueError(f"EpsilonGreedy: annealing_steps must be >= 0, got {annealing_steps}")
        self.n_actions = _num_actions(action_space)
        self.eps_start = float(eps_start)
        self.eps_end = float(eps_end)
        self.annealing_steps = int(annealing_steps)
        if isinstance(generator, int) and not isinstance(generator, bool):
            generator = torch.Generator().manual_seed(generator)
        elif generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"EpsilonGreedy: generator must be a torch.Generator, an int seed or None, got {generator!r}"
            )
        self.generator = generator
        self.actor = actor
        self.action_key = action_key
        self.action_mask_key = action_mask_key
        self.steps = 0
        actor_in = list(getattr(actor, "in_keys", [])) if actor is not None else [action_key]
        self.in_keys = actor_in + ([action_mask_key] if action_mask_key is not None else [])
        self.out_keys = list(getattr(actor, "out_keys", [action_key])) if actor is not None else [action_key]

    @property
    def epsilon(self) -> float:
        """The current exploration probability."""
        return linear_schedule(self.eps_start, self.eps_end, self.annealing_steps, self.steps)

    def step(self, frames: int = 1) -> None:
        """Advances the schedule by ``frames`` env steps."""
        if frames < 0:
            raise ValueError(f"EpsilonGreedy.step: frames must be >= 0, got {frames}")
        self.steps += int(frames)

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        if self.actor is not None:
            td = self.actor(td)
        action = td.get(self.action_key)
        eps = self.epsilon
        if eps == 0.0:
            return td
        shape, device, g = action.shape, action.device, self.generator
        # draws happen on the generator's device (an int seed makes a CPU one), then move to the actions'
        draw_device = device if g is None else g.device
        if self.action_mask_key is None:
            random_action = torch.randint(self.n_actions, shape, generator=g, device=draw_device).to(device)
        else:
            # uniform over the allowed actions: argmax of uniform scores, disallowed ones set below 0
            mask = td.get(self.action_mask_key)
            scores = torch.rand((*shape, self.n_actions), generator=g, device=draw_device).to(device)
            random_action = scores.masked_fill_(~mask, -1.0).argmax(-1)
        if eps == 1.0:
            td.set(self.action_key, random_action.to(action.dtype))
            return td
        explore = torch.rand(shape, generator=g, device=draw_device).to(device) < eps
        td.set(self.action_key, torch.where(explore, random_action.to(action.dtype), action))
        return td

    def get_extra_state(self) -> dict:
        state: dict[str, Any] = {"steps": self.steps}
        if self.generator is not None:
            state["generator"] = self.generator.get_state()
        return state

    def set_extra_state(self, state: dict) -> None:
        self.steps = int(state["steps"])
        if "generator" in state:
            if self.generator is None:
                raise ValueError(
                    "EpsilonGreedy.load_state_dict: the state holds a generator state but this module uses "
                    "torch's global RNG (generator=None)"
                )
            self.generator.set_state(state["generator"])

    def extra_repr(self) -> str:
        return (
            f"n_actions={self.n_actions}, eps_start={self.eps_start}, eps_end={self.eps_end}, "
            f"annealing_steps={self.annealing_steps}, epsilon={self.epsilon:.4f}"
        )


def make_q_network(
    observation_size: int,
    n_actions: int,
    num_cells: Sequence[int] = (64, 64),
    activation: str | type[nn.Module] = "relu",
    action_mask_key: NestedKey | None = None,
) -> QValueActor:
    """A :class:`QValueActor` over an :class:`~rl4py.modules.MLP` (the DQN network).

    Maps ``"observation"`` ``[*B, observation_size]`` to ``"action_value"`` ``[*B, n_actions]``
    and the greedy ``"action"``. Hidden layers: orthogonal init with gain ``sqrt(2)``, zero bias;
    output layer gain 1.

    Args:
        observation_size: size of the flat observation.
        n_actions: number of discrete actions.
        num_cells: hidden sizes.
        activation: ``"relu"`` (the rl4burn book's ``QNet``), ``"tanh"``
            (:class:`~rl4py.modules.Tanh`) or an activation class.
        action_mask_key: act greedily among the actions this bool entry allows (``None``: all).

    Returns:
        The Q-network as a greedy policy.

    Examples:
        >>> q = make_q_network(4, 2)
        >>> sum(p.numel() for p in q.parameters())
        4610
    """
    activation = activation_class(activation, "make_q_network")
    return QValueActor(
        MLP(observation_size, n_actions, tuple(num_cells), activation, output_gain=1.0),
        action_mask_key=action_mask_key,
    )
