"""What rl4py's LightningModules share: the env and the networks built in ``configure_model``, a
collector per rank fed through an iterable dataset, episode metrics reduced across ranks, the
stop rules (``target_return``, ``total_frames``), and the checkpoint of the env, the counters, the
metrics and the RNG states."""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import lightning.pytorch as pl
import torch
from lightning.pytorch.plugins.precision import Precision as pl_precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.model_helpers import is_overridden
from tensordict import TensorDictBase
from torch.utils.data import DataLoader, IterableDataset
from torchmetrics import MaxMetric, MeanMetric

import rl4py
from rl4py.collectors.sync import SyncCollector, finished_episodes, finished_head_returns
from rl4py.distributed.consistency import check_same_settings
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env
from rl4py.envs.wrappers import FrozenObservationNorm, ObservationNorm, find_wrapper
from rl4py.loggers.names import EPISODIC_LENGTH, EPISODIC_RETURN, stat_key
from rl4py.modules.policy import predict
from rl4py.trainers.actor_critic import check_reward_heads
from rl4py.trainers.config import TrainConfig, lightning_config
from rl4py.trainers.evaluation import evaluate_policy

__all__ = ["Progress", "RolloutDataset", "RolloutModule", "load_checkpoint"]

# the modules' val/test loaders are empty inside fit on purpose (see RolloutModule._evaluation_loader)
warnings.filterwarnings("ignore", message="Total length of `list` across ranks is zero")


class Progress(NamedTuple):
    """Where a run stands, in the unit a progress bar shows."""

    done: int
    """Units done (env steps of all ranks, or dataset passes)."""
    total: int | None
    """Units when the run ends (``None``: unknown)."""
    unit: str
    """What is counted: ``"env steps"`` or ``"passes"``."""


def _norm_state(env_state: dict | None) -> dict | None:
    """The :class:`~rl4py.envs.ObservationNorm` state inside a (wrapped) env's state dict, or ``None``."""
    while isinstance(env_state, dict):
        if {"mean", "var", "count"} <= env_state.keys():
            return env_state
        env_state = env_state.get("env")
    return None


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


