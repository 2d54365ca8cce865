"""What rl4py's LightningModules share: a collector per rank fed through an iterable dataset,
episode metrics reduced across ranks, the target-return stop, and the checkpoint of the env,
the counters and the RNG states."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightning.pytorch as pl
import torch
from tensordict import TensorDictBase
from torch.utils.data import DataLoader, IterableDataset
from torchmetrics import MaxMetric, MeanMetric

from rl4py.collectors.sync import SyncCollector, finished_episodes
from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env
from rl4py.envs.wrappers import ObservationNorm

__all__ = ["RolloutDataset", "RolloutModule", "log_episode_metrics", "should_log"]

RECENT_EPISODES = 20
"""Episodes in ``mean_recent_return`` and in the ``target_return`` stop."""


def _to_cpu(value):
    """``value`` with every tensor inside (dicts, lists, tuples) moved to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item) for item in value)
    return value


def _identity(item: TensorDictBase) -> TensorDictBase:
    # the default conversion would treat a TensorDict as a dict of per-row entries
    return item


def should_log(trainer: pl.Trainer) -> bool:
    """Whether Lightning writes logs at this training step (``log_every_n_steps``, or the last step).

    ``self.log`` costs milliseconds per call on CPU; calling it only on the steps whose values
    Lightning keeps removes that cost from the other steps.
    """
    connector = getattr(trainer, "_logger_connector", None)
    return True if connector is None else bool(connector.should_update_logs)


def log_episode_metrics(module: RolloutModule, log: Callable) -> None:
    """Logs and resets the episode metrics; they cover every rank's episodes since the last log.

    Every rank reaches this on the same steps, so the metrics' ``compute()`` (a collective under
    DDP) is called in lockstep.
    """
    episode_return, max_return = module.episode_return.compute(), module.max_episode_return.compute()
    module.episode_return.reset()
    module.max_episode_return.reset()
    if torch.isfinite(max_return):  # some rank finished an episode
        log("charts/episodic_return", episode_return, prog_bar=True)
        log("charts/max_episodic_return", max_return)


class RolloutDataset(IterableDataset):
    """Feeds a collector to Lightning: each item is one rollout ``TensorDict[B, T]``.

    Use with ``DataLoader(dataset, batch_size=None)`` and no worker processes: the collector
    runs the live policy in the training process.
    """

    def __init__(self, collector: SyncCollector) -> None:
        self.collector = collector

    def __iter__(self) -> Iterator[TensorDictBase]:
        while True:
            yield self.collector.rollout()


