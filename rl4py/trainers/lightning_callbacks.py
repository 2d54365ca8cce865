"""Lightning callbacks for rl4py's modules: periodic evaluation of the policy on its own envs, and
the run's closing summary."""

from __future__ import annotations

import time

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import rank_zero_info

from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env
from rl4py.envs.wrappers import ObservationNorm, find_wrapper
from rl4py.trainers.evaluation import evaluate_policy

__all__ = ["EvaluationCallback", "RunSummary"]


class EvaluationCallback(pl.Callback):
    """Every ``every_n_steps`` optimizer steps, plays one episode in each of ``num_envs`` fresh
    envs with the module's ``actor`` and logs ``eval/mean_return``, ``eval/min_return`` and
    ``eval/max_return`` (SB3's ``EvalCallback``).

    The evaluation envs are separate from the training envs and reset with ``seed`` (plus
    ``1000 * rank``) each time, so successive evaluations compare policies on the same start
    states. When the module normalizes observations, the evaluation envs are wrapped in an
    :class:`~rl4py.envs.ObservationNorm` holding the training env's current statistics, frozen.
    The training RNG is untouched (sampling, with ``deterministic=False``, runs in a forked RNG),
    so a run with this callback trains exactly as one without it. Under DDP every rank evaluates
    its own envs and the logged values are reduced across ranks (mean, min, max).

    Args:
        every_n_steps: optimizer steps between evaluations (Lightning's ``global_step``).
        num_envs: episodes per evaluation (one per sub-env).
        env: the env name (default: the module's ``env_name``); ``env_kwargs`` likewise.
        env_kwargs: extra constructor arguments of the env.
        max_steps: step limit of one evaluation (an unfinished episode raises).
        deterministic: act with the policy's mode instead of sampling.
        seed: seed of the evaluation envs' resets.

    Examples:
        ``rl4py fit --config recipes/ppo_cartpole.yaml --trainer.callbacks+=rl4py.trainers.EvaluationCallback
        --trainer.callbacks.every_n_steps 120``
    """

    def __init__(
        self,
        every_n_steps: int = 1000,
        num_envs: int = 16,
        env: str | None = None,
        env_kwargs: dict | None = None,
        max_steps: int = 10_000,
        deterministic: bool = True,
        seed: int = 1_000_003,
    ) -> None:
        if every_n_steps < 1 or num_envs < 1 or max_steps < 1:
            raise ValueError(
                "EvaluationCallback: every_n_steps, num_envs and max_steps must be >= 1, got "
                f"{every_n_steps}, {num_envs}, {max_steps}"
            )
        self.every_n_steps = every_n_steps
        self.num_envs = num_envs
        self.env_name = env
        self.env_kwargs = env_kwargs
        self.max_steps = max_steps
        self.deterministic = deterministic
        self.seed = seed
        self._env: EnvBase | None = None
        self._last = 0
        #: ``(global_step, mean return)`` of this rank's evaluations
        self.history: list[tuple[int, float]] = []

    def _make_env(self, module: pl.LightningModule) -> EnvBase:
        name = self.env_name if self.env_name is not None else getattr(module, "env_name", None)
        if name is None:
            raise ValueError(f"EvaluationCallback: pass env=...; {type(module).__name__} has no 'env_name'")
        kwargs = self.env_kwargs if self.env_kwargs is not None else getattr(module, "env_kwargs", {})
        env = make_env(name, num_envs=self.num_envs, device=module.device, **kwargs)
        return ObservationNorm(env) if self._training_norm(module) is not None else env

    @staticmethod
    def _training_norm(module: pl.LightningModule) -> ObservationNorm | None:
        collector = getattr(module, "collector", None)
        return find_wrapper(collector.env, ObservationNorm) if collector is not None else None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        mark = trainer.global_step // self.every_n_steps
        if mark == self._last:
            return
        self._last = mark
        actor = getattr(pl_module, "actor", None)
        if actor is None:
            raise AttributeError(f"EvaluationCallback: {type(pl_module).__name__} has no 'actor' to evaluate")
        if self._env is None:
            self._env = self._make_env(pl_module)
        training_norm = self._training_norm(pl_module)
        if training_norm is not None:  # the policy sees observations as in training: the same, frozen statistics
            eval_norm = find_wrapper(self._env, ObservationNorm)
            eval_norm.load_state_dict({**training_norm.state_dict(), "env": eval_norm.env.state_dict()})
            eval_norm.frozen = True
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            returns = evaluate_policy(
                self._env,
                actor,
                max_steps=self.max_steps,
                deterministic=self.deterministic,
                seed=self.seed + 1000 * trainer.global_rank,
            )
        returns = returns.float()
        self.history.append((trainer.global_step, float(returns.mean())))
        log = pl_module.log
        log("eval/mean_return", returns.mean(), sync_dist=True, reduce_fx="mean", batch_size=returns.numel())
        log("eval/min_return", returns.min(), sync_dist=True, reduce_fx="min", batch_size=returns.numel())
        log("eval/max_return", returns.max(), sync_dist=True, reduce_fx="max", batch_size=returns.numel())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._env is not None:
            self._env.close()
            self._env = None

    def state_dict(self) -> dict:
        return {"last": self._last}

    def load_state_dict(self, state_dict: dict) -> None:
        self._last = int(state_dict["last"])


class RunSummary(pl.Callback):
    """Says how a run ended, in one line, when training stops: whether it reached the config's
    ``target_return`` (and the recent mean return), the env steps collected by all ranks, the wall
    time, and where the checkpoints and logs are. ``rl4py fit`` adds it to every run.

    The line is also kept in :attr:`line`.
    """

    def __init__(self) -> None:
        self.line: str | None = None
        self._start = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        config = getattr(pl_module, "config", None)
        frames = getattr(pl_module, "global_env_frames", None)
        if config is None or frames is None:
            return
        recent = getattr(pl_module, "mean_recent_return", float("nan"))
        target = getattr(config, "target_return", None)
        name = getattr(pl_module, "env_name", "the env")
        if target is not None and recent >= target:
            outcome = f"solved {name}: mean return of the last episodes {recent:.1f} >= {target:g}"
        elif target is not None:
            outcome = f"not solved {name}: mean return of the last episodes {recent:.1f} < {target:g}"
        else:
            outcome = f"trained on {name}: mean return of the last episodes {recent:.1f}"
        seconds = time.perf_counter() - self._start
        where = []
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and getattr(checkpoint, "dirpath", None):
            where.append(f"checkpoints in {checkpoint.dirpath}")
        if trainer.logger is not None and getattr(trainer.logger, "log_dir", None):
            where.append(f"logs in {trainer.logger.log_dir}")
        self.line = (
            f"rl4py: {outcome}, after {frames:,} env steps ({trainer.global_step:,} optimizer steps) "
            f"in {seconds:.1f} s" + (f"; {'; '.join(where)}" if where else "")
        )
        rank_zero_info(self.line)