class RolloutModule(pl.LightningModule, ABC):
    """Base of the rl4py LightningModules (manual optimization, one env and collector per rank).

    The constructor only records the settings: the env, the networks and the collector are built
    in :meth:`configure_model` (Lightning calls it in ``fit`` on each rank, after the devices are
    set, and in ``load_from_checkpoint``), the networks from the env's spaces. A subclass sets
    :attr:`config_class` and implements :meth:`build` (the algorithm's builder) and
    :meth:`collection_policy`; its ``training_step`` calls :meth:`next_rollout`, the algorithm's
    update body, :meth:`log_metrics` and :meth:`stop_if_done`.

    Seeds: the networks are initialised from the seed ``seed_everything`` set (the CLI's
    ``--seed_everything``; ``torch.initial_seed()``; without it, rank 0's), identically on every
    rank; each rank's env, sampling and shuffles are seeded ``seed + 1000 * rank`` (the global
    rank, numbered across nodes). Under several processes ``fit`` first checks that every rank has
    the same seed, hyperparameters and step limits, and refuses to start otherwise.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        config: the algorithm's config (or a mapping of its fields, as a checkpoint stores it).
        env_kwargs: extra constructor arguments of the env.
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`
            (each rank keeps its own statistics, in the checkpoint).
    """

    predict = predict
    """``module.predict(observation[, action_mask, state])``: the trained actor's action for a plain
    tensor or numpy observation (:func:`rl4py.modules.policy.predict`)."""

    config_class: ClassVar[type[TrainConfig]] = TrainConfig
    """The config type of the algorithm."""
    component_args: ClassVar[tuple[str, ...]] = ()
    """Constructor arguments holding modules (networks, losses): not saved as hyperparameters, so
    ``load_from_checkpoint`` needs them passed again when they were given."""
    recent_episodes: ClassVar[int] = 20
    """Episodes in :attr:`mean_recent_return` (``config.window`` when the config has one)."""
    evaluation_episodes: int = 16
    """Episodes (one per sub-env) of ``trainer.validate`` / ``trainer.test`` (settable per instance)."""
    evaluation_max_steps: int = 10_000
    """Step limit of an evaluation episode."""
    validation_seed: int = 1_000_003
    """Seed of the validation envs' resets (plus ``1000 * rank``)."""
    test_seed: int = 2_000_003
    """Seed of the test envs' resets (plus ``1000 * rank``): other start states than validation's."""

    def __init__(
        self,
        env: str,
        config: TrainConfig | dict | None = None,
        env_kwargs: dict | None = None,
        normalize_observations: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.config = lightning_config(config, self.config_class, type(self).__name__)
        self.env_name = env
        self.env_kwargs = dict(env_kwargs or {})
        self.normalize_observations = normalize_observations
        # the subclass's constructor arguments (or, from the CLI, its resolved config with the class
        # path), components left out; the config as a plain dict: checkpoints load with weights_only=True
        self.save_hyperparameters(ignore=list(self.component_args))
        self.hparams["config"] = dataclasses.asdict(self.config)
        self.episode_return = MeanMetric(nan_strategy="ignore")
        self.max_episode_return = MaxMetric()
        self.episode_length = MeanMetric(nan_strategy="ignore")
        self.env_frames = 0
        self.training_steps = 0
        self.base_seed: int | None = None
        self.collector: SyncCollector | None = None
        self.built = False
        self._recent: list[float] = []
        self.last_returns = torch.zeros(0)
        #: this rank's per-head episode returns since the last log (envs with several reward heads)
        self._head_returns: list[list[float]] = []
        self._observation_stats: dict | None = None  # rank 0's, from a checkpoint loaded without a Trainer
        self._plain_backward = False  # set per fit in on_train_start

    # ----------------------------------------------------------------- build
    @abstractmethod
    def build(self, observation_space: gym.Space, action_space: gym.Space, masked: bool) -> None:
        """Builds the algorithm's components for one sub-env's spaces (the algorithm's builder)."""

    @abstractmethod
    def collection_policy(self) -> torch.nn.Module:
        """The policy the collector runs."""

    def on_collector_built(self, env: EnvBase) -> None:
        """Per-rank state a subclass creates once the env exists (shuffle generators, buffers)."""

    @property
    def attached(self) -> bool:
        """Whether a ``Trainer`` runs this module (``False`` after a bare ``load_from_checkpoint``)."""
        try:
            self.trainer  # noqa: B018 -- raises when no Trainer is attached
        except RuntimeError:
            return False
        return True

    @property
    def rank_seed(self) -> int:
        """This rank's seed: ``seed + 1000 * global_rank``."""
        if self.base_seed is None:
            raise RuntimeError(f"{type(self).__name__}: the seed is set in configure_model()")
        return self.base_seed + 1000 * self.global_rank

    def make_rank_env(self, device: torch.device | str = "cpu", num_envs: int | None = None) -> EnvBase:
        """This rank's batched env on ``device`` (in :class:`~rl4py.envs.ObservationNorm` with
        ``normalize_observations``)."""
        num_envs = self.config.num_envs if num_envs is None else num_envs
        env = make_env(self.env_name, num_envs=num_envs, device=device, **self.env_kwargs)
        return ObservationNorm(env) if self.normalize_observations else env

    def configure_model(self) -> None:
        """Builds the env, the networks and the collector (once).

        Under a ``Trainer``: this rank's env on the strategy's device, the networks from the
        ``seed_everything`` seed (the same on every rank), the collector seeded for the rank.
        Without one (``load_from_checkpoint`` for evaluation or export): the networks only, from
        a one-env probe's spaces on the CPU, in a forked RNG (the caller's RNG is untouched).
        """
        if self.built:
            return
        if not self.attached:
            probe = make_env(self.env_name, num_envs=1, **self.env_kwargs)
            with torch.random.fork_rng():
                self.build(probe.single_observation_space, probe.single_action_space, has_action_mask(probe))
            probe.close()
            self.built = True
            return
        self.base_seed = self._agreed_seed()
        env = self.make_rank_env(device=self.trainer.strategy.root_device)
        torch.manual_seed(self.base_seed)  # the same networks on every rank
        self.build(env.single_observation_space, env.single_action_space, has_action_mask(env))
        estimator = getattr(self, "value_estimator", None)
        if estimator is not None:
            check_reward_heads(env, estimator, type(self).__name__)
        self.built = True
        self.collector = SyncCollector(
            env, self.collection_policy(), self.rollout_length, seed=self.rank_seed, return_same_td=True
        )
        self.on_collector_built(env)
        torch.manual_seed(self.rank_seed)  # this rank's action sampling

    def _agreed_seed(self) -> int:
        """The seed of the networks: ``seed_everything``'s, the same on every rank. Under several
        processes, checks first that every rank has the same seed, hyperparameters and the Trainer
        settings that decide when collectives run (nodes are started one by one; a node given
        another ``max_steps`` would wait forever); without ``seed_everything`` rank 0's seed is used."""
        seed = torch.initial_seed()
        if self.trainer.world_size == 1:
            return seed
        trainer = self.trainer
        settings = {
            "seed_everything": seed if "PL_GLOBAL_SEED" in os.environ else None,
            "model": {"class": type(self).__qualname__, **self.hparams},
            "trainer": {"max_steps": trainer.max_steps, "log_every_n_steps": trainer.log_every_n_steps},
            "versions": {"rl4py": rl4py.__version__, "torch": torch.__version__, "lightning": pl.__version__},
        }
        check_same_settings(settings, who=type(self).__name__)
        return int(trainer.strategy.broadcast(seed, src=0))

    @property
    def rollout_length(self) -> int:
        """Steps per sub-env per rollout (the config's ``rollout_length``)."""
        return int(self.config.rollout_length)

    @property
    def optimizer_steps_per_rollout(self) -> int | None:
        """Optimizer steps (the Trainer's ``global_step`` unit) per training step, when fixed (``None``: varies)."""
        return None

    def progress(self) -> Progress:
        """Env steps of all ranks so far and when the run ends: ``config.total_frames`` rounded up to
        whole rollouts, or fewer when the Trainer's ``max_steps`` (optimizer steps) ends it first.
        :class:`~rl4py.trainers.lightning_callbacks.EnvStepProgressBar` shows it."""
        done = self.global_env_frames
        if self.collector is None:
            return Progress(done, None, "env steps")
        per_rollout = self.collector.frames_per_rollout * (self.trainer.world_size if self.attached else 1)
        total = math.ceil(self.config.total_frames / per_rollout) * per_rollout
        steps = self.optimizer_steps_per_rollout
        max_steps = self.trainer.max_steps if self.attached else -1
        if steps and max_steps is not None and max_steps >= 0:
            rollouts_left = max(0, math.ceil((max_steps - self.trainer.global_step) / steps))
            total = min(total, done + rollouts_left * per_rollout)
        return Progress(done, max(total, done), "env steps")

    # ------------------------------------------------------------------ data
    def train_dataloader(self) -> DataLoader:
        if self.collector is None:
            raise RuntimeError(f"{type(self).__name__}: configure_model() must build the collector before training")
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
        self.training_steps += 1
        self.env_frames += self.collector.frames_per_rollout
        self.record_episodes(rollout)
        return rollout

    def record_episodes(self, rollout: TensorDictBase) -> None:
        """Adds the episodes that ended in ``rollout`` to the metrics and the recent returns."""
        returns, lengths = finished_episodes(rollout)
        self.last_returns = returns  # this rank's episodes of this step (for callbacks)
        window = getattr(self.config, "window", self.recent_episodes)
        self._recent = (self._recent + returns.tolist())[-window:]
        # every rank calls compute() when logging: the metrics reduce over all ranks' episodes
        self.episode_return.update(returns)
        self.max_episode_return.update(returns if returns.numel() else torch.tensor([float("-inf")]))
        self.episode_length.update(lengths.float())
        heads = finished_head_returns(rollout)
        if heads is not None:
            self._head_returns.extend(heads.tolist())

    @property
    def global_env_frames(self) -> int:
        """Env steps collected by all ranks (every rank collects the same number)."""
        world_size = self.trainer.world_size if self.attached else 1
        return self.env_frames * world_size

    # --------------------------------------------------------------- logging
    def should_log(self) -> bool:
        """Whether this training step logs: every ``log_every_n_steps`` training steps (rollouts) of
        the Trainer (``rl4py fit`` sets 1)."""
        every = self.trainer.log_every_n_steps
        return every > 0 and self.training_steps % every == 0

    def log_metrics(self, stats: TensorDictBase | None, extra: dict[str, float] | None = None) -> None:
        """On logging steps: the update's ``losses/*``, the episode metrics, env steps and ``extra``
        (see :meth:`publish_metrics`: the loggers' x-axis is env steps).

        Every rank reaches this on the same steps, so the metrics' ``compute()`` (a collective under
        DDP) is called in lockstep.
        """
        if not self.should_log():
            return
        metrics: dict[str, float] = {}
        if stats is not None and len(stats.keys()):
            names = list(stats.keys())
            values = torch.stack([stats.get(name).detach().float().reshape(()) for name in names]).tolist()
            metrics.update({stat_key(name): value for name, value in zip(names, values)})
        episode_return, max_return = self.episode_return.compute(), self.max_episode_return.compute()
        episode_length = self.episode_length.compute()
        for metric in (self.episode_return, self.max_episode_return, self.episode_length):
            metric.reset()
        if torch.isfinite(max_return):  # some rank finished an episode
            metrics["charts/episodic_return"] = float(episode_return)
            metrics["charts/max_episodic_return"] = float(max_return)
            metrics[EPISODIC_LENGTH] = float(episode_length)
        if self._head_returns:  # this rank's episodes since the last log, one mean per reward head
            n = len(self._head_returns)
            for h, column in enumerate(zip(*self._head_returns)):
                metrics[f"{EPISODIC_RETURN}_head{h}"] = sum(column) / n
            self._head_returns = []
        metrics["charts/env_steps"] = float(self.global_env_frames)
        metrics.update({key: float(value) for key, value in (extra or {}).items()})
        self.publish_metrics(metrics, prog_bar=("charts/episodic_return", "charts/env_steps"))

    def publish_metrics(
        self, metrics: dict[str, float], step: int | None = None, prog_bar: tuple[str, ...] = ()
    ) -> None:
        """Writes ``metrics`` to every logger at x = ``step`` (default: env steps of all ranks) and
        puts them in ``trainer.callback_metrics`` (``ModelCheckpoint(monitor=...)``, ``EarlyStopping``)
        and, for ``prog_bar`` keys, ``trainer.progress_bar_metrics``.

        The loggers are called directly rather than through ``self.log``, whose x-axis is Lightning's
        batch counter and which costs ~0.3 ms per metric on CPU; the values must already be reduced
        across ranks (the loggers write on rank 0 only).
        """
        step = self.global_env_frames if step is None else int(step)
        for logger in self.loggers:
            logger.log_metrics(metrics, step=step)
        tensors = {key: torch.tensor(value, dtype=torch.float64) for key, value in metrics.items()}
        self.trainer.callback_metrics.update(tensors)
        self.trainer.logged_metrics.update(tensors)
        self.trainer.progress_bar_metrics.update({key: metrics[key] for key in prog_bar if key in metrics})

    def on_train_start(self) -> None:
        self._plain_backward = not self._lightning_backward_needed()

    def backward_pass(self, loss: torch.Tensor) -> None:
        """The update bodies' backward (``backward=``): ``manual_backward``, or ``loss.backward()``
        where that is the same thing (see :meth:`_lightning_backward_needed`)."""
        if self._plain_backward:
            loss.backward()
        else:
            self.manual_backward(loss)

    def _lightning_backward_needed(self) -> bool:
        """Whether the backward pass must go through ``manual_backward``: a strategy or precision
        that acts on it (DDP, mixed precision), or a backward hook of a callback or this module.
        Otherwise ``loss.backward()`` does the same without Lightning's ~0.1 ms per call."""
        trainer = self.trainer
        if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not pl_precision:
            return True
        hooks = ("on_before_backward", "on_after_backward", "backward")
        if any(is_overridden(hook, self, pl.LightningModule) for hook in hooks):
            return True
        return any(is_overridden(hook, callback, pl.Callback) for callback in trainer.callbacks for hook in hooks[:2])

    # ------------------------------------------------------------ evaluation
    def observation_statistics(self) -> dict | None:
        """This rank's :class:`~rl4py.envs.ObservationNorm` state (``mean``, ``var``, ``count``) with
        ``normalize_observations``: the training env's, or rank 0's from the checkpoint this module
        was loaded from; ``None`` otherwise."""
        if not self.normalize_observations:
            return None
        if self.collector is not None:
            return find_wrapper(self.collector.env, ObservationNorm).state_dict()
        return self._observation_stats

    def observation_transform(self) -> FrozenObservationNorm | None:
        """The observation normalization the actor was trained behind (frozen), as a module for
        ``predict`` / the exports (``observation_transform=``); ``None`` without ``normalize_observations``.

        Raises:
            ValueError: the module normalizes observations but holds no statistics (not trained, not loaded).
        """
        if not self.normalize_observations:
            return None
        stats = self.observation_statistics()
        if stats is None:
            raise ValueError(
                f"{type(self).__name__}: normalize_observations is set but no observation statistics are held: "
                "load the module from a checkpoint (load_checkpoint) or train it first"
            )
        return FrozenObservationNorm(stats["mean"], stats["var"])  # the training wrapper's clip and epsilon

    def make_evaluation_env(self, num_envs: int, env: str | None = None, **env_kwargs: Any) -> EnvBase:
        """Fresh envs for evaluation on this module's device: ``env`` (default the training env, with
        its ``env_kwargs`` updated by ``env_kwargs``), behind a frozen
        :class:`~rl4py.envs.ObservationNorm` holding :meth:`observation_statistics` when the module
        normalizes observations."""
        kwargs = {**(self.env_kwargs if env is None or env == self.env_name else {}), **env_kwargs}
        made = make_env(self.env_name if env is None else env, num_envs=num_envs, device=self.device, **kwargs)
        if not self.normalize_observations:
            return made
        norm = ObservationNorm(made)
        stats = self.observation_statistics()
        if stats is not None:
            norm.load_state_dict({**stats, "env": made.state_dict(), "frozen": True})
        norm.frozen = True
        return norm

    def evaluate(
        self,
        num_episodes: int | None = None,
        seed: int | None = None,
        deterministic: bool = True,
        max_steps: int | None = None,
    ) -> torch.Tensor:
        """Returns ``[num_episodes]`` of the actor, one episode per sub-env of fresh envs
        (:meth:`make_evaluation_env`) reset with ``seed``. Sampling (``deterministic=False``) draws
        from a forked RNG seeded ``seed``: the training RNG is untouched.

        Raises:
            RuntimeError: an episode did not end within ``max_steps``.
        """
        num_episodes = self.evaluation_episodes if num_episodes is None else num_episodes
        seed = self.validation_seed if seed is None else seed
        if num_episodes < 1:
            raise ValueError(f"{type(self).__name__}.evaluate: num_episodes must be >= 1, got {num_episodes}")
        env = self.make_evaluation_env(num_episodes)
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(seed)
                returns = evaluate_policy(
                    env,
                    self.actor,
                    max_steps=self.evaluation_max_steps if max_steps is None else max_steps,
                    deterministic=deterministic,
                    seed=seed,
                )
        finally:
            env.close()
        return returns.float()

    def _evaluation_loader(self) -> DataLoader | list:
        # one item, one evaluation; inside fit there is none (EvaluationCallback evaluates while training)
        if self.trainer.state.fn == TrainerFn.FITTING:
            return []
        return DataLoader([0], batch_size=None)

    def val_dataloader(self) -> DataLoader | list:
        return self._evaluation_loader()

    def test_dataloader(self) -> DataLoader | list:
        return self._evaluation_loader()

    def _evaluation_step(self, prefix: str, seed: int) -> None:
        returns = self.evaluate(seed=seed + 1000 * self.global_rank)
        n = returns.numel()
        self.log(f"{prefix}/mean_return", returns.mean(), batch_size=n, sync_dist=True)
        self.log(f"{prefix}/std_return", returns.std(unbiased=False), batch_size=n, sync_dist=True)
        self.log(f"{prefix}/min_return", returns.min(), batch_size=n, sync_dist=True, reduce_fx="min")
        self.log(f"{prefix}/max_return", returns.max(), batch_size=n, sync_dist=True, reduce_fx="max")
        self.log(f"{prefix}/episodes", float(n * self.trainer.world_size), batch_size=n)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """``trainer.validate`` / ``rl4py validate``: :attr:`evaluation_episodes` greedy episodes reset
        with :attr:`validation_seed`; logs ``eval/mean_return``, ``eval/std_return``,
        ``eval/min_return``, ``eval/max_return`` (reduced over ranks) and ``eval/episodes``."""
        self._evaluation_step("eval", self.validation_seed)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """``trainer.test`` / ``rl4py test``: as :meth:`validation_step` with :attr:`test_seed`, ``test/*``."""
        self._evaluation_step("test", self.test_seed)

    def stop_if_done(self) -> None:
        """Stops training once the env-step budget ``total_frames`` is spent or the recent mean
        return of any rank reaches ``target_return``.

        Under DDP the decision is reduced across ranks (a collective every rank reaches on every
        step), so all ranks stop on the same step instead of one leaving the others in a collective.
        """
        done = self.global_env_frames >= self.config.total_frames
        target = self.config.target_return
        window = getattr(self.config, "window", self.recent_episodes)
        if target is not None:
            reached = len(self._recent) == window and self.mean_recent_return >= target
            if self.trainer.world_size > 1:
                reached = self.trainer.strategy.reduce_boolean_decision(reached, all=False)
            done = done or reached
        if done:
            self.trainer.should_stop = True

    @property
    def mean_recent_return(self) -> float:
        """Mean return of this rank's last ``window`` finished episodes (NaN before the first)."""
        return sum(self._recent) / len(self._recent) if self._recent else float("nan")

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        """A subclass's per-rank resume state beyond the networks and optimizers (RNGs, buffers)."""
        return {}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        """Restores what :meth:`extra_checkpoint_state` saved."""

    def rank_checkpoint_state(self) -> dict:
        """This rank's resume state: collector (env, observation), counters, metrics, RNG states, extras."""
        state = {
            "collector": self.collector.state_dict() if self.collector is not None else None,
            "env_frames": self.env_frames,
            "training_steps": self.training_steps,
            "recent_returns": list(self._recent),
            "head_returns": [list(row) for row in self._head_returns],
            "metrics": {
                "episode_return": dict(self.episode_return.metric_state),
                "max_episode_return": dict(self.max_episode_return.metric_state),
                "episode_length": dict(self.episode_length.metric_state),
            },
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
        world_size = self.trainer.world_size if self.attached else 1
        ranks = [state]
        if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            ranks = [None] * world_size
            torch.distributed.all_gather_object(ranks, state)
        cls = type(self)
        checkpoint["rl4py"] = {"ranks": ranks, "module": f"{cls.__module__}.{cls.__qualname__}"}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        name = type(self).__name__
        saved = checkpoint.get("rl4py")
        if saved is None:
            raise KeyError(f"{name}: the checkpoint has no 'rl4py' entry; it was not written by an rl4py module")
        ranks = saved.get("ranks", [saved])  # without "ranks": one process's state (the earlier format)
        if not self.attached:
            # load_from_checkpoint (evaluation, export): the weights are what matters; the counters
            # come from rank 0, and no env is built nor any RNG touched (fit(ckpt_path=...) resumes)
            self.env_frames = int(ranks[0]["env_frames"])
            self._recent = list(ranks[0]["recent_returns"])
            collector = ranks[0].get("collector")
            self._observation_stats = _norm_state(collector["env"]) if collector is not None else None
            return
        if len(ranks) != self.trainer.world_size:
            raise ValueError(
                f"{name}: the checkpoint holds the state of {len(ranks)} ranks but this run has "
                f"{self.trainer.world_size}; resume with the same number of processes (devices x nodes)"
            )
        state = ranks[self.global_rank]
        self.configure_model()
        if state["collector"] is not None:
            self.collector.load_state_dict(state["collector"])
        self.env_frames = int(state["env_frames"])
        self.training_steps = int(state.get("training_steps", 0))
        self._recent = list(state["recent_returns"])
        self._head_returns = [list(row) for row in state.get("head_returns", [])]
        for metric_name, metric_state in state.get("metrics", {}).items():
            metric = getattr(self, metric_name)
            metric.load_state_dict({k: v.to(self.device) for k, v in metric_state.items()}, strict=False)
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.load_extra_checkpoint_state(state)


def load_checkpoint(path: str, **kwargs: Any) -> RolloutModule:
    """Loads an rl4py LightningModule checkpoint without knowing its class: the module class is
    read from the checkpoint, the networks are rebuilt and the weights loaded (no env kept, the
    caller's RNG untouched). ``kwargs`` go to ``load_from_checkpoint`` (components such as a
    custom ``loss`` must be passed again).

    Raises:
        KeyError: the file is a checkpoint that no rl4py module wrote.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    saved = checkpoint.get("rl4py") if isinstance(checkpoint, dict) else None
    if saved is None or "module" not in saved:
        raise KeyError(f"load_checkpoint: {path} is not a checkpoint written by an rl4py LightningModule")
    module_path, _, class_name = saved["module"].rpartition(".")
    cls = getattr(importlib.import_module(module_path), class_name)
    kwargs.setdefault("weights_only", True)
    return cls.load_from_checkpoint(path, map_location="cpu", **kwargs)
