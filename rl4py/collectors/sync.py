"""A synchronous collector: runs a policy on a batched env and yields rollouts ``TensorDict[B, T]``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import torch
from tensordict import TensorDict, TensorDictBase

from rl4py import keys
from rl4py.collectors.recurrent_state import RecurrentState, is_recurrent
from rl4py.envs.base import EnvBase, NestedKey
from rl4py.envs.wrappers import EpisodeStats, find_wrapper

__all__ = ["SyncCollector", "finished_episodes", "finished_head_returns"]

Policy = Callable[[TensorDictBase], TensorDictBase]


class SyncCollector:
    """Steps ``env`` with ``policy`` for ``rollout_length`` steps per rollout.

    Each item of the iteration is one rollout, a ``TensorDict`` with batch size
    ``[num_envs, rollout_length]`` (time last) holding the root entries the policy read and
    wrote (``"observation"``, ``"action"``, ``"action_log_prob"``, ...) and the ``"next"``
    entries of the env (true next observation, reward, done flags, episode statistics).

    The collector keeps the current observation across rollouts, and wraps ``env`` in
    :class:`~rl4py.envs.EpisodeStats` unless it already is, so an episode longer than a
    rollout is counted once, whole (``("next", "episode_return")`` at its done step). The
    policy runs under ``torch.inference_mode()``; the steps are written into preallocated
    storage (one ``torch.stack(..., out=...)`` per key and rollout).

    **Recurrent policies.** A policy with an ``initial_state(batch_size, device) -> TensorDict[B]``
    method is recurrent: the returned entries (for example ``("recurrent_state", "actor", "h")``) are
    its state. The collector then also feeds the policy ``"is_init"`` ``[B, 1]`` bool (true at the
    first step of each episode, the very first step included) and the current state, and after each
    step takes the policy's ``("next", *key)`` entries as the next state, replaced by the initial
    state in the sub-envs whose episode ended. The state and ``"is_init"`` carry over from rollout to
    rollout. The rollout stores, per step, ``"is_init"``, the state the policy read (so a chunk can be
    re-run from its stored state at its first step) and the state it wrote (under ``"next"``). A
    policy without ``initial_state`` takes the plain path, with no per-step work for any of this.

    Args:
        env: the batched env.
        policy: a TensorDict module reading ``"observation"`` and writing ``"action"``
            (and usually ``"action_log_prob"``); ``None`` takes uniformly random actions. A
            recurrent policy also has ``initial_state`` (see above).
        rollout_length: steps per rollout T.
        total_frames: stop after this many env steps (``num_envs * T`` per rollout);
            ``None`` iterates forever.
        seed: seed of the first env reset.
        return_same_td: yield TensorDicts whose tensors are the collector's own storage
            (overwritten by the next rollout) instead of copies. Saves a copy when each rollout
            is consumed before the next.

    Examples:
        >>> from rl4py import CartPole
        >>> collector = SyncCollector(CartPole(num_envs=4), None, rollout_length=8, total_frames=64, seed=0)
        >>> [td.batch_size for td in collector]
        [torch.Size([4, 8]), torch.Size([4, 8])]
    """

    def __init__(
        self,
        env: EnvBase,
        policy: Policy | None,
        rollout_length: int = 128,
        total_frames: int | None = None,
        seed: int | None = None,
        return_same_td: bool = False,
    ) -> None:
        if rollout_length < 1:
            raise ValueError(f"SyncCollector: rollout_length must be >= 1, got {rollout_length}")
        if total_frames is not None and total_frames < 1:
            raise ValueError(f"SyncCollector: total_frames must be >= 1 or None, got {total_frames}")
        self.env = env if find_wrapper(env, EpisodeStats) is not None else EpisodeStats(env)
        self.policy = policy
        self.rollout_length = rollout_length
        self.total_frames = total_frames
        self.seed = seed
        self.return_same_td = return_same_td
        self.frames = 0
        self._root: dict[NestedKey, torch.Tensor] | None = None
        self._storage: TensorDict | None = None
        self._columns: dict[NestedKey, list[torch.Tensor]] = {}
        #: the policy carries a recurrent state (it has ``initial_state``)
        self.recurrent = is_recurrent(policy)
        self._recurrent_state: RecurrentState | None = None

    @property
    def frames_per_rollout(self) -> int:
        return self.env.num_envs * self.rollout_length

    def reset(self, seed: int | None = None) -> None:
        """Resets the env (and the episode statistics); the next rollout starts new episodes.

        ``seed=None`` reseeds with the collector's own ``seed``, so every such reset starts from
        the same states (the first rollout's reset does this); pass a seed for other starts.
        """
        self._root = self.env.reset_tensors(self.seed if seed is None else seed)
        if self.recurrent:
            self._reset_recurrent_state()

    def _reset_recurrent_state(self) -> None:
        self._recurrent_state = RecurrentState(self.policy, self.env.num_envs, self.env.device, "SyncCollector")

    def _policy_td(self, root: dict[NestedKey, torch.Tensor]) -> TensorDict:
        """A fresh TensorDict ``[B]`` of the step's observation entries (the policy's input)."""
        if all(type(key) is str for key in root):
            # the env's entries are validated tensors of batch [B] on its device: skip the checks
            return TensorDict._new_unsafe(dict(root), batch_size=self.env.batch_size, device=self.env.device)
        td = TensorDict({}, batch_size=self.env.batch_size, device=self.env.device)
        for key, value in root.items():
            td.set(key, value)
        return td

    def _allocate(self, root: TensorDictBase, nxt: dict[NestedKey, torch.Tensor]) -> TensorDict:
        b, t = self.env.num_envs, self.rollout_length
        storage = TensorDict({}, batch_size=[b, t], device=self.env.device)
        entries = [(key, value) for key, value in root.items(include_nested=True, leaves_only=True)]
        entries += [(keys.next_key(key), value) for key, value in nxt.items()]
        for key, value in entries:
            storage.set(key, torch.empty((b, t, *value.shape[1:]), dtype=value.dtype, device=value.device))
        return storage

    def rollout(self) -> TensorDict:
        """Collects one rollout ``[num_envs, rollout_length]``.

        Raises:
            ValueError, TypeError: a step's action or output failed the env's value checks (run
                once per rollout, see :meth:`~rl4py.envs.EnvBase.defer_checks`; on an accelerator
                the result arrives without a sync, so the error surfaces at a later rollout).
        """
        if self._root is None:
            self.reset()
        env = self.env
        env.defer_checks(True)
        try:
            roots, nexts = self._steps_recurrent() if self.recurrent else self._steps()
        except BaseException:
            env.discard_deferred_checks()  # the error at hand, not a deferred one, is the one to see
            raise
        env.flush_checks()  # one reduction per checked key; no host sync on an accelerator
        if self._storage is None:  # allocated outside inference mode: ordinary tensors autograd accepts
            self._storage = self._allocate(roots[0], nexts[0])
            self._root_keys = list(roots[0].keys(include_nested=True, leaves_only=True))
            self._next_keys = list(nexts[0])
        # return_same_td: one stacked write per key into the preallocated [B, T, ...] storage (the
        # steps' tensors are fresh, so a write per step would add a copy per key and step);
        # otherwise a fresh storage per rollout, stacked into directly (no second copy)
        storage = self._storage if self.return_same_td else self._allocate(roots[0], nexts[0])
        with torch.inference_mode():
            for key in self._root_keys:
                torch.stack([step.get(key) for step in roots], dim=1, out=storage.get(key))
            for key in self._next_keys:
                torch.stack([step[key] for step in nexts], dim=1, out=storage.get(keys.next_key(key)))
        self.frames += self.frames_per_rollout
        if not self.return_same_td:
            return storage
        # a new TensorDict over the same tensors: entries a consumer adds (advantage, ...) do not
        # land in the storage (TensorDict.copy() does the same, ~5x slower)
        return TensorDict._new_unsafe(_nested(storage), batch_size=storage.batch_size, device=storage.device)

    def _steps(self) -> tuple[list[TensorDictBase], list[dict[NestedKey, torch.Tensor]]]:
        """Runs ``rollout_length`` steps; returns the per-step policy TensorDicts and env ``next`` entries."""
        env, policy = self.env, self.policy
        roots: list[TensorDictBase] = []
        nexts: list[dict[NestedKey, torch.Tensor]] = []
        with torch.inference_mode():
            root = self._root
            for _ in range(self.rollout_length):
                td = self._policy_td(root)
                if policy is None:
                    td.set(keys.ACTION, env.rand_action())
                else:
                    td = policy(td)
                out = env.step_tensors(td.get(keys.ACTION))
                roots.append(td)
                nexts.append(out.next)
                root = out.root
            self._root = root
        return roots, nexts

    def _steps_recurrent(self) -> tuple[list[TensorDictBase], list[dict[NestedKey, torch.Tensor]]]:
        """:meth:`_steps` for a recurrent policy: feeds ``"is_init"`` and the state, carries the next state."""
        env, policy, carried = self.env, self.policy, self._recurrent_state
        roots: list[TensorDictBase] = []
        nexts: list[dict[NestedKey, torch.Tensor]] = []
        with torch.inference_mode():
            root = self._root
            for _ in range(self.rollout_length):
                td = policy(carried.feed(self._policy_td(root)))
                out = env.step_tensors(td.get(keys.ACTION))
                roots.append(td)
                nexts.append(out.next)
                carried.advance(td, out.next[keys.DONE])
                root = out.root
            self._root = root
        return roots, nexts

    def __iter__(self) -> Iterator[TensorDict]:
        while self.total_frames is None or self.frames < self.total_frames:
            yield self.rollout()

    def state_dict(self) -> dict:
        """The env state, the current observation, the frame counter and ``num_envs`` (and a recurrent
        policy's state)."""
        state = {"env": self.env.state_dict(), "root": self._root, "frames": self.frames, "num_envs": self.env.num_envs}
        if self._recurrent_state is not None:
            state.update(self._recurrent_state.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`. Over an env without :attr:`~rl4py.envs.EnvBase.exact_resume`
        (a gymnasium env) the wrappers' state (observation statistics) is restored but the saved
        observation belongs to an env that is gone: the env is reset (seeded ``seed + frames``)
        and a warning says the run does not continue exactly.

        Raises:
            ValueError: the checkpoint was saved with another ``num_envs`` than this env's (checked
                before anything is restored).
        """
        saved = _saved_num_envs(state)
        if saved is not None and saved != self.env.num_envs:
            raise ValueError(
                f"SyncCollector: the checkpoint was saved with num_envs={saved}, this env has "
                f"{self.env.num_envs} ({self.env.name}); resume with num_envs={saved}"
            )
        self.frames = int(state["frames"])
        self.env.load_state_dict(state["env"])  # wrappers restore theirs (observation statistics, ...)
        if not self.env.exact_resume:
            warnings.warn(
                f"SyncCollector: {self.env.name} cannot restore its state (exact_resume=False); its episodes "
                "restart with a reset, so the resumed run is not an exact continuation",
                stacklevel=2,
            )
            self.reset(seed=(self.seed or 0) + self.frames)
            return
        device = self.env.device
        root = state["root"]
        self._root = None if root is None else {key: value.to(device) for key, value in root.items()}
        if self.recurrent:
            self._reset_recurrent_state()
            if "recurrent_state" in state:
                self._recurrent_state.load_state_dict(state, device)


def _nested(td: TensorDictBase) -> dict:
    """``td``'s entries as nested plain dicts of tensors (sub-TensorDicts become dicts)."""
    return {key: _nested(value) if isinstance(value, TensorDictBase) else value for key, value in td.items()}


def _saved_num_envs(state: dict) -> int | None:
    """The ``num_envs`` a collector checkpoint was saved with (read off its tensors for checkpoints older than
    the ``"num_envs"`` entry), or ``None`` where nothing says."""
    if "num_envs" in state:
        return int(state["num_envs"])
    root = state.get("root")
    for value in (root or {}).values():
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return int(value.shape[0])
    return None


def finished_episodes(rollout: TensorDictBase) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns the return and length of every episode that ended in ``rollout``.

    Args:
        rollout: a collector rollout with ``("next", "done")``, ``("next", "episode_return")``
            and ``("next", "episode_length")``.

    Returns:
        ``(returns, lengths)``, 1-D, in the order the episodes ended (by time step, then by
        sub-env), so the last entries are the most recent episodes.
    """

    def time_major(key: NestedKey) -> torch.Tensor:
        # [*B, T, 1] -> [T, *B]: masking then lists the entries step by step
        return rollout.get(key).squeeze(-1).movedim(-1, 0)

    done = time_major((keys.NEXT, keys.DONE))
    return time_major((keys.NEXT, keys.EPISODE_RETURN))[done], time_major((keys.NEXT, keys.EPISODE_LENGTH))[done]


def finished_head_returns(rollout: TensorDictBase) -> torch.Tensor | None:
    """The per-head returns ``[N, K]`` of the episodes that ended in ``rollout`` (in
    :func:`~rl4py.finished_episodes`' order), or ``None`` when the env has one reward head (no
    ``("next", "episode_head_returns")``)."""
    key = (keys.NEXT, keys.EPISODE_HEAD_RETURNS)
    if key not in rollout.keys(include_nested=True):
        return None
    heads = rollout.get(key)  # [*B, T, K]
    done = rollout.get((keys.NEXT, keys.DONE)).squeeze(-1).movedim(-1, 0)  # [T, *B]
    return heads.movedim(-2, 0)[done]
