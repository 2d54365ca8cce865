"""PPO as a LightningModule: one rollout per training step, epochs x minibatches inside the step."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import lightning.pytorch as pl
import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torch.utils.data import DataLoader, IterableDataset
from torchmetrics import MaxMetric, MeanMetric

from rl4py import keys
from rl4py.collectors.sync import SyncCollector, finished_episodes
from rl4py.envs.factory import make_env
from rl4py.losses.common import LossModule, total_loss
from rl4py.losses.ppo import PPOLoss
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.trainers.updates import num_threads
from rl4py.values.base import ValueEstimator
from rl4py.values.gae import GAE

__all__ = ["PPOModule", "RolloutDataset"]

LossFactory = Callable[[ProbabilisticActor, TensorDictModuleBase], LossModule]


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


def log_episode_metrics(module: pl.LightningModule, log: Callable) -> None:
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


class PPOModule(pl.LightningModule):
    """PPO trained by the Lightning ``Trainer`` (CPU or GPUs, one or many processes with DDP).

    Every component is a constructor argument, so ``LightningCLI`` (``rl4py fit``) swaps it from
    YAML or the command line: ``--model.loss.init_args.dual_clip 3.0``,
    ``--model.value_estimator.class_path rl4py.values.VTrace``. Each training step collects one
    rollout and runs ``epochs`` x ``num_minibatches`` optimizer steps (manual optimization, one
    ``manual_backward`` per minibatch, so DDP all-reduces every minibatch's gradients). The
    Trainer's ``max_steps`` counts optimizer steps.

    Each rank owns its env and collector, seeded ``seed + 1000 * rank``; episode returns go
    through torchmetrics (``MeanMetric``/``MaxMetric``) so the logged values are reduced across
    ranks. Checkpoints hold the networks, the optimizer, the env and collector state, the global
    env-step counter and the RNG states, so a resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        num_envs: sub-envs per rank.
        env_kwargs: extra constructor arguments of the env.
        rollout_length: steps per sub-env per rollout.
        num_cells: hidden sizes of the actor and of the critic.
        loss: builds the loss from ``(actor, critic)``; default :class:`~rl4py.losses.PPOLoss`.
        value_estimator: the estimator stage (default ``GAE(0.99, 0.95)``); its value network (and,
            for V-trace, its actor) are set to this module's critic (and actor).
        lr: Adam learning rate.
        adam_eps: Adam epsilon.
        epochs: passes over each rollout.
        num_minibatches: minibatches per pass.
        max_grad_norm: global gradient-norm clip (``None``: off).
        update_threads: torch threads during the update (``None``: unchanged).
        target_return: stop training once the mean return of the last 20 episodes (this rank's)
            reaches it; ``None`` trains until ``max_steps``.
        seed: base seed of the networks, the sampling and the envs.
    """

    def __init__(
        self,
        env: str = "CartPole",
        num_envs: int = 32,
        env_kwargs: dict | None = None,
        rollout_length: int = 32,
        num_cells: Sequence[int] = (64, 64),
        loss: LossFactory = PPOLoss,
        value_estimator: ValueEstimator | None = None,
        lr: float = 2.5e-4,
        adam_eps: float = 1e-5,
        epochs: int = 4,
        num_minibatches: int = 4,
        max_grad_norm: float | None = 0.5,
        update_threads: int | None = None,
        target_return: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["loss", "value_estimator"])
        self.automatic_optimization = False
        if epochs < 1 or num_minibatches < 1:
            raise ValueError(f"PPOModule: epochs and num_minibatches must be >= 1, got {epochs}, {num_minibatches}")
        if (num_envs * rollout_length) % num_minibatches:
            raise ValueError(
                f"PPOModule: num_envs * rollout_length = {num_envs * rollout_length} does not split into "
                f"num_minibatches={num_minibatches} equal minibatches"
            )
        torch.manual_seed(seed)
        probe = make_env(env, num_envs=1, **(env_kwargs or {}))
        self.actor, self.critic = make_actor_critic(
            probe.single_observation_space,
            probe.single_action_space,
            num_cells,
            masked=keys.ACTION_MASK in probe.observation_keys,
        )
        probe.close()
        self.loss = loss(self.actor, self.critic)
        self.value_estimator = value_estimator if value_estimator is not None else GAE(0.99, 0.95)
        self.value_estimator.value_network = self.critic
        if hasattr(self.value_estimator, "actor") and self.value_estimator.actor is None:
            self.value_estimator.actor = self.actor
        self.episode_return = MeanMetric(nan_strategy="ignore")
        self.max_episode_return = MaxMetric()
        self.env_frames = 0
        self.collector: SyncCollector | None = None
        self._recent: list[float] = []
        self.last_returns = torch.zeros(0)
        self._shuffle = torch.Generator()

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        hp = self.hparams
        rank_seed = hp.seed + 1000 * self.global_rank
        env = make_env(hp.env, num_envs=hp.num_envs, device=self.device, **(hp.env_kwargs or {}))
        self.collector = SyncCollector(env, self.actor, hp.rollout_length, seed=rank_seed, return_same_td=True)
        self._shuffle.manual_seed(rank_seed)
        torch.manual_seed(rank_seed)  # this rank's action sampling

    def train_dataloader(self) -> DataLoader:
        # its own generator: creating the iterator must not draw from the global RNG (exact resume)
        return DataLoader(
            RolloutDataset(self.collector), batch_size=None, collate_fn=_identity, generator=torch.Generator()
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.loss.parameters(), lr=self.hparams.lr, eps=self.hparams.adam_eps, fused=True)

    # -------------------------------------------------------------- training
    def training_step(self, dataloader_iter: Iterator) -> None:
        # taking the iterator (not a batch) stops Lightning from prefetching the next rollout
        # before this update: every rollout is collected by the current policy
        hp = self.hparams
        start = time.perf_counter()
        rollout, _, _ = next(dataloader_iter)
        self.env_frames += self.collector.frames_per_rollout
        returns, _ = finished_episodes(rollout)
        self.last_returns = returns  # this rank's episodes of this step (for callbacks)
        self._recent = (self._recent + returns.tolist())[-20:]
        # every rank calls compute(): the metrics reduce over all ranks' episodes of this step
        self.episode_return.update(returns)
        self.max_episode_return.update(returns if returns.numel() else torch.tensor([float("-inf")]))
        optimizer = self.optimizers()
        params = [p for p in self.loss.parameters() if p.requires_grad]
        outputs = []
        with num_threads(hp.update_threads):
            self.value_estimator(rollout)
            flat = rollout.reshape(-1)
            n = flat.shape[0]
            size = n // hp.num_minibatches
            for _ in range(hp.epochs):
                order = torch.randperm(n, generator=self._shuffle).to(flat.device) if hp.num_minibatches > 1 else None
                for first in range(0, n, size):
                    out = self.loss(flat if order is None else flat[order[first : first + size]])
                    optimizer.zero_grad(set_to_none=True)
                    self.manual_backward(total_loss(out))
                    if hp.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, hp.max_grad_norm)
                    optimizer.step()
                    outputs.append(out.detach())
        if should_log(self.trainer):
            stats = torch.stack(outputs).mean(0)
            log = partial(self.log, on_step=True, on_epoch=False, batch_size=self.collector.frames_per_rollout)
            for key, value in stats.items():
                log(f"losses/{key}", value)
            log_episode_metrics(self, log)
            log("charts/env_steps", float(self.env_frames), prog_bar=True)
            log("charts/SPS", self.collector.frames_per_rollout / (time.perf_counter() - start), prog_bar=True)
        if hp.target_return is not None and len(self._recent) == 20 and sum(self._recent) / 20 >= hp.target_return:
            self.trainer.should_stop = True

    @property
    def mean_recent_return(self) -> float:
        """Mean return of this rank's last 20 finished episodes (NaN before the first)."""
        return sum(self._recent) / len(self._recent) if self._recent else float("nan")

    # ------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["rl4py"] = {
            "collector": self.collector.state_dict() if self.collector is not None else None,
            "env_frames": self.env_frames,
            "recent_returns": list(self._recent),
            "torch_rng": torch.get_rng_state(),
            "shuffle_rng": self._shuffle.get_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("rl4py")
        if state is None:
            raise KeyError("PPOModule: the checkpoint has no 'rl4py' entry; it was not written by PPOModule")
        if self.collector is None:
            self.setup("fit")
        if state["collector"] is not None:
            self.collector.load_state_dict(state["collector"])
        self.env_frames = int(state["env_frames"])
        self._recent = list(state["recent_returns"])
        torch.set_rng_state(state["torch_rng"])
        self._shuffle.set_state(state["shuffle_rng"])
