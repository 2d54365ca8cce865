"""Trained policies called on plain observations: :func:`predict` and :class:`Policy` (Stable-Baselines3's habit).

A user with an observation from ``env.step`` (a numpy array or a tensor, one ``[*obs_shape]`` or a
batch ``[B, *obs_shape]``) gets the action back in the same kind, with no TensorDict to build:

    action = predict(actor, obs)                                   # feed-forward actors
    action, state = predict(recurrent_actor, obs, state=state)     # recurrent actors carry a state

Any rl4py actor works (:class:`~rl4py.modules.ProbabilisticActor`, :class:`~rl4py.modules.QValueActor`,
:class:`~rl4py.modules.RecurrentActor` ...), and so does anything holding one as ``.actor`` (a
:class:`~rl4py.modules.RecurrentActorCritic`, a trainer's ``TrainResult`` or a LightningModule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import InteractionType, set_interaction_type
from torch import nn

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.qvalue import EpsilonGreedy, QValueActor
from rl4py.modules.recurrent_actor import RecurrentActorCritic

__all__ = ["Policy", "predict"]

#: what :func:`predict` takes and gives back: a tensor or a numpy array
Array = Union[torch.Tensor, np.ndarray]


def resolve_actor(policy: Any, deterministic: bool = True) -> nn.Module:
    """The TensorDict actor behind ``policy``.

    A :class:`~rl4py.modules.RecurrentActorCritic` gives its actor; an :class:`~rl4py.modules.EpsilonGreedy`
    its greedy actor when ``deterministic`` (itself otherwise); an object that is not a TensorDict module
    but holds one as ``.actor`` (a LightningModule, a ``TrainResult``) gives that one.

    Raises:
        TypeError: ``policy`` is none of these.
    """
    if isinstance(policy, RecurrentActorCritic):
        return policy.actor
    if isinstance(policy, EpsilonGreedy):
        if policy.actor is None:
            raise TypeError("predict: this EpsilonGreedy has no actor to compute the greedy action (actor=None)")
        return policy.actor if deterministic else policy
    if isinstance(policy, nn.Module) and hasattr(policy, "in_keys") and hasattr(policy, "out_keys"):
        return policy
    inner = getattr(policy, "actor", None)
    if inner is not None and inner is not policy:
        return resolve_actor(inner, deterministic)
    hint = "" if inner is not None else " (it has no .actor; a LightningModule builds it in configure_model)"
    raise TypeError(
        f"predict: expected an rl4py actor (a TensorDict module with in_keys/out_keys) or an object holding one "
        f"as .actor, got {type(policy).__name__}{hint}"
    )


def action_mask_key(actor: nn.Module) -> NestedKey | None:
    """The entry of ``actor``'s action mask, or ``None`` when it reads none."""
    if isinstance(actor, ProbabilisticActor):
        return actor.dist_in_keys.get("mask")
    if isinstance(actor, QValueActor):
        return actor.action_mask_key
    if isinstance(actor, EpsilonGreedy):
        return actor.action_mask_key or (action_mask_key(actor.actor) if actor.actor is not None else None)
    return keys.ACTION_MASK if keys.ACTION_MASK in list(getattr(actor, "in_keys", [])) else None


def _recurrent_state_keys(actor: nn.Module) -> list[NestedKey]:
    if not hasattr(actor, "initial_state"):
        return []
    return list(actor.initial_state(1).keys(include_nested=True, leaves_only=True))


def observation_key(actor: nn.Module) -> NestedKey:
    """The one observation entry ``actor`` reads (its in-keys less the mask, ``"is_init"`` and its state).

    Raises:
        TypeError: the actor reads several inputs (a plain observation cannot fill them).
    """
    skip = {action_mask_key(actor), keys.IS_INIT, *_recurrent_state_keys(actor)}
    inputs = [k for k in getattr(actor, "in_keys", []) if k not in skip]
    if len(inputs) != 1:
        raise TypeError(
            f"predict: {type(actor).__name__} reads {inputs}; a plain observation fills exactly one input entry"
        )
    return inputs[0]


def _first_linear_in_features(module: nn.Module | None) -> int | None:
    """``in_features`` of the layer that first sees the input, for the networks rl4py builds, else ``None``."""
    while module is not None:
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, nn.Sequential) and len(module):
            module = module[0]
        else:
            module = getattr(module, "network", None)
    return None


