"""The IMPALA-style (V-trace) actor-critic as a LightningModule; the plain-loop twin is
:func:`rl4py.trainers.train_impala`."""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from functools import partial

import torch
from tensordict.nn import TensorDictModuleBase

from rl4py.collectors.sync import SyncCollector
from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.factory import make_env
from rl4py.losses.actor_critic import ActorCriticLoss
from rl4py.losses.common import LossModule
from rl4py.modules.actor_critic import make_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.trainers.impala_loop import UPGO_ADVANTAGE
from rl4py.trainers.lightning_base import RolloutModule, should_log
from rl4py.trainers.updates import minibatch_update, num_threads
from rl4py.values.base import ValueEstimator
from rl4py.values.upgo import UPGO
from rl4py.values.vtrace import VTrace

__all__ = ["ImpalaModule"]

LossFactory = Callable[[ProbabilisticActor, TensorDictModuleBase], LossModule]


class ImpalaModule(RolloutModule):
    """An actor-critic trained off stale rollouts with V-trace, by the Lightning ``Trainer``.

    Each training step: the behaviour actor (the learner's weights from ``policy_lag`` updates
    ago, as when actors run ahead of a remote learner) collects one rollout; the value estimator
    (default :class:`~rl4py.values.VTrace`, which evaluates the learner's policy on the rollout
    and clips the importance weights) writes value targets and advantages; with ``upgo=True``,
    :class:`~rl4py.values.UPGO` adds ``"upgo_advantage"`` (ROA-Star's V-trace + UPGO policy
    gradient); the loss (default :class:`~rl4py.losses.ActorCriticLoss`) runs ``epochs`` x
    ``num_minibatches`` optimizer steps with ``manual_backward``. The Trainer's ``max_steps``
    counts optimizer steps.

    Swaps work from the CLI as for :class:`~rl4py.trainers.PPOModule`:
    ``--model.value_estimator.init_args.rho_bar 2.0``, ``--model.loss.init_args.entropy_coeff 0.0``.
    Checkpoints hold the learner, the behaviour actor and the learner snapshots it will load
    next, the optimizer, the env and collector state, the counters and the RNG states, so a
    resumed run continues exactly.

    Args:
        env: a native env name or a gymnasium id (see :func:`rl4py.envs.make_env`).
        num_envs: sub-envs per rank (the actors).
        env_kwargs: extra constructor arguments of the env.
        rollout_length: steps per sub-env per rollout (IMPALA's unroll length).
        num_cells: hidden sizes of the actor and of the critic.
        loss: builds the loss from ``(actor, critic)``; default :class:`~rl4py.losses.ActorCriticLoss`.
        value_estimator: the estimator stage (default ``VTrace(0.99)``); its value network (and
            target-policy actor) are set to this module's critic (and learner actor).
        policy_lag: learner updates between the weights that collect a rollout and the learner
            (0: on-policy).
        upgo: add UPGO's policy-gradient term; the loss must have ``advantage_keys``.
        lr: Adam learning rate.
        adam_eps: Adam epsilon.
        epochs: passes over each rollout (1 in IMPALA).
        num_minibatches: minibatches per pass.
        max_grad_norm: global gradient-norm clip (``None``: off).
        normalize_observations: wrap each rank's env in :class:`~rl4py.envs.ObservationNorm`
            (its running statistics are in the checkpoint).
        update_threads: torch threads during the update (``None``: unchanged).
        target_return: stop once the mean return of this rank's last 20 episodes reaches it.
        seed: base seed of the networks, the sampling and the envs (each rank adds ``1000 * rank``).

    Examples:
        >>> import lightning.pytorch as pl
        >>> model = ImpalaModule("CartPole", num_envs=8, rollout_length=16, policy_lag=2)
        >>> pl.Trainer(max_steps=8, logger=False, enable_progress_bar=False).fit(model)  # doctest: +SKIP
    """

    def __init__(
        self,
        env: str = "CartPole",
        num_envs: int = 32,
        env_kwargs: dict | None = None,
        rollout_length: int = 32,
        num_cells: Sequence[int] = (64, 64),
        loss: LossFactory = ActorCriticLoss,
        value_estimator: ValueEstimator | None = None,
        policy_lag: int = 2,
        upgo: bool = False,
        lr: float = 1e-3,
        adam_eps: float = 1e-5,
        epochs: int = 1,
        num_minibatches: int = 4,
        max_grad_norm: float | None = 0.5,
        normalize_observations: bool = False,
        update_threads: int | None = None,
        target_return: float | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["loss", "value_estimator"])
        if policy_lag < 0:
            raise ValueError(f"ImpalaModule: policy_lag must be >= 0, got {policy_lag}")
        if epochs < 1 or num_minibatches < 1:
            raise ValueError(f"ImpalaModule: epochs and num_minibatches must be >= 1, got {epochs}, {num_minibatches}")
        if (num_envs * rollout_length) % num_minibatches:
            raise ValueError(
                f"ImpalaModule: num_envs * rollout_length = {num_envs * rollout_length} does not split into "
                f"num_minibatches={num_minibatches} equal minibatches"
            )
        torch.manual_seed(seed)
        probe = make_env(env, num_envs=1, **(env_kwargs or {}))
        self.actor, self.critic = make_actor_critic(
            probe.single_observation_space,
            probe.single_action_space,
            num_cells,
            masked=has_action_mask(probe),
        )
        probe.close()
        # a submodule, so the behaviour weights are in the state dict; no gradients reach it
        self.behaviour = copy.deepcopy(self.actor).requires_grad_(False)
        self.loss = loss(self.actor, self.critic)
        self.value_estimator = value_estimator if value_estimator is not None else VTrace(0.99)
        self.value_estimator.value_network = self.critic
        if hasattr(self.value_estimator, "actor") and self.value_estimator.actor is None:
            self.value_estimator.actor = self.actor
        self.upgo: UPGO | None = None
        if upgo:
            advantage_keys = getattr(self.loss, "advantage_keys", None)
            if advantage_keys is None:
                raise TypeError(
                    f"ImpalaModule: upgo=True needs a loss with advantage_keys (ActorCriticLoss), "
                    f"got {type(self.loss).__name__}"
                )
            gamma = getattr(self.value_estimator, "gamma", 0.99)
            # reuses the "state_value" (and V-trace's "target_log_prob") entries the value estimator
            # wrote and keeps its value targets; importance-weighted with AlphaStar's clip at 1
            self.upgo = UPGO(
                gamma,
                value_network=None,
                write_value_target=False,
                rho_bar=1.0,
                actor=self.actor,
                advantage_key=UPGO_ADVANTAGE,
            )
            if UPGO_ADVANTAGE not in advantage_keys:
                self.loss.advantage_keys = [*advantage_keys, UPGO_ADVANTAGE]
        self.updates = 0
        # learner weights after each update; the behaviour actor loads the one `policy_lag` back
        self._snapshots: deque[dict] = deque([self._actor_snapshot()], maxlen=policy_lag + 1)
        self._shuffle = torch.Generator()

    def _actor_snapshot(self) -> dict:
        return {k: v.detach().clone() for k, v in self.actor.state_dict().items()}

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        hp = self.hparams
        self.collector = SyncCollector(
            self.make_rank_env(), self.behaviour, hp.rollout_length, seed=self.rank_seed, return_same_td=True
        )
        self._shuffle = torch.Generator(device=self.device).manual_seed(self.rank_seed)
        # snapshots taken at construction live on the CPU; the learner may have moved
        self._snapshots = deque([self._actor_snapshot()], maxlen=hp.policy_lag + 1)
        torch.manual_seed(self.rank_seed)  # this rank's action sampling

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.loss.parameters(), lr=self.hparams.lr, eps=self.hparams.adam_eps, fused=True)

    # -------------------------------------------------------------- training
    def training_step(self, dataloader_iter: Iterator) -> None:
        hp = self.hparams
        start = time.perf_counter()
        rollout = self.next_rollout(dataloader_iter)
        with num_threads(hp.update_threads):
            self.value_estimator(rollout)
            if self.upgo is not None:
                self.upgo(rollout)
            stats = minibatch_update(
                self.loss,
                self.optimizers(),
                rollout,
                epochs=hp.epochs,
                num_minibatches=hp.num_minibatches,
                max_grad_norm=hp.max_grad_norm,
                generator=self._shuffle,
                backward=self.manual_backward,
            )
        self.updates += 1
        self._snapshots.append(self._actor_snapshot())
        self.behaviour.load_state_dict(self._snapshots[0])
        if should_log(self.trainer):
            log = partial(self.log, on_step=True, on_epoch=False, batch_size=self.collector.frames_per_rollout)
            for key, value in stats.items():
                log(f"losses/{key}", value)
            self.log_common(log)
            log("charts/SPS", self.collector.frames_per_rollout / (time.perf_counter() - start), prog_bar=True)
        self.stop_at_target()

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {
            "shuffle_rng": self._shuffle.get_state(),
            "updates": self.updates,
            "actor_snapshots": list(self._snapshots),
        }

    def load_extra_checkpoint_state(self, state: dict) -> None:
        self._shuffle.set_state(state["shuffle_rng"])
        self.updates = int(state["updates"])
        snapshots = state["actor_snapshots"]
        if len(snapshots) > self._snapshots.maxlen:
            raise ValueError(
                f"ImpalaModule: the checkpoint holds {len(snapshots)} learner snapshots, more than "
                f"policy_lag + 1 = {self._snapshots.maxlen}; resume with the policy_lag it was trained with"
            )
        device = self.device
        self._snapshots.clear()
        self._snapshots.extend({k: v.to(device) for k, v in snap.items()} for snap in snapshots)
