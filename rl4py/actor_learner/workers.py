"""Rollout workers: each owns a batched env and a policy copy and returns rollouts ``TensorDict[B, T]``
stamped with the version of the weights that collected them. :class:`~rl4py.actor_learner.WorkerPool`
runs them as Ray actors; the classes here are plain Python, so they are tested without Ray too."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py import keys
from rl4py.collectors.sync import SyncCollector
from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env

__all__ = [
    "EnvSpec",
    "RolloutInfo",
    "RolloutWorker",
    "VersionedPolicy",
    "make_worker_env",
    "pack_tensors",
    "unpack_tensors",
]

EnvSpec = Union[str, Callable[[int], EnvBase]]
"""What a worker builds its env from: a name for :func:`~rl4py.envs.make_env` (``"CartPole-v1"``,
``"CartPole"``) or a picklable factory called with the number of sub-envs."""


def make_worker_env(env: EnvSpec, num_envs: int, env_kwargs: dict[str, Any] | None = None) -> EnvBase:
    """Builds a worker's env of ``num_envs`` sub-envs from ``env`` (see :data:`EnvSpec`).

    Raises:
        TypeError: ``env`` is neither a name nor a callable, or the factory returned something
            other than an rl4py env.
        ValueError: the factory's env has another number of sub-envs than ``num_envs``.

    Examples:
        >>> make_worker_env("CartPole", 4).num_envs
        4
    """
    if isinstance(env, str):
        return make_env(env, num_envs=num_envs, **(env_kwargs or {}))
    if not callable(env):
        raise TypeError(
            f"worker env: expected an env name or a factory (num_envs) -> EnvBase, got {type(env).__name__}"
        )
    if env_kwargs:
        raise ValueError(f"worker env: env_kwargs {sorted(env_kwargs)} go to make_env; a factory takes none")
    built = env(num_envs)
    if not isinstance(built, EnvBase):
        raise TypeError(
            f"worker env: the factory returned a {type(built).__name__}; expected an rl4py env "
            "(wrap a gymnasium env in rl4py.envs.GymEnv)"
        )
    if built.num_envs != num_envs:
        raise ValueError(f"worker env: the factory was asked for {num_envs} sub-envs and built {built.num_envs}")
    return built


class VersionedPolicy(nn.Module):
    """Runs ``policy`` and stamps every step with the version of its weights.

    Writes ``"policy_version"`` ``[*B, 1]`` int64 beside the policy's outputs, so a collector's
    rollout carries ``[*B, T, 1]`` stamps (one per step, as weights may change within a rollout
    when inference is centralized).

    Args:
        policy: a TensorDict policy (reads ``"observation"``, writes ``"action"``, ...).
        version: the version of its current weights.

    Examples:
        >>> from tensordict import TensorDict
        >>> stamp = VersionedPolicy(lambda td: td.set("action", td["observation"].argmax(-1)), version=3)
        >>> stamp(TensorDict({"observation": torch.eye(2)}, batch_size=[2]))["policy_version"].tolist()
        [[3], [3]]
    """

    def __init__(self, policy: Callable[[TensorDictBase], TensorDictBase], version: int = 0) -> None:
        super().__init__()
        self.policy = policy
        self.version = version

    def forward(self, td: TensorDictBase) -> TensorDictBase:
        td = self.policy(td)
        stamp = torch.full((*td.batch_size, 1), self.version, dtype=torch.int64, device=td.device)
        td.set(keys.POLICY_VERSION, stamp)
        return td

    def load(self, state_dict: dict[str, torch.Tensor], version: int) -> None:
        """Loads ``state_dict`` into the policy and takes ``version`` as its version."""
        if not isinstance(self.policy, nn.Module):
            raise TypeError(f"VersionedPolicy: the policy is a {type(self.policy).__name__}, which holds no weights")
        self.policy.load_state_dict(state_dict)
        self.version = version


@dataclass(frozen=True)
class RolloutInfo:
    """What a worker says about a rollout it returns."""

    worker: int
    """The worker's slot."""
    version: int
    """The oldest policy version among the rollout's steps (its staleness is counted from this one)."""
    newest_version: int
    """The newest policy version among its steps (differs from ``version`` only with centralized inference)."""
    frames: int
    """Env steps in the rollout (``num_envs * rollout_length``)."""
    seconds: float
    """Wall time the worker spent collecting it."""


def pack_tensors(tensors: dict[Any, torch.Tensor]) -> dict[Any, Any]:
    """``tensors`` with each CPU tensor as a numpy array, for Ray's object store.

    Ray serializes numpy arrays without a copy (out-of-band buffers) and torch tensors through
    pickle, about 1.5 ms more per rollout of 256 CartPole steps here. Tensors numpy cannot hold
    (bfloat16) stay tensors. :func:`unpack_tensors` reverses it.

    Examples:
        >>> packed = pack_tensors({"a": torch.ones(2), ("next", "b"): torch.zeros(2, dtype=torch.bool)})
        >>> {key: type(value).__name__ for key, value in packed.items()}
        {'a': 'ndarray', ('next', 'b'): 'ndarray'}
    """
    out = {}
    for key, value in tensors.items():
        value = value.detach().cpu()
        out[key] = value if value.dtype == torch.bfloat16 else value.numpy()
    return out


def unpack_tensors(packed: dict[Any, Any], device: torch.device | str | None = None) -> dict[Any, torch.Tensor]:
    """:func:`pack_tensors`'s dict back as tensors (copied: arrays from the object store are read-only).

    Examples:
        >>> unpack_tensors(pack_tensors({"a": torch.arange(3)}))
        {'a': tensor([0, 1, 2])}
    """
    out = {}
    for key, value in packed.items():
        tensor = value.clone() if isinstance(value, torch.Tensor) else torch.tensor(value)
        out[key] = tensor if device is None else tensor.to(device)
    return out


