"""Adapter from gymnasium environments to rl4py's batched TensorDict interface."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from rl4py import keys
from rl4py.envs.action_masks import check_masked_action, mask_size, random_allowed_action
from rl4py.envs.base import EnvBase, EnvStep, NestedKey

__all__ = ["GymEnv"]

EnvSpec = str | gym.Env | VectorEnv | Callable[[], gym.Env]
MaskSource = Literal["auto", "info", "observation"] | None

#: top-level keys rl4py writes itself: a Dict observation entry may not take one of these names
_RESERVED = {
    keys.NEXT,
    keys.ACTION,
    keys.ACTION_LOG_PROB,
    keys.ACTION_MASK,
    keys.LOGITS,
    keys.LOC,
    keys.SCALE,
    keys.STATE_VALUE,
    keys.ACTION_VALUE,
    keys.IS_INIT,
    keys.RECURRENT_STATE,
    keys.REWARD,
    keys.DONE,
    keys.TERMINATED,
    keys.TRUNCATED,
    keys.ADVANTAGE,
    keys.VALUE_TARGET,
    keys.EPISODE_RETURN,
    keys.EPISODE_LENGTH,
}


#: the observation spaces GymEnv turns into tensors (also the entries of a flat ``Dict``)
_OBSERVATION_SPACES = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)
#: the action spaces GymEnv checks, samples and converts
_ACTION_SPACES = (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary, gym.spaces.Box)
_SUPPORTED_OBSERVATIONS = "Box, Discrete, MultiDiscrete, MultiBinary, or a flat Dict of these"
_SUPPORTED_ACTIONS = "Discrete, MultiDiscrete, MultiBinary or Box"


def _unsupported_space(name: str, obs_space: gym.Space, action_space: gym.Space) -> Exception | None:
    """The error refusing a space GymEnv cannot convert (Text, Graph, Sequence, Tuple, OneOf, ...), or None."""
    if not isinstance(action_space, _ACTION_SPACES):
        return TypeError(
            f"{name}: the action space {action_space} is a {type(action_space).__name__} space, which GymEnv "
            f"does not support; expected {_SUPPORTED_ACTIONS}"
        )
    if isinstance(obs_space, gym.spaces.Dict):
        for entry, sub in obs_space.spaces.items():
            if isinstance(sub, (gym.spaces.Dict, gym.spaces.Tuple)):
                return TypeError(
                    f"{name}: observation entry {entry!r} is a {type(sub).__name__} space; expected a flat Dict "
                    "observation space (Box, Discrete, MultiDiscrete or MultiBinary entries)"
                )
            if not isinstance(sub, _OBSERVATION_SPACES):
                return TypeError(
                    f"{name}: observation entry {entry!r} is a {type(sub).__name__} space ({sub}), which GymEnv "
                    "does not support; expected Box, Discrete, MultiDiscrete or MultiBinary entries"
                )
    elif not isinstance(obs_space, _OBSERVATION_SPACES):
        return TypeError(
            f"{name}: the observation space {obs_space} is a {type(obs_space).__name__} space, which GymEnv does "
            f"not support; expected {_SUPPORTED_OBSERVATIONS}"
        )
    return None


def _make_vector_env(env: EnvSpec, num_envs: int, env_kwargs: dict[str, Any]) -> VectorEnv:
    if isinstance(env, VectorEnv):
        if num_envs not in (1, env.num_envs):
            raise ValueError(f"GymEnv: num_envs={num_envs} but the VectorEnv has {env.num_envs} sub-envs")
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.DISABLED):
            raise ValueError(
                f"GymEnv: the VectorEnv uses autoreset_mode={mode}, which hides the true final observation "
                "behind an extra reset step; build it with autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP "
                "(or DISABLED), or pass the env id or a factory and let GymEnv build it"
            )
        return env
    if isinstance(env, str):
        return gym.make_vec(
            env,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            **env_kwargs,
        )
    if isinstance(env, gym.Env):
        if num_envs != 1:
            raise ValueError(
                f"GymEnv: got one gymnasium.Env instance but num_envs={num_envs}; pass an env id or a "
                "zero-argument factory to run several copies"
            )
        return SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    if callable(env):
        return SyncVectorEnv([env] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    raise TypeError(
        "GymEnv: env must be an env id, a gymnasium.Env, a gymnasium.vector.VectorEnv or a factory, "
        f"got {type(env).__name__}"
    )


class GymEnv(EnvBase):
    """Runs any gymnasium env (id, instance, factory or ``VectorEnv``) behind the rl4py interface.

    The adapter asks gymnasium for same-step auto-reset, so ``("next", "observation")`` is the
    true final observation at an episode end and the reset observation goes to the next root.
    Observations become float32 tensors (integer ones keep an integer dtype); actions are
    converted to numpy arrays of the action space's dtype for gymnasium (a copy: the env may
    change it in place without touching the stored ``"action"``).

    Observation spaces: ``Box``, ``Discrete``, ``MultiDiscrete``, ``MultiBinary`` and a flat
    ``Dict`` of these. Action spaces: ``Discrete`` (``[B]`` int64), ``MultiDiscrete`` (``[B, H]`` int64),
    ``MultiBinary`` (``[B, n]`` of 0/1, any integer or bool dtype) and ``Box`` (``[B, *shape]``
    float). ``Box`` actions are passed on unclipped: the gymnasium env clips them if it does (as
    ``Pendulum-v1`` does); the stored ``"action"`` is never changed. Other spaces (``Text``,
    ``Graph``, ``Sequence``, ``Tuple``, ``OneOf``, a ``Dict`` action) raise a ``TypeError`` naming
    the space at construction.

    ``Dict`` observation spaces (flat: no nested ``Dict``/``Tuple``) give one entry per key:
    ``("observation", name)`` when the ``Dict`` has no ``"observation"`` entry; otherwise the
    ``"observation"`` entry is ``"observation"`` and the others are top-level entries ``name``
    (a tensor cannot also hold nested entries). A name rl4py uses itself (``"reward"``,
    ``"action"``, ...) is refused in the second case.

    Action masks (``Discrete`` and ``MultiDiscrete`` spaces) become the bool entry
    ``"action_mask"`` (true = allowed, ``[B, n]`` or ``[B, sum(nvec)]``), in the reset entries
    and in both ``next`` (the mask of the true next state) and ``root`` (the mask of the
    following step's state) of every step. ``mask_from`` picks the source:

    - ``"info"``: ``info["action_mask"]`` of every reset and step (gymnasium's convention, nonzero
      = allowed; a ``MultiDiscrete`` mask is the concatenation of the heads' masks, or a tuple of
      them). The terminal state's mask comes from ``info["final_info"]``.
    - ``"observation"``: the ``"action_mask"`` entry of a ``Dict`` observation space. It leaves
      the observation: ``single_observation_space`` is the ``Dict`` without it, or its
      ``"observation"`` space where that is the only entry left.
    - ``None``: no mask.
    - ``"auto"`` (default): ``"observation"`` if the observation space is a ``Dict`` with an
      ``"action_mask"`` entry, else ``"info"`` if the first reset's info holds ``"action_mask"``,
      else ``None``.

    With ``validate=True`` a step whose action the current mask forbids raises a ``ValueError``
    naming the env, the action and the mask.

    Args:
        env: an env id (``"CartPole-v1"``), a ``gymnasium.Env`` (with ``num_envs=1``), a
            zero-argument factory returning a ``gymnasium.Env``, or a ``VectorEnv`` in
            ``SAME_STEP`` or ``DISABLED`` auto-reset mode.
        num_envs: number of sub-envs (ignored for a ``VectorEnv``, which has its own).
        device: device of the returned tensors.
        validate: check actions (masked ones included), observations and rewards.
        mask_from: where action masks come from: ``"auto"``, ``"info"``, ``"observation"`` or ``None``.
        **env_kwargs: passed to ``gymnasium.make_vec`` when ``env`` is an id.

    Checkpoints: a gymnasium env's internal state cannot be saved, so :attr:`exact_resume` is
    False and :meth:`state_dict` is empty; a collector restored over a ``GymEnv`` resets it (with
    a seed derived from its own seed and frame count) and warns that the run is not an exact
    continuation. Native envs resume exactly.

    Examples:
        >>> env = GymEnv("CartPole-v1", num_envs=4)
        >>> env.reset(seed=0)["observation"].shape
        torch.Size([4, 4])
    """

    exact_resume = False

    def __init__(
        self,
        env: EnvSpec,
        num_envs: int = 1,
        device: torch.device | str = "cpu",
        validate: bool = True,
        mask_from: MaskSource = "auto",
        **env_kwargs: Any,
    ) -> None:
        if mask_from not in ("auto", "info", "observation", None):
            raise ValueError(f"GymEnv: mask_from must be 'auto', 'info', 'observation' or None, got {mask_from!r}")
        self.env = _make_vector_env(env, num_envs, env_kwargs)
        self._autoreset = self.env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        spec = getattr(self.env, "spec", None)
        self._name = f"GymEnv({spec.id if spec is not None else type(self.env).__name__})"
        obs_space = self.env.single_observation_space
        action_space = self.env.single_action_space
        error = _unsupported_space(self._name, obs_space, action_space)
        if error is not None:
            self.env.close()
            raise error
        is_dict = isinstance(obs_space, gym.spaces.Dict)
        has_mask_entry = is_dict and keys.ACTION_MASK in obs_space.spaces
        if mask_from == "auto" and has_mask_entry:
            mask_from = "observation"
        if mask_from == "observation" and not has_mask_entry:
            raise ValueError(
                f"{self._name}: mask_from='observation' needs a Dict observation space with an 'action_mask' "
                f"entry, got {obs_space}"
            )
        self._mask_from: MaskSource = mask_from
        self._mask_size: int | None = None
        if mask_from in ("info", "observation"):
            self._mask_size = self._check_mask_space(action_space)
        #: the current root mask ``[B, mask_size]`` (``None`` without masks or before a reset)
        self._mask: torch.Tensor | None = None
        self._entry_keys: dict[str, NestedKey] = {}
        if is_dict:
            obs_space = self._map_dict_space(obs_space)
        self.observation_keys = (tuple(self._entry_keys.values()) if is_dict else (keys.OBSERVATION,)) + (
            (keys.ACTION_MASK,) if mask_from in ("info", "observation") else ()
        )
        super().__init__(
            num_envs=self.env.num_envs,
            single_observation_space=obs_space,
            single_action_space=action_space,
            device=device,
            validate=validate,
        )
        self._action_dtype = getattr(self.env.action_space, "dtype", None)
        self._seed: int | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def mask_from(self) -> MaskSource:
        """The mask source in use (``"auto"`` until the first reset decides between ``"info"`` and ``None``)."""
        return self._mask_from

    # ---------------------------------------------------------------- spaces
    def _check_mask_space(self, action_space: gym.Space) -> int:
        try:
            return mask_size(action_space)
        except TypeError:
            raise TypeError(
                f"{self._name}: action masks need a Discrete or 1-D MultiDiscrete action space, got {action_space}"
            ) from None

    def _map_dict_space(self, space: gym.spaces.Dict) -> gym.Space:
        """Fills ``self._entry_keys`` (Dict name -> TensorDict key); returns the observation space to expose."""
        spaces = dict(space.spaces)  # the entries' kinds were checked by _unsupported_space
        if self._mask_from == "observation":
            mask_space = spaces.pop(keys.ACTION_MASK)
            if tuple(mask_space.shape or ()) != (self._mask_size,):
                raise ValueError(
                    f"{self._name}: the 'action_mask' observation entry has shape {mask_space.shape}, expected "
                    f"({self._mask_size},) for the action space {self.env.single_action_space}"
                )
        nested = keys.OBSERVATION not in spaces
        for name in spaces:
            if name == keys.OBSERVATION:
                self._entry_keys[name] = keys.OBSERVATION
            elif nested:
                self._entry_keys[name] = (keys.OBSERVATION, name)
            elif name in _RESERVED:
                raise ValueError(
                    f"{self._name}: the Dict observation entry {name!r} would become the top-level key {name!r}, "
                    "which rl4py reserves; rename the entry (next to an 'observation' entry, the others become "
                    "top-level keys)"
                )
            else:
                self._entry_keys[name] = name
        if list(spaces) == [keys.OBSERVATION]:
            return spaces[keys.OBSERVATION]
        return gym.spaces.Dict(spaces)

    # ----------------------------------------------------------- conversion
    def _to_tensor(self, value: Any) -> torch.Tensor:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        # a copy: vector envs built with copy=False reuse their buffers on the next step
        return torch.tensor(array, device=self.device)

    def _obs_entries(self, obs: Any) -> dict[NestedKey, torch.Tensor]:
        if not isinstance(obs, dict):
            return {keys.OBSERVATION: self._to_tensor(obs)}
        entries = {self._entry_keys[name]: self._to_tensor(obs[name]) for name in self._entry_keys}
        if self._mask_from == "observation":
            mask = np.asarray(obs[keys.ACTION_MASK]).reshape(self.num_envs, -1) != 0
            entries[keys.ACTION_MASK] = torch.as_tensor(mask, device=self.device)
        return entries

    def _info_mask(self, info: dict, rows: np.ndarray, where: str) -> np.ndarray:
        """The masks ``[len(rows), mask_size]`` bool of sub-envs ``rows`` from a batched gymnasium info."""
        present = info.get("_" + keys.ACTION_MASK)
        if keys.ACTION_MASK not in info or present is None or not np.asarray(present)[rows].all():
            missing = rows if present is None else rows[~np.asarray(present)[rows]]
            raise ValueError(
                f"{self._name}: mask_from='info' but the {where} info of sub-envs {missing.tolist()} lacks "
                "'action_mask'; expected info['action_mask'] at every reset and step"
            )
        raw = info[keys.ACTION_MASK]
        if raw.dtype == object:
            parts = [raw[i] for i in rows]
            flat = [
                np.concatenate([np.ravel(p) for p in m]) if isinstance(m, (tuple, list)) else np.ravel(m) for m in parts
            ]
            sizes = {f.size for f in flat}
            mask = np.stack(flat) if len(sizes) == 1 else None
        else:
            mask = raw[rows].reshape(len(rows), -1)
        if mask is None or mask.shape[1] != self._mask_size:
            got = sorted(sizes) if mask is None else mask.shape[1]
            raise ValueError(
                f"{self._name}: info['action_mask'] has {got} entries per sub-env, expected {self._mask_size} "
                f"for the action space {self.single_action_space}"
            )
        return mask != 0

    # ------------------------------------------------------------------ hooks
    def _reset(self, seed: int | None) -> dict[NestedKey, torch.Tensor]:
        if seed is None and self._seed is None:
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())
        if seed is not None:
            self._seed = seed
        obs, info = self.env.reset(seed=seed)
        if self._mask_from == "auto":  # the first reset decides
            self._mask_from = "info" if keys.ACTION_MASK in info else None
            if self._mask_from == "info":
                self._mask_size = self._check_mask_space(self.single_action_space)
                self.observation_keys = (*self.observation_keys, keys.ACTION_MASK)
        entries = self._obs_entries(obs)
        if self._mask_from == "info":
            mask = self._info_mask(info, np.arange(self.num_envs), "reset")
            entries[keys.ACTION_MASK] = torch.as_tensor(mask, device=self.device)
        self._mask = entries.get(keys.ACTION_MASK)
        return entries

    def check_action(self, action: torch.Tensor) -> None:
        """Checks ``action`` against the action space and, with masks, against the current ``"action_mask"``."""
        super().check_action(action)
        if self._mask is not None:
            check_masked_action(self.name, action, self._mask, self.single_action_space)

    def rand_action(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A uniformly random action; with masks, uniform over the allowed choices of the current state."""
        if self._mask is not None:
            return random_allowed_action(self._mask, self.single_action_space, generator)
        return super().rand_action(generator)

    def _step(self, action: torch.Tensor) -> EnvStep:
        np_action = np.array(action.detach().cpu().numpy(), dtype=self._action_dtype, copy=True)
        obs, reward, terminated, truncated, info = self.env.step(np_action)
        done = np.logical_or(terminated, truncated)
        final_obs = obs
        reset_info: dict | None = None
        if done.any():
            if self._autoreset == AutoresetMode.SAME_STEP:
                final_obs = _with_final_obs(obs, info, done)
            else:  # DISABLED: reset the finished sub-envs ourselves (the reset may reuse obs' buffer)
                final_obs = {k: np.array(v, copy=True) for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()
                obs, reset_info = self.env.reset(options={"reset_mask": done})
        b = self.num_envs
        next_entries = self._obs_entries(final_obs)
        root_entries = self._obs_entries(obs)
        if self._mask_from == "info":
            next_mask, root_mask = self._step_masks(info, reset_info, done)
            next_entries[keys.ACTION_MASK] = torch.as_tensor(next_mask, device=self.device)
            root_entries[keys.ACTION_MASK] = torch.as_tensor(root_mask, device=self.device)
        self._mask = root_entries.get(keys.ACTION_MASK)
        next_entries.update(
            {
                keys.REWARD: torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device).view(b, 1),
                keys.TERMINATED: torch.as_tensor(np.asarray(terminated, dtype=bool), device=self.device).view(b, 1),
                keys.TRUNCATED: torch.as_tensor(np.asarray(truncated, dtype=bool), device=self.device).view(b, 1),
                keys.DONE: torch.as_tensor(done, device=self.device).view(b, 1),
            }
        )
        return EnvStep(next=next_entries, root=root_entries)

    def _step_masks(self, info: dict, reset_info: dict | None, done: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(next mask, root mask)`` ``[B, mask_size]`` from a step's info (and the reset's, in DISABLED mode)."""
        rows = np.arange(self.num_envs)
        finished = rows[done]
        if self._autoreset == AutoresetMode.SAME_STEP:
            # info holds the reset info of finished sub-envs; their terminal info is in final_info
            root = self._info_mask(info, rows, "step (or auto-reset)")
            nxt = root.copy()
            if finished.size:
                nxt[finished] = self._info_mask(info.get("final_info", {}), finished, "final step")
            return nxt, root
        nxt = self._info_mask(info, rows, "step")
        root = nxt.copy()
        if finished.size:
            root[finished] = self._info_mask(reset_info or {}, finished, "reset")
        return nxt, root

    def render(self, index: int | None = None) -> torch.Tensor:
        """The sub-envs' current frames from gymnasium's ``render()``, for
        :func:`~rl4py.loggers.record_episode` (make the env with ``render_mode="rgb_array"``:
        ``GymEnv("CartPole-v1", render_mode="rgb_array")``, ``make_env(..., render_mode="rgb_array")``).

        Args:
            index: ``None`` draws every sub-env; an int only that one.

        Returns:
            ``[B, H, W, 3]`` uint8, or ``[H, W, 3]`` for one ``index`` (CPU).

        Raises:
            TypeError: the env was not made with ``render_mode="rgb_array"``.
            IndexError: ``index`` is out of range.
        """
        mode = getattr(self.env, "render_mode", None)
        if mode != "rgb_array":
            raise TypeError(
                f"{self.name}: render() needs render_mode='rgb_array' (pass it when making the env, e.g. "
                f"GymEnv(id, render_mode='rgb_array')), got render_mode={mode!r}"
            )
        if not any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY")):
            # off-screen frames on a headless machine: older pygame (which gymnasium's classic-control
            # envs draw with) fails to make even an off-screen surface without SDL's dummy video driver
            os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        if index is not None and not -self.num_envs <= index < self.num_envs:
            raise IndexError(f"{self.name}: render index {index} is out of range for num_envs={self.num_envs}")
        envs = getattr(self.env, "envs", None)  # SyncVectorEnv: draw only the sub-env asked for
        if index is not None and envs is not None:
            return torch.from_numpy(np.ascontiguousarray(envs[index].render()))
        frames = self.env.render()
        if index is not None:
            return torch.from_numpy(np.ascontiguousarray(frames[index]))
        return torch.from_numpy(np.stack([np.asarray(frame) for frame in frames]))

    def close(self) -> None:
        self.env.close()


def _with_final_obs(obs: Any, info: dict, done: np.ndarray) -> Any:
    """Replaces the reset observation by ``info["final_obs"]`` where a sub-env finished."""
    final = info["final_obs"]
    if isinstance(obs, dict):
        out = {k: np.array(v, copy=True) for k, v in obs.items()}
        for i in np.flatnonzero(done):
            for k in out:
                out[k][i] = final[i][k]
        return out
    out = np.array(obs, copy=True)
    for i in np.flatnonzero(done):
        out[i] = final[i]
    return out