def infer_observation_shape(actor: nn.Module) -> tuple[int, ...] | None:
    """The flat observation shape ``(obs_dim,)`` an rl4py-built actor expects, or ``None`` if unknown."""
    if isinstance(actor, EpsilonGreedy):
        return infer_observation_shape(actor.actor) if actor.actor is not None else None
    encoder = getattr(actor, "encoder", None)
    if encoder is not None and hasattr(actor, "core"):  # RecurrentActor: encoder (or Identity) -> core
        size = actor.core.input_size if isinstance(encoder, nn.Identity) else _first_linear_in_features(encoder)
    elif isinstance(actor, ProbabilisticActor):
        size = _first_linear_in_features(actor.module)
    elif isinstance(actor, QValueActor):
        size = _first_linear_in_features(actor.network)
    else:
        size = None
    return None if size is None else (int(size),)


def _shape_of(observation_shape: Sequence[int] | gym.Space | None) -> tuple[int, ...] | None:
    if observation_shape is None:
        return None
    if isinstance(observation_shape, gym.Space):
        if observation_shape.shape is None:
            raise TypeError(f"Policy: observation_shape must be a space with a shape, got {observation_shape}")
        return tuple(int(n) for n in observation_shape.shape)
    return tuple(int(n) for n in observation_shape)


def _as_tensor(name: str, value: Array) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"Policy.predict: {name} must be a numeric array, got dtype {value.dtype}")
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        return value
    raise TypeError(f"Policy.predict: {name} must be a torch.Tensor or a numpy array, got {type(value).__name__}")