class RolloutModule(pl.LightningModule):
    """Base of the rl4py LightningModules (manual optimization, one collector per rank).

    A subclass saves hyperparameters including ``env``, ``num_envs``, ``env_kwargs``, ``seed``,
    ``target_return`` (and optionally ``normalize_observations``); builds ``self.collector`` in
    :meth:`setup` with :meth:`make_rank_env` and :attr:`rank_seed`; calls :meth:`next_rollout` in
    ``training_step`` and :meth:`log_common` on logging steps; and adds its own resume state
    through :meth:`extra_checkpoint_state` / :meth:`load_extra_checkpoint_state`. Each rank's env,
    sampling and shuffles are seeded ``seed + 1000 * rank``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.episode_return = MeanMetric(nan_strategy="ignore")
        self.max_episode_return = MaxMetric()
        self.env_frames = 0
        self.collector: SyncCollector | None = None
        self._recent: list[float] = []
        self.last_returns = torch.zeros(0)

    # ------------------------------------------------------------------ data
    @property
    def rank_seed(self) -> int:
        """This rank's seed: ``seed + 1000 * global_rank``."""
        return int(self.hparams.seed) + 1000 * self.global_rank

    def make_rank_env(self) -> EnvBase:
        """This rank's batched env, on the module's device (in :class:`~rl4py.envs.ObservationNorm`
        when the module has ``normalize_observations=True``; each rank keeps its own statistics)."""
        hp = self.hparams
        env = make_env(hp.env, num_envs=hp.num_envs, device=self.device, **(hp.env_kwargs or {}))
        return ObservationNorm(env) if hp.get("normalize_observations", False) else env

    def train_dataloader(self) -> DataLoader:
        if self.collector is None:
            raise RuntimeError(f"{type(self).__name__}: setup() must build the collector before training")
        # its own generator: creating the iterator must not draw from the global RNG (exact resume)
        return DataLoader(
            RolloutDataset(self.collector), batch_size=None, collate_fn=_identity, generator=torch.Generator()
        )

    def next_rollout(self, dataloader_iter: Iterator) -> TensorDictBase:
        """Takes the next rollout and records its frames and finished episodes.

        ``training_step`` takes the iterator (not a batch) so that Lightning does not prefetch the
        next rollout before this update: every rollout is collected by the current policy.
        """
        rollout, _, _ = next(dataloader_iter)
        self.env_frames += self.collector.frames_per_rollout
        returns, _ = finished_episodes(rollout)
        self.last_returns = returns  # this rank's episodes of this step (for callbacks)
        self._recent = (self._recent + returns.tolist())[-RECENT_EPISODES:]
        # every rank calls compute() when logging: the metrics reduce over all ranks' episodes
        self.episode_return.update(returns)
        self.max_episode_return.update(returns if returns.numel() else torch.tensor([float("-inf")]))
        return rollout

    def log_common(self, log: Callable) -> None:
        """Logs the episode metrics and the global env-step counter (call on logging steps)."""
        log_episode_metrics(self, log)
        # every rank collects the same number of frames: the global count is rank 0's times the ranks
        log("charts/env_steps", float(self.env_frames * self.trainer.world_size), prog_bar=True)

    def stop_at_target(self) -> None:
        """Stops training once the recent mean return of any rank reaches ``target_return``.

        Under DDP the decision is reduced across ranks (a collective every rank reaches on every
        step), so all ranks stop on the same step instead of one leaving the others in a collective.
        """
        target = self.hparams.target_return
        if target is None:
            return
        local = len(self._recent) == RECENT_EPISODES and self.mean_recent_return >= target
        if self.trainer.world_size > 1:
            local = self.trainer.strategy.reduce_boolean_decision(local, all=False)
        if local:
            self.trainer.should_stop = True

    @property
    def mean_recent_return(self) -> float:
        """Mean return of this rank's last 20 finished episodes (NaN before the first)."""
        return sum(self._recent) / len(self._recent) if self._recent else float("nan")

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        """A subclass's resume state beyond the networks and optimizers (RNGs, counters, buffers)."""
        return {}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        """Restores what :meth:`extra_checkpoint_state` saved."""

    def rank_checkpoint_state(self) -> dict:
        """This rank's resume state: collector (env, observation), counters, RNG states, extras."""
        state = {
            "collector": self.collector.state_dict() if self.collector is not None else None,
            "env_frames": self.env_frames,
            "recent_returns": list(self._recent),
            "torch_rng": torch.get_rng_state(),
            **self.extra_checkpoint_state(),
        }
        if self.device.type == "cuda":  # the policy samples on the GPU
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Lightning writes rank 0's checkpoint dict only, but calls this hook on every rank: gather
        # every rank's own env, RNG and buffers into it so that each rank resumes its own
        # on the CPU: portable across devices, and gathering GPU tensors would land them on rank
        # 0's view of other ranks' GPUs (every load moves its tensors back to the module's device)
        state = _to_cpu(self.rank_checkpoint_state())
        world_size = self.trainer.world_size if self._trainer is not None else 1
        ranks = [state]
        if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            ranks = [None] * world_size
            torch.distributed.all_gather_object(ranks, state)
        checkpoint["rl4py"] = {"ranks": ranks}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        name = type(self).__name__
        saved = checkpoint.get("rl4py")
        if saved is None:
            raise KeyError(f"{name}: the checkpoint has no 'rl4py' entry; it was not written by an rl4py module")
        ranks = saved.get("ranks", [saved])  # without "ranks": one process's state (the earlier format)
        if self._trainer is None:
            # load_from_checkpoint (evaluation, export): the weights are what matters; the counters
            # come from rank 0, and no env is built nor any RNG touched (fit(ckpt_path=...) resumes)
            self.env_frames = int(ranks[0]["env_frames"])
            self._recent = list(ranks[0]["recent_returns"])
            return
        if len(ranks) != self.trainer.world_size:
            raise ValueError(
                f"{name}: the checkpoint holds the state of {len(ranks)} ranks but this run has "
                f"{self.trainer.world_size}; resume with the same number of processes (devices x nodes)"
            )
        state = ranks[self.global_rank]
        if self.collector is None:
            self.setup("fit")
        if state["collector"] is not None:
            self.collector.load_state_dict(state["collector"])
        self.env_frames = int(state["env_frames"])
        self._recent = list(state["recent_returns"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.load_extra_checkpoint_state(state)