def pack_rollout(td: TensorDictBase) -> tuple[tuple[int, ...], dict[Any, Any]]:
    """``(batch size, packed leaves)`` of a rollout (nested keys as tuples)."""
    leaves = dict(td.items(include_nested=True, leaves_only=True))
    return tuple(td.batch_size), pack_tensors(leaves)


def unpack_rollout(
    packed: tuple[tuple[int, ...], dict[Any, Any]], device: torch.device | str | None = None
) -> TensorDict:
    """The rollout :func:`pack_rollout` packed, as a ``TensorDict`` (on ``device``)."""
    batch_size, leaves = packed
    td = TensorDict({}, batch_size=batch_size, device=device)
    for key, value in unpack_tensors(leaves, device).items():
        td.set(key, value)
    return td


def _resolve(weights: Any) -> dict[str, torch.Tensor]:
    """A state dict, fetched from Ray's object store if ``weights`` is an ``ObjectRef`` (to a packed one)."""
    if not isinstance(weights, dict):
        import ray

        weights = ray.get(weights)
    return unpack_tensors(weights)


class RolloutWorker:
    """One actor of the actor-learner: a batched env, a policy copy, a :class:`~rl4py.SyncCollector`.

    Run it as a Ray actor (:class:`WorkerPool` does: ``ray.remote(RolloutWorker)``) or in process.
    Each :meth:`rollout` call first loads newer weights if the call brings them (``ray.put`` by the
    learner once per broadcast; the worker pulls the object only when the version is new), then
    collects one rollout.

    Args:
        env: the env to build (see :data:`EnvSpec`).
        num_envs: sub-envs of this worker's env.
        policy: the policy copy (a TensorDict module; weights arrive with :meth:`rollout`), or a
            :class:`~rl4py.actor_learner.RemotePolicy` asking a central inference server (which
            stamps the versions itself).
        rollout_length: steps per sub-env per rollout T.
        seed: seeds the env resets and this process's torch generator (action sampling).
        index: the worker's slot, reported in :class:`RolloutInfo`.
        threads: torch threads in this process.
        env_kwargs: extra arguments of :func:`~rl4py.envs.make_env` (with an env name).

    Examples:
        >>> from rl4py.modules import make_discrete_actor_critic
        >>> actor, _ = make_discrete_actor_critic(observation_size=4, n_actions=2)
        >>> worker = RolloutWorker("CartPole", 2, actor, rollout_length=8, seed=0, threads=None)
        >>> td, info = worker.rollout(version=5, weights=[actor.state_dict()])
        >>> td.batch_size, td["policy_version"].unique().tolist(), info.frames
        (torch.Size([2, 8]), [5], 16)
    """

    def __init__(
        self,
        env: EnvSpec,
        num_envs: int,
        policy: nn.Module | Callable[[TensorDictBase], TensorDictBase],
        rollout_length: int,
        *,
        seed: int,
        index: int = 0,
        threads: int | None = 1,
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)  # the policy's action sampling in this process
        self.index = index
        self.env = make_worker_env(env, num_envs, env_kwargs)
        # a remote policy stamps the server's versions; a local copy is stamped here
        self.stamps_itself = bool(getattr(policy, "stamps_version", False))
        self.policy = policy if self.stamps_itself else VersionedPolicy(policy)
        self.collector = SyncCollector(self.env, self.policy, rollout_length, seed=seed, return_same_td=True)

    @property
    def version(self) -> int:
        """The version of the local weights (-1 for a remote policy, whose server keeps it)."""
        return -1 if self.stamps_itself else self.policy.version

    def set_weights(self, version: int, weights: Any) -> None:
        """Loads ``weights`` (a state dict, or an ``ObjectRef`` to one) as ``version``."""
        if self.stamps_itself:
            return  # the inference server holds the weights
        self.policy.load(_resolve(weights), version)

    def rollout(self, version: int = 0, weights: Sequence[Any] = ()) -> tuple[TensorDictBase, RolloutInfo]:
        """Collects one rollout ``[num_envs, rollout_length]``, first loading ``weights[0]`` if
        ``version`` differs from the local one.

        Args:
            version: the learner's latest published version.
            weights: ``[state_dict or ObjectRef]`` of that version (a state dict of tensors or of
                :func:`pack_tensors` arrays; a list, so Ray passes the
                reference through unresolved and the worker fetches it only when it needs it), or
                empty to keep the current weights.

        Returns:
            ``(rollout, info)``; the rollout has ``"policy_version"`` ``[B, T, 1]``.
        """
        if weights and version != self.version:
            self.set_weights(version, weights[0])
        start = time.perf_counter()
        td = self.collector.rollout()
        seconds = time.perf_counter() - start
        stamps = td.get(keys.POLICY_VERSION)
        info = RolloutInfo(self.index, int(stamps.min()), int(stamps.max()), td.numel(), seconds)
        return td, info

    def rollout_packed(
        self, version: int = 0, weights: Sequence[Any] = ()
    ) -> tuple[tuple[tuple[int, ...], dict[Any, Any]], RolloutInfo]:
        """:meth:`rollout` with the rollout packed for the object store (see :func:`pack_tensors`);
        what :class:`~rl4py.actor_learner.WorkerPool` calls."""
        td, info = self.rollout(version, weights)
        return pack_rollout(td), info

    def ping(self) -> int:
        """The worker's slot (a cheap call to check the actor is alive)."""
        return self.index

    def close(self) -> None:
        """Closes the env."""
        self.env.close()