class Policy(nn.Module):
    """A trained actor called on plain observations (tensor or numpy), as SB3's ``model.predict``.

    :meth:`predict` checks the observation (shape, dtype, finite values), wraps it in a
    ``TensorDict``, runs the actor in its mode (``deterministic``) or sampling, and hands the action
    back in the input's kind: a numpy array for a numpy input, a tensor on the input's device for a
    tensor. A recurrent actor (one with ``initial_state``) also takes and returns its state.

    Args:
        actor: an rl4py actor or an object holding one as ``.actor`` (see :func:`resolve_actor`).
        observation_shape: one observation's shape, or its gymnasium space; ``None`` infers
            ``(obs_dim,)`` from the first layer of an rl4py-built actor (left unchecked if it cannot).
        observation_transform: a module applied to the observation batch before the actor (the
            normalization a run trained with, say), ``[B, *obs_shape] -> [B, *obs_shape]``.

    Examples:
        >>> import numpy as np
        >>> from rl4py.modules import make_discrete_actor_critic
        >>> actor, _ = make_discrete_actor_critic(4, 2)
        >>> policy = Policy(actor)
        >>> policy.predict(np.zeros(4, dtype=np.float32)).shape    # one observation
        ()
        >>> policy.predict(torch.zeros(8, 4)).shape                # a batch
        torch.Size([8])
    """

    def __init__(
        self,
        actor: Any,
        observation_shape: Sequence[int] | gym.Space | None = None,
        observation_transform: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.actor = resolve_actor(actor, deterministic=False)
        shape = _shape_of(observation_shape)
        self.observation_shape = shape if shape is not None else infer_observation_shape(self.actor)
        self.observation_transform = observation_transform

    @property
    def recurrent(self) -> bool:
        """Whether the actor carries a recurrent state (has ``initial_state``)."""
        return hasattr(resolve_actor(self.actor, True), "initial_state")

    def initial_state(self, batch_size: int = 1) -> TensorDictBase:
        """The recurrent actor's episode-start state, ``TensorDict[batch_size]`` (what ``state=None`` uses)."""
        actor = resolve_actor(self.actor, True)
        if not hasattr(actor, "initial_state"):
            raise TypeError(f"Policy.initial_state: {type(actor).__name__} is not recurrent (no initial_state)")
        return actor.initial_state(batch_size, self._device())

    def _device(self) -> torch.device:
        param = next(self.actor.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def _dtype(self) -> torch.dtype:
        param = next((p for p in self.actor.parameters() if p.is_floating_point()), None)
        return param.dtype if param is not None else torch.get_default_dtype()

    def _observation(self, observation: Array) -> tuple[torch.Tensor, bool]:
        obs = _as_tensor("observation", observation)
        if obs.dtype == torch.bool or obs.is_complex():
            raise TypeError(f"Policy.predict: observation must be real-valued (float or int), got {obs.dtype}")
        shape = self.observation_shape
        if shape is None:
            if obs.dim() not in (1, 2):
                raise ValueError(
                    f"Policy.predict: observation has shape {tuple(obs.shape)}, expected [obs_dim] or [B, obs_dim] "
                    "(pass observation_shape to Policy for other observations)"
                )
            single = obs.dim() == 1
        elif tuple(obs.shape) == shape:
            single = True
        elif obs.dim() == len(shape) + 1 and tuple(obs.shape[1:]) == shape:
            single = False
        else:
            raise ValueError(
                f"Policy.predict: observation has shape {tuple(obs.shape)}, expected {shape} for one observation "
                f"or {('B', *shape)} for a batch"
            )
        obs = obs.unsqueeze(0) if single else obs
        obs = obs.to(device=self._device(), dtype=self._dtype())
        if not bool(torch.isfinite(obs).all()):
            raise ValueError("Policy.predict: observation holds NaN or inf values")
        return obs, single

    def _mask_key(self, actor: nn.Module, action_mask: Array | None) -> NestedKey | None:
        key = action_mask_key(actor)
        if key is None:
            if action_mask is not None:
                raise ValueError(
                    f"Policy.predict: got an action_mask but {type(actor).__name__} reads none "
                    "(build it with masked=True / action_mask_key)"
                )
            return None
        if action_mask is None:
            raise ValueError(f"Policy.predict: {type(actor).__name__} reads an action mask {key!r}; pass action_mask")
        return key

    def _mask_tensor(self, action_mask: Array, batch: int, single: bool) -> torch.Tensor:
        mask = _as_tensor("action_mask", action_mask)
        if mask.dtype != torch.bool:
            raise TypeError(f"Policy.predict: action_mask must be bool (true = allowed), got {mask.dtype}")
        if single:
            mask = mask.unsqueeze(0)
        if mask.dim() != 2 or mask.shape[0] != batch:
            expected = "[n_actions] for one observation" if single else f"[{batch}, n_actions] for this batch"
            raise ValueError(f"Policy.predict: action_mask has shape {tuple(mask.shape)}, expected {expected}")
        if not bool(mask.any(-1).all()):
            raise ValueError("Policy.predict: some row of action_mask allows no action; every row needs one")
        return mask.to(self._device())

    def predict(
        self,
        observation: Array,
        deterministic: bool = True,
        action_mask: Array | None = None,
        state: TensorDictBase | None = None,
        episode_start: Array | None = None,
    ) -> Array | tuple[Array, TensorDictBase]:
        """The action for ``observation``; for a recurrent actor, ``(action, next_state)``.

        Args:
            observation: one observation ``[*obs_shape]`` or a batch ``[B, *obs_shape]``, a tensor or a
                numpy array of real numbers (cast to the actor's dtype and device).
            deterministic: the distribution's mode (``InteractionType.DETERMINISTIC``: argmax, the
                Gaussian mean, ``tanh`` of it when squashed); ``False`` samples. A
                :class:`~rl4py.modules.QValueActor` is greedy either way (an
                :class:`~rl4py.modules.EpsilonGreedy` explores when ``False``).
            action_mask: bool ``[n_actions]`` / ``[B, n_actions]`` (true = allowed), required by a
                masked actor and refused by the others.
            state: recurrent actors only: the state :meth:`predict` returned last (``TensorDict[B]``),
                or ``None`` to start episodes from :meth:`initial_state`.
            episode_start: recurrent actors only: bool ``[B]`` (or a scalar for one observation), true
                where this observation starts an episode (its state is reset); default all false when
                ``state`` is given.

        Returns:
            The action: ``[*action_shape]`` for one observation, ``[B, *action_shape]`` for a batch
            (int64 for discrete spaces), a numpy array for a numpy observation, else a tensor on the
            observation's device. Recurrent actors return ``(action, next_state)``.

        Raises:
            ValueError: a wrong observation shape, NaN/inf, a missing or unexpected mask, a state of
                another batch size.
            TypeError: a non-numeric observation, a non-bool mask, a state given to a feed-forward actor.
        """
        actor = resolve_actor(self.actor, deterministic)
        obs, single = self._observation(observation)
        batch = obs.shape[0]
        if self.observation_transform is not None:
            obs = self.observation_transform(obs)
        td = TensorDict({observation_key(actor): obs}, batch_size=[batch], device=obs.device)
        key = self._mask_key(actor, action_mask)
        if key is not None:
            td.set(key, self._mask_tensor(action_mask, batch, single))
        recurrent = hasattr(actor, "initial_state")
        if not recurrent and (state is not None or episode_start is not None):
            raise TypeError(f"Policy.predict: {type(actor).__name__} is not recurrent; it takes no state")
        if recurrent:
            td = self._feed_state(actor, td, state, episode_start, single)
        mode = InteractionType.DETERMINISTIC if deterministic else InteractionType.RANDOM
        with torch.no_grad(), set_interaction_type(mode):
            out = actor(td)
        action = out.get(getattr(actor, "action_key", keys.ACTION))
        action = action[0] if single else action
        action = action.cpu().numpy() if isinstance(observation, np.ndarray) else action.to(observation.device)
        if not recurrent:
            return action
        next_state = out.get(keys.NEXT).select(*_recurrent_state_keys(actor))
        return action, next_state

    def _feed_state(
        self,
        actor: nn.Module,
        td: TensorDictBase,
        state: TensorDictBase | None,
        episode_start: Array | None,
        single: bool,
    ) -> TensorDictBase:
        batch = td.batch_size[0]
        if state is None:
            state = actor.initial_state(batch, td.device)
            is_init = torch.ones(batch, 1, dtype=torch.bool, device=td.device)
        else:
            if not isinstance(state, TensorDictBase) or tuple(state.batch_size) != (batch,):
                got = tuple(state.batch_size) if isinstance(state, TensorDictBase) else type(state).__name__
                raise ValueError(
                    f"Policy.predict: state must be the TensorDict[{batch}] a previous predict returned, got {got}"
                )
            missing = [k for k in _recurrent_state_keys(actor) if k not in state.keys(include_nested=True)]
            if missing:
                raise ValueError(f"Policy.predict: state lacks the entries {missing} of {type(actor).__name__}")
            is_init = torch.zeros(batch, 1, dtype=torch.bool, device=td.device)
        if episode_start is not None:
            start = _as_tensor("episode_start", episode_start).to(device=td.device)
            if start.dtype != torch.bool or tuple(start.shape) != (() if single else (batch,)):
                raise ValueError(
                    f"Policy.predict: episode_start must be bool {'[]' if single else [batch]}, "
                    f"got {start.dtype} {tuple(start.shape)}"
                )
            is_init = is_init | start.reshape(batch, 1)
        td.update(state.to(td.device))
        td.set(keys.IS_INIT, is_init)
        return td


def predict(
    policy: Any,
    observation: Array,
    deterministic: bool = True,
    action_mask: Array | None = None,
    state: TensorDictBase | None = None,
    episode_start: Array | None = None,
) -> Array | tuple[Array, TensorDictBase]:
    """``Policy(policy).predict(...)``: the action of a trained actor for a plain observation.

    Bind it as a method (``predict = rl4py.modules.predict`` in a class body) to give any object
    holding an ``.actor`` a ``predict(obs)``, as the LightningModules do.

    Args:
        policy: an rl4py actor or an object holding one as ``.actor``.
        observation, deterministic, action_mask, state, episode_start: as :meth:`Policy.predict`.

    Returns:
        As :meth:`Policy.predict`.

    Examples:
        >>> import gymnasium as gym
        >>> from rl4py.modules import make_actor_critic
        >>> space = gym.spaces.Box(-1.0, 1.0, (3,))
        >>> actor, _ = make_actor_critic(space, gym.spaces.Discrete(4), masked=True)
        >>> mask = np.array([False, False, True, False])
        >>> int(predict(actor, space.sample(), action_mask=mask))
        2
    """
    return Policy(policy).predict(observation, deterministic, action_mask, state, episode_start)
