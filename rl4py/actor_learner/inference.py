"""Centralized inference (SEED RL): env-only workers send each step's observations to one
:class:`InferenceServer`, which batches the requests of all workers into one forward pass on the
learner's device and answers with the actions."""

from __future__ import annotations

import asyncio
from typing import Any

import torch
from tensordict import TensorDict, TensorDictBase
from torch import nn

from rl4py.actor_learner.workers import VersionedPolicy, pack_tensors, unpack_tensors

__all__ = ["InferenceServer", "RemotePolicy"]


class InferenceServer:
    """Answers observation batches with actions, batching concurrent requests (a Ray async actor).

    Requests wait until ``max_batch`` of them are pending or ``max_wait_s`` has passed since the
    first, then one forward pass of the policy (on ``device``) answers them all. Each answer holds
    the policy's outputs (``"action"``, ``"action_log_prob"``, ...) and ``"policy_version"``
    ``[b, 1]``, the version of the weights that chose the actions.

    Args:
        policy: the TensorDict policy (moved to ``device``).
        device: where the forward pass runs (the learner's device).
        max_batch: requests per forward pass (usually the number of workers).
        max_wait_s: longest wait for a batch to fill.
        seed: seeds this process's torch generator (action sampling).
        threads: torch threads in this process (``None``: unchanged).
    """

    def __init__(
        self,
        policy: nn.Module,
        *,
        device: str | torch.device = "cpu",
        max_batch: int = 2,
        max_wait_s: float = 0.002,
        seed: int = 0,
        threads: int | None = 1,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"InferenceServer: max_batch must be >= 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"InferenceServer: max_wait_s must be >= 0, got {max_wait_s}")
        if threads is not None:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.policy = VersionedPolicy(policy.to(self.device))
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._pending: list[tuple[dict[str, torch.Tensor], asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self.requests = 0
        self.batches = 0

    async def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        """The policy's outputs for ``observation`` (``{key: [b, ...]}``, tensors or
        :func:`~rl4py.actor_learner.pack_tensors` arrays), packed, once its batch has run."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((observation, future))
        if len(self._pending) >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            answers = self.forward([observation for observation, _ in pending])
        except Exception as error:  # every waiting worker sees the error
            for _, future in pending:
                future.set_exception(error)
            return
        for (_, future), answer in zip(pending, answers):
            future.set_result(answer)

    def forward(self, observations: list[dict[str, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
        """One forward pass over the concatenated ``observations``; the new entries split back per request."""
        observations = [unpack_tensors(obs) for obs in observations]
        sizes = [next(iter(obs.values())).shape[0] for obs in observations]
        td = TensorDict(
            {key: torch.cat([obs[key] for obs in observations]).to(self.device) for key in observations[0]},
            batch_size=[sum(sizes)],
            device=self.device,
        )
        given = set(td.keys())
        with torch.inference_mode():
            out = self.policy(td)
        new = [key for key in out.keys() if key not in given]  # noqa: SIM118 - a TensorDict's keys
        split = {key: out.get(key).split(sizes) for key in new}
        self.requests += len(observations)
        self.batches += 1
        # packed: numpy copies of each request's rows (a view would ship the whole batch)
        return [pack_tensors({key: split[key][i].clone() for key in new}) for i in range(len(observations))]

    async def set_weights(self, version: int, weights: list[Any]) -> None:
        """Loads ``weights[0]`` (a state dict or an ``ObjectRef`` to one) as ``version``."""
        state = weights[0]
        if not isinstance(state, dict):
            state = await state
        self.policy.load(unpack_tensors(state, self.device), version)

    def stats(self) -> dict[str, float]:
        """``requests``, ``batches`` and ``mean_batch`` (requests per forward pass) so far."""
        mean = self.requests / self.batches if self.batches else float("nan")
        return {"requests": self.requests, "batches": self.batches, "mean_batch": mean}


class RemotePolicy:
    """A worker's policy when inference is centralized: each call sends the step's observation
    entries to an :class:`InferenceServer` actor and writes its answer into the TensorDict.

    Args:
        server: the server's Ray actor handle.
    """

    stamps_version = True
    """The server's answers carry ``"policy_version"``; the worker adds no stamp."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def __call__(self, td: TensorDictBase) -> TensorDictBase:
        import ray

        answer = ray.get(self.server.act.remote(pack_tensors(dict(td.items()))))
        for key, value in unpack_tensors(answer, td.device).items():
            td.set(key, value)
        return td
