"""The IMPALA-style (V-trace) actor-critic as a LightningModule; the plain-loop twin is
:func:`rl4py.trainers.train_impala`."""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Iterator, Sequence

from torch import nn

from rl4py.losses.actor_critic import ActorCriticLoss
from rl4py.trainers.impala_loop import UPGO_ADVANTAGE
from rl4py.trainers.lightning_actor_critic import ActorCriticModule, LossFactory
from rl4py.trainers.updates import num_threads
from rl4py.values.base import ValueEstimator
from rl4py.values.upgo import UPGO
from rl4py.values.vtrace import VTrace

__all__ = ["ImpalaModule"]


class ImpalaModule(ActorCriticModule):
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
        self.build(loss, value_estimator, default=lambda: VTrace(0.99))
        # a submodule, so the behaviour weights are in the state dict; no gradients reach it
        self.behaviour = copy.deepcopy(self.actor).requires_grad_(False)
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

    def _actor_snapshot(self) -> dict:
        return {k: v.detach().clone() for k, v in self.actor.state_dict().items()}

    def collection_policy(self) -> nn.Module:
        """The behaviour actor: the learner from ``policy_lag`` updates ago."""
        return self.behaviour

    # ------------------------------------------------------------------ data
    def setup(self, stage: str) -> None:
        if self.collector is not None:
            return
        super().setup(stage)
        # a fresh first snapshot of the learner as the run starts (weights loaded before fit count)
        self._snapshots = deque([self._actor_snapshot()], maxlen=self.hparams.policy_lag + 1)

    # -------------------------------------------------------------- training
    def training_step(self, dataloader_iter: Iterator) -> None:
        start = time.perf_counter()
        rollout = self.next_rollout(dataloader_iter)
        with num_threads(self.hparams.update_threads):
            self.value_estimator(rollout)
            if self.upgo is not None:
                self.upgo(rollout)
            stats = self.update(rollout)
        self.updates += 1
        self._snapshots.append(self._actor_snapshot())
        self.behaviour.load_state_dict(self._snapshots[0])
        self.log_update(stats, start)
        self.stop_at_target()

    # ------------------------------------------------------------ checkpoint
    def extra_checkpoint_state(self) -> dict:
        return {**super().extra_checkpoint_state(), "updates": self.updates, "actor_snapshots": list(self._snapshots)}

    def load_extra_checkpoint_state(self, state: dict) -> None:
        super().load_extra_checkpoint_state(state)
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
