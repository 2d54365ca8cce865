"""The batched, TensorDict-in / TensorDict-out environment interface.

Every rl4py environment (native torch envs, the gymnasium adapter, wrappers)
subclasses :class:`EnvBase`. Subclasses implement two hooks on raw tensors,
:meth:`EnvBase._reset` and :meth:`EnvBase._step`; the base class validates
input, wraps results in TensorDicts and exposes the gymnasium spaces.

Layout of one step (TorchRL-compatible)::

    root:  "observation" [B, *obs_shape], "action" [B, *action_shape]
    next:  ("next", "observation")  true next observation (the terminal one at an episode end)
           ("next", "reward")       [B, 1] float ([B, K] for an env with K reward heads)
           ("next", "terminated")   [B, 1] bool
           ("next", "truncated")    [B, 1] bool
           ("next", "done")         [B, 1] bool, terminated | truncated

Finished sub-envs are reset inside the step: :meth:`EnvBase.step_and_reset`
returns the transition and the root TensorDict of the following step, whose
observation is the first one of the new episode where a sub-env finished.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector.utils import batch_space
from tensordict import TensorDict

from rl4py import keys
from rl4py.envs.action_masks import mask_size
from rl4py.keys import NestedKey

__all__ = ["EnvBase", "EnvStep", "NestedKey", "check_finite"]

#: the entries every step returns under ``"next"`` besides the observation entries
_STEP_KEYS: tuple[str, ...] = (keys.REWARD, keys.TERMINATED, keys.TRUNCATED, keys.DONE)


class EnvStep(NamedTuple):
    """The raw tensors of one batched step.

    Attributes:
        next: entries stored under ``"next"``: the observation entries of the true next state,
            ``"reward"`` ``[B, 1]``, ``"terminated"``/``"truncated"``/``"done"`` ``[B, 1]`` bool,
            and any extra per-step entries (for example ``"episode_return"``).
        root: the observation entries of the following step's root, after auto-reset.
    """

    next: dict[NestedKey, torch.Tensor]
    root: dict[NestedKey, torch.Tensor]


def check_finite(env_name: str, key: NestedKey, value: torch.Tensor) -> None:
    """Raises ``ValueError`` if a floating tensor holds NaN or inf.

    Args:
        env_name: the env named in the message.
        key: the TensorDict key named in the message.
        value: the tensor to check.
    """
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        bad = (~torch.isfinite(value)).nonzero()[0].tolist()
        raise ValueError(
            f"{env_name}: {key!r} holds a non-finite value {value[tuple(bad)].item()} at index {bad}; "
            "expected finite numbers"
        )


class EnvBase(ABC):
    """Base class of batched environments with a TensorDict interface.

    Args:
        num_envs: number of sub-environments B stepped together.
        single_observation_space: observation space of one sub-env.
        single_action_space: action space of one sub-env.
        device: device of every tensor the env returns and accepts.
        validate: check every action (shape, dtype, bounds), the shape, dtype and device of
            every returned entry (observations ``[B, *space.shape]``, ``"action_mask"``
            ``[B, mask_size]`` bool, ``("next", "reward")`` ``[B, reward_heads]`` float, the done flags
            ``[B, 1]`` bool) and every observation and reward (NaN/inf), and raise an error
            naming the env, the key, the expected and the received value. The shape and dtype
            checks read metadata only (no device sync). Costs a few microseconds per step.

    **Deferred checks.** The value checks (action bounds, NaN/inf) read tensor values: on an
    accelerator each is a host-device sync. :meth:`defer_checks` turns them into device-side
    reductions run once per :meth:`flush_checks` (the collector flushes once per rollout), which
    raises the error the step itself would have raised, naming the step. Shape, dtype and device
    checks stay eager. Only an env whose ``check_action`` is the base one (no state-dependent
    checks such as action masks) defers; others check every step as before.
    """

    #: observation entries the env returns (``"observation"``, ``"action_mask"``, ...).
    observation_keys: tuple[NestedKey, ...] = (keys.OBSERVATION,)
    #: :meth:`state_dict` captures everything the env's future depends on, so a restored env
    #: continues exactly; envs that cannot (a gymnasium env's internals) set this to False.
    exact_resume: bool = True
    #: the env's hooks return well-formed entries by construction (the native envs, whose tests
    #: check the layout): ``validate`` then checks the returned entries' shape, dtype and device at
    #: the first step only, not on every step (actions are still checked on every step).
    trusted_entries: bool = False
    #: steps recorded before :meth:`flush_checks` runs by itself (bounds the references a
    #: deferring env holds when nothing flushes it).
    max_deferred_steps: int = 4096
    #: reward components ``K`` the env returns: ``("next", "reward")`` is ``[B, K]`` (multi-head value
    #: decomposition, :class:`~rl4py.values.MultiHeadGAE`); 1 for a plain scalar reward ``[B, 1]``.
    reward_heads: int = 1

    def __init__(
        self,
        *,
        num_envs: int,
        single_observation_space: gym.Space,
        single_action_space: gym.Space,
        device: torch.device | str = "cpu",
        validate: bool = True,
    ) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"{type(self).__name__}: num_envs must be a positive int, got {num_envs!r}")
        self.num_envs = num_envs
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            # tensors report cuda:N, never bare "cuda": compare actions against the indexed device
            device = torch.device("cuda", torch.cuda.current_device())
        self.device = device
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, num_envs)
        self.action_space = batch_space(single_action_space, num_envs)
        self.validate = validate
        #: check observations and rewards for NaN/inf when ``validate`` (native envs whose
        #: dynamics cannot produce them switch this off).
        self.check_outputs = True
        self.batch_size = torch.Size([num_envs])
        self._action_shape = (num_envs, *(single_action_space.shape or ()))
        #: per returned key, ``(expected shape or None, dtype kind or None, what to name)``
        self._entry_specs: dict[NestedKey, tuple[tuple[int, ...] | None, str | None, str]] = {}
        #: ``(action, floating next entries)`` of the steps whose value checks wait for
        #: :meth:`flush_checks`; ``None`` when checks are eager
        self._deferred: list[tuple[torch.Tensor, tuple[tuple[NestedKey, torch.Tensor], ...]]] | None = None
        #: accelerator results in flight: ``(event, host flags, their steps)``
        self._checks_in_flight: list[tuple[torch.cuda.Event, torch.Tensor, list]] = []
        self._entries_checked = False

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        """Resets every sub-env; returns the observation entries, each ``[B, ...]``."""

    @abstractmethod
    def _step(self, action: torch.Tensor) -> EnvStep:
        """Steps every sub-env with ``action`` ``[B, *action_shape]`` and auto-resets finished ones."""

    # ------------------------------------------------------------- tensor API
    @property
    def name(self) -> str:
        """The name used in error messages."""
        return type(self).__name__

    def reset_tensors(self, seed: int | None = None) -> dict[NestedKey, torch.Tensor]:
        """Resets all sub-envs and returns the raw observation entries (the collector's fast path)."""
        obs = self._reset(seed)
        if self.validate:
            self.check_entries(obs, self.observation_keys, where=None)
            if self.check_outputs:
                for key, value in obs.items():
                    check_finite(self.name, key, value)
        return obs

    def step_tensors(self, action: torch.Tensor) -> EnvStep:
        """Validates ``action`` and steps; the raw-tensor form of :meth:`step_and_reset`."""
        if not self.validate:
            return self._step(action)
        deferred = self._deferred
        if deferred is None:
            self.check_action(action)
        else:
            self._check_action_metadata(action)
        out = self._step(action)
        if not (self.trusted_entries and self._entries_checked):
            self.check_entries(out.next, (*self.observation_keys, *_STEP_KEYS), where=keys.NEXT)
            self.check_entries(out.root, self.observation_keys, where=None)
            self._entries_checked = True
        if deferred is None:
            if self.check_outputs:
                for key, value in out.next.items():
                    check_finite(self.name, keys.next_key(key), value)
        else:
            floats = tuple((k, v) for k, v in out.next.items() if v.is_floating_point()) if self.check_outputs else ()
            deferred.append((action, floats))
            if len(deferred) >= self.max_deferred_steps:
                self.flush_checks()
        return out

    # ------------------------------------------------------- deferred checks
    @property
    def can_defer_checks(self) -> bool:
        """Whether :meth:`defer_checks` defers anything: ``validate`` is on and ``check_action`` is
        the base one (an override may read the env's state, such as action masks, at the step)."""
        return self.validate and type(self).check_action is EnvBase.check_action

    def defer_checks(self, enabled: bool = True) -> None:
        """Starts (or, with ``False``, ends) deferring the value checks to :meth:`flush_checks`.

        While deferring, each step records references to its action and (with
        :attr:`check_outputs`) its floating ``"next"`` entries, and checks only their shape, dtype
        and device; the env must not write into tensors it returned. Ending runs
        :meth:`flush_checks` ``(wait=True)``. A no-op for an env that cannot defer
        (:attr:`can_defer_checks`).
        """
        if enabled:
            if self._deferred is None and self.can_defer_checks:
                self._deferred = []
        elif self._deferred is not None:
            self.flush_checks(wait=True)
            self._deferred = None

    def discard_deferred_checks(self) -> None:
        """Ends deferring and drops the recorded and in-flight checks unchecked (after an error
        elsewhere, so that one is not masked)."""
        self._deferred = None
        self._checks_in_flight = []

    def flush_checks(self, wait: bool = False) -> None:
        """Runs the value checks of the steps recorded since the last flush.

        One reduction per checked key over all recorded steps. On the CPU the result is read at
        once. On an accelerator the flags are copied to pinned host memory without blocking and
        read at a later flush once they have arrived (``wait=True``: now, with a sync), so a
        rollout loop never waits for the device.

        Raises:
            ValueError, TypeError: the error the first bad step's eager check raises, with the
                step's place among the flushed steps appended.
        """
        record = self._deferred
        if record:
            self._deferred = []
            flags = self._value_flags(record)
            if flags.device.type != "cuda":
                self._raise_if_bad(flags, record)
            else:
                host = torch.empty(flags.shape, dtype=flags.dtype, pin_memory=True)
                host.copy_(flags, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
                self._checks_in_flight.append((event, host, record))
        while self._checks_in_flight:
            event, host, steps = self._checks_in_flight[0]
            if not wait and not event.query():
                break
            event.synchronize()
            self._checks_in_flight.pop(0)
            self._raise_if_bad(host, steps)

    def _value_flags(self, record: list) -> torch.Tensor:
        """``[1 + keys]`` bool on the device: the actions are valid, each checked entry is finite."""
        flags = [self._action_values_ok(torch.stack([action for action, _ in record]))]
        by_key: dict[NestedKey, list[torch.Tensor]] = {}
        for _, floats in record:
            for key, value in floats:
                by_key.setdefault(key, []).append(value)
        for values in by_key.values():
            flags.append(torch.isfinite(torch.stack(values)).all())
        return torch.stack(flags)

    def _raise_if_bad(self, flags: torch.Tensor, record: list) -> None:
        if all(flags.tolist()):
            return
        for step, (action, floats) in enumerate(record):
            try:
                self.check_action(action)
                for key, value in floats:
                    check_finite(self.name, keys.next_key(key), value)
            except (ValueError, TypeError) as error:
                raise type(error)(
                    f"{error} (at step {step + 1} of the {len(record)} steps whose checks were deferred to "
                    "flush_checks)"
                ) from None
        raise RuntimeError(
            f"{self.name}: the deferred checks of {len(record)} steps found an action outside the action space "
            "or a non-finite output, but no single step does now: a tensor was written to after its step "
            "(a deferring env must not write into tensors it returned)"
        )

    # ------------------------------------------------------------ validation
    def check_entries(
        self, entries: dict[NestedKey, torch.Tensor], required: tuple[NestedKey, ...], where: str | None
    ) -> None:
        """Checks the shape, dtype and device of the entries an env hook returned (metadata only: no sync).

        Every key of ``required`` must be present. Observation entries must be
        ``[B, *space.shape]`` (the space of the entry in ``single_observation_space``), floating
        for a floating ``Box`` and integer or bool for the integer spaces; ``"action_mask"``
        ``[B, mask_size]`` bool; ``"reward"`` ``[B, reward_heads]`` floating; ``"terminated"``,
        ``"truncated"``, ``"done"`` ``[B, 1]`` bool. Any other entry must be batched,
        ``[B, ...]``. Every entry must be on :attr:`device`.

        Args:
            entries: the returned entries, ``{key: tensor}``.
            required: the keys that must be present.
            where: ``"next"`` for a step's ``next`` entries (named as ``("next", key)``), ``None``
                for observation entries of a reset or of the following step's root.

        Raises:
            KeyError: a required entry is missing.
            TypeError: an entry is not a tensor, or has the wrong dtype.
            ValueError: an entry has the wrong shape or device.
        """
        for key in required:
            if key not in entries:
                name = keys.next_key(key) if where else key
                raise KeyError(
                    f"{self.name}: the {'step' if where else 'reset/root'} entries lack {name!r}; "
                    f"got keys {list(entries)}"
                )
        b = self.num_envs
        for key, value in entries.items():
            spec = self._entry_specs.get(key)
            if spec is None:
                spec = self._entry_specs[key] = self._entry_spec(key)
            shape, kind, what = spec
            name = keys.next_key(key) if where else key
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{self.name}: {name!r} must be a torch.Tensor, got {type(value).__name__}")
            got = tuple(value.shape)
            if shape is None:
                if not got or got[0] != b:
                    raise ValueError(
                        f"{self.name}: {name!r} has shape {got}, expected a leading batch dim of size "
                        f"num_envs={b} ([B, ...])"
                    )
            elif got != shape:
                raise ValueError(f"{self.name}: {name!r} has shape {got}, expected {shape} ({what})")
            if kind is not None:
                dtype = value.dtype
                if kind == "bool":
                    ok = dtype == torch.bool
                elif kind == "float":
                    ok = dtype.is_floating_point
                else:  # "int": integer or bool
                    ok = not dtype.is_floating_point and not dtype.is_complex
                if not ok:
                    expected = {"bool": "torch.bool", "float": "a floating dtype", "int": "an integer dtype"}[kind]
                    raise TypeError(f"{self.name}: {name!r} has dtype {dtype}, expected {expected} ({what})")
            if value.device != self.device:
                raise ValueError(f"{self.name}: {name!r} is on {value.device}, expected the env's device {self.device}")

    def _entry_spec(self, key: NestedKey) -> tuple[tuple[int, ...] | None, str | None, str]:
        """``(shape, dtype kind, description)`` of a returned entry, from the spaces."""
        b = self.num_envs
        if key == keys.REWARD:
            k = self.reward_heads
            if not isinstance(k, int) or k < 1:
                raise ValueError(f"{self.name}: reward_heads must be a positive int, got {k!r}")
            if k == 1:
                return (b, 1), "float", "[num_envs, 1] float; an env with K reward components sets reward_heads = K"
            return (b, k), "float", f"[num_envs, reward_heads] float, one reward per head (reward_heads={k})"
        if key in (keys.TERMINATED, keys.TRUNCATED, keys.DONE):
            return (b, 1), "bool", "[num_envs, 1] bool"
        if key == keys.ACTION_MASK:
            try:
                size = mask_size(self.single_action_space)
            except TypeError:
                return None, "bool", "bool"
            return (b, size), "bool", f"[num_envs, {size}] bool, one entry per choice of {self.single_action_space}"
        space = self.single_observation_space
        if isinstance(space, gym.spaces.Dict):
            space = space.spaces.get(key[-1] if isinstance(key, tuple) else key)
        elif key != keys.OBSERVATION:
            space = None
        if space is None or space.shape is None or key not in self.observation_keys:
            return None, None, "[num_envs, ...]"
        kind = None
        if isinstance(space, gym.spaces.Box):
            kind = "float" if np.issubdtype(space.dtype, np.floating) else "int"
        elif isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
            kind = "int"
        return (b, *space.shape), kind, f"[num_envs, *shape] of the observation space {space}"

    def check_action(self, action: torch.Tensor) -> None:
        """Raises ``ValueError``/``TypeError`` if ``action`` does not fit ``action_space`` (one device
        sync for the value check)."""
        self._check_action_metadata(action)
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):  # the common case, in the fewest ops
            self._action_bounds()
            lo, hi = torch.aminmax(action)
            lo, hi = (lo.item(), hi.item()) if action.device.type == "cpu" else torch.stack((lo, hi)).tolist()
            ok = lo >= self._discrete_range[0] and hi < self._discrete_range[1]
        else:
            ok = bool(self._action_values_ok(action))
        if not ok:
            self._raise_bad_action_value(action)

    def _check_action_metadata(self, action: torch.Tensor) -> None:
        """The type, shape, device and dtype checks of :meth:`check_action` (no device sync)."""
        space = self.single_action_space
        if not isinstance(action, torch.Tensor):
            raise TypeError(f"{self.name}: 'action' must be a torch.Tensor, got {type(action).__name__}")
        if tuple(action.shape) != self._action_shape:
            raise ValueError(
                f"{self.name}: 'action' has shape {tuple(action.shape)}, expected {self._action_shape} "
                f"(num_envs={self.num_envs}, action space {space})"
            )
        if action.device != self.device:
            raise ValueError(f"{self.name}: 'action' is on {action.device}, expected {self.device}")
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
            if action.is_floating_point() or action.dtype == torch.bool or action.is_complex():
                raise TypeError(
                    f"{self.name}: 'action' has dtype {action.dtype}, expected an integer dtype for {space}"
                )
        elif isinstance(space, gym.spaces.Box):
            if not action.is_floating_point():
                raise TypeError(
                    f"{self.name}: 'action' has dtype {action.dtype}, expected a floating dtype for {space}"
                )
        elif isinstance(space, gym.spaces.MultiBinary) and (action.is_floating_point() or action.is_complex()):
            raise TypeError(
                f"{self.name}: 'action' has dtype {action.dtype}, expected an integer or bool dtype for {space}"
            )

    def _action_values_ok(self, action: torch.Tensor) -> torch.Tensor:
        """A 0-dim bool tensor on the device: every value of ``action`` (any leading dims, for
        example ``[steps, B, ...]``) lies in the action space. No device sync."""
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            low, high = self._action_bounds()
            lo, hi = torch.aminmax(action)  # one fused reduction
            return (lo >= low) & (hi < high)
        if isinstance(space, gym.spaces.MultiDiscrete):
            low, high = self._action_bounds()
            return ((action >= low) & (action < high)).all()
        if isinstance(space, gym.spaces.Box):
            return torch.isfinite(action).all()
        if isinstance(space, gym.spaces.MultiBinary) and action.dtype != torch.bool:
            return ((action == 0) | (action == 1)).all()
        return torch.ones((), dtype=torch.bool, device=action.device)

    def _raise_bad_action_value(self, action: torch.Tensor) -> None:
        """Raises the error naming the first value of ``action`` outside the space."""
        space = self.single_action_space
        if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
            low, high = self._action_bounds()
            bad = ((action < low) | (action >= high)).nonzero()[0].tolist()
            raise ValueError(
                f"{self.name}: 'action' holds {action[tuple(bad)].item()} at index {bad}, "
                f"outside the action space {space}"
            )
        if isinstance(space, gym.spaces.Box):
            check_finite(self.name, keys.ACTION, action)
        if isinstance(space, gym.spaces.MultiBinary):
            bad = ((action != 0) & (action != 1)).nonzero()[0].tolist()
            raise ValueError(
                f"{self.name}: 'action' holds {action[tuple(bad)].item()} at index {bad}, expected 0 or 1 for {space}"
            )

    def _action_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(self, "_bounds", None) is None:
            space = self.single_action_space
            n = space.n if isinstance(space, gym.spaces.Discrete) else space.nvec
            low = torch.as_tensor(np.asarray(space.start), device=self.device)
            self._bounds = (low, low + torch.as_tensor(np.asarray(n), device=self.device))
            if isinstance(space, gym.spaces.Discrete):
                self._discrete_range = (int(space.start), int(space.start + space.n))
        return self._bounds

    # -------------------------------------------------------- TensorDict API
    def _td(self, entries: dict[NestedKey, torch.Tensor]) -> TensorDict:
        td = TensorDict({}, batch_size=self.batch_size, device=self.device)
        for key, value in entries.items():
            td.set(key, value)
        return td

    def reset(self, seed: int | None = None) -> TensorDict:
        """Resets every sub-env.

        Args:
            seed: seeds the env's random generator; ``None`` draws a seed from torch's global RNG
                on the first reset and continues the current stream afterwards.

        Returns:
            TensorDict ``[B]`` with ``"observation"`` (and the other observation keys).
        """
        return self._td(self.reset_tensors(seed))

    def step_and_reset(self, td: TensorDict) -> tuple[TensorDict, TensorDict]:
        """Steps with ``td["action"]`` and resets finished sub-envs.

        Args:
            td: TensorDict ``[B]`` holding ``"action"``.

        Returns:
            ``(td, next_root)``: ``td`` with the ``"next"`` entries filled in (true next
            observation, reward, done flags), and the root TensorDict ``[B]`` of the following
            step (the reset observation where a sub-env finished).
        """
        out = self.step_tensors(td.get(keys.ACTION))
        td.set(keys.NEXT, self._td(out.next))
        return td, self._td(out.root)

    def step(self, td: TensorDict) -> TensorDict:
        """Steps with ``td["action"]``; returns ``td`` with ``"next"`` filled in.

        Finished sub-envs are reset; use :meth:`step_and_reset` to also get the root of the
        following step.
        """
        return self.step_and_reset(td)[0]

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples a uniformly random action ``[B, *action_shape]`` on the env's device."""
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            return torch.randint(
                int(space.start), int(space.start + space.n), (self.num_envs,), generator=generator, device=self.device
            )
        if isinstance(space, gym.spaces.MultiDiscrete):
            nvec = torch.as_tensor(space.nvec, device=self.device)
            u = torch.rand(self._action_shape, generator=generator, device=self.device)
            return (u * nvec).long().clamp_max(nvec - 1) + torch.as_tensor(space.start, device=self.device)
        if isinstance(space, gym.spaces.Box):
            if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
                raise ValueError(
                    f"{self.name}: rand_action needs finite bounds to sample uniformly, got {space}; "
                    "pass a policy to the collector instead of None"
                )
            low = torch.as_tensor(space.low, device=self.device)
            high = torch.as_tensor(space.high, device=self.device)
            u = torch.rand(self._action_shape, generator=generator, device=self.device)
            return low + u * (high - low)
        if isinstance(space, gym.spaces.MultiBinary):
            return torch.randint(0, 2, self._action_shape, generator=generator, device=self.device)
        raise TypeError(f"{self.name}: rand_action does not support action space {space}")

    # ------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict:
        """State to restore the env exactly (RNG, sub-env states). Empty by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`."""
        if state:
            raise ValueError(f"{self.name} holds no state, got keys {sorted(state)}")

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op for envs without resources
        """Releases resources (sub-processes, windows)."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_envs={self.num_envs}, observation_space={self.single_observation_space}, "
            f"action_space={self.single_action_space}, device={self.device})"
        )
