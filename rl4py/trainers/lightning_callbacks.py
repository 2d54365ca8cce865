"""Lightning callbacks for rl4py's modules: periodic evaluation of the policy on its own envs, the
run's closing summary, and a progress bar and checkpoint names counted in env steps."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.utilities import rank_zero_info

from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env
from rl4py.envs.wrappers import ObservationNorm, find_wrapper
from rl4py.trainers.evaluation import evaluate_policy

__all__ = ["EnvStepCheckpoint", "EnvStepProgressBar", "EvaluationCallback", "RunSummary"]


class EvaluationCallback(pl.Callback):
    """Every ``every_n_steps`` optimizer steps, plays one episode in each of ``num_envs`` fresh
    envs with the module's ``actor`` and logs ``eval/mean_return``, ``eval/min_return`` and
    ``eval/max_return`` (SB3's ``EvalCallback``), at x = env steps in the loggers.

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
        every = pl_module.all_gather(returns).reshape(-1) if trainer.world_size > 1 else returns  # all ranks' episodes
        metrics = {
            "eval/mean_return": float(every.mean()),
            "eval/min_return": float(every.min()),
            "eval/max_return": float(every.max()),
        }
        publish = getattr(pl_module, "publish_metrics", None)
        if publish is not None:  # rl4py modules: the loggers' x-axis is env steps
            publish(metrics)
        else:
            for name, value in metrics.items():
                pl_module.log(name, value, batch_size=returns.numel())

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


class EnvStepProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar counting what an rl4py run is measured in: env steps of all ranks against
    the run's end (:meth:`~rl4py.trainers.RolloutModule.progress`: ``config.total_frames``, or the
    Trainer's ``max_steps`` when that comes first), with the rate in env steps per second and the
    mean return of the recent episodes. ``rl4py fit`` installs it; with a plain ``Trainer`` pass
    ``callbacks=[EnvStepProgressBar()]``. Other modules (and validation/test) get Lightning's bar.

    The bar redraws at most every ``refresh_interval`` seconds (and at the end), not every step.

    Args:
        refresh_interval: seconds between redraws.
        process_position: as ``TQDMProgressBar``'s.
        leave: as ``TQDMProgressBar``'s.
    """

    def __init__(self, refresh_interval: float = 0.5, process_position: int = 0, leave: bool = False) -> None:
        if refresh_interval < 0:
            raise ValueError(f"EnvStepProgressBar: refresh_interval must be >= 0, got {refresh_interval}")
        super().__init__(refresh_rate=1, process_position=process_position, leave=leave)
        self.refresh_interval = refresh_interval
        self._last_draw = 0.0

    @staticmethod
    def _progress(pl_module: pl.LightningModule):
        progress = getattr(pl_module, "progress", None)
        return progress() if callable(progress) else None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        progress = self._progress(pl_module)
        if progress is None:
            return super().on_train_epoch_start(trainer, pl_module)
        if self._leave:
            self.train_progress_bar = self.init_train_tqdm()
        bar = self.train_progress_bar
        bar.unit = " " + progress.unit.split()[-1]  # "10.2k/61.4k [.., 9.1k steps/s]"
        bar.unit_scale = True
        bar.desc = progress.unit.capitalize() + ": "
        bar.reset(total=progress.total)
        bar.n = bar.initial = progress.done  # a resumed run starts where it was; the rate counts this run's
        self._last_draw = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        progress = self._progress(pl_module)
        if progress is None:
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        bar = self.train_progress_bar
        if bar is None or bar.disable:
            return
        bar.n = progress.done
        if progress.total is not None and progress.done > (bar.total or 0):
            bar.total = progress.done
        now = time.monotonic()
        if now - self._last_draw >= self.refresh_interval or trainer.should_stop or progress.done == progress.total:
            self._last_draw = now
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.refresh()

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, int | str | float | dict]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        metrics.pop("charts/env_steps", None)  # the bar counts them
        recent = getattr(pl_module, "mean_recent_return", None)
        if recent is not None and recent == recent:  # not NaN: some episode finished
            metrics.pop("charts/episodic_return", None)
            metrics["return"] = f"{recent:.1f}"
        return metrics


class EnvStepCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose file names carry the run's env steps (all ranks):
    ``env_steps=102400.ckpt`` by default, and ``{env_steps}`` usable in any ``filename`` template;
    ``every_n_env_steps`` saves every that many env steps (a rollout crossing a multiple saves once).
    Without it, as ``ModelCheckpoint``, one checkpoint when training ends. ``rl4py fit`` installs it
    when no checkpoint callback is configured.

    Lightning's ``every_n_train_steps`` counts optimizer steps, which an rl4py module takes several
    per training step (PPO: ``epochs x num_minibatches``), so it fires only where a multiple of the
    count falls on a step boundary; ``every_n_env_steps`` has no such gap.

    Args:
        dirpath, filename, monitor, mode, save_top_k, save_last: as ``ModelCheckpoint``'s
            (``save_top_k=-1`` keeps every periodic checkpoint).
        every_n_env_steps: env steps between saves (``None``: only at the end of training).
        **kwargs: other ``ModelCheckpoint`` arguments.
    """

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str | None = "{env_steps}",
        monitor: str | None = None,
        mode: str = "min",
        save_top_k: int = 1,
        save_last: bool | None = None,
        every_n_env_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        if every_n_env_steps is not None and every_n_env_steps < 1:
            raise ValueError(f"EnvStepCheckpoint: every_n_env_steps must be >= 1 or None, got {every_n_env_steps}")
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            mode=mode,
            save_top_k=save_top_k,
            save_last=save_last,
            **kwargs,
        )
        self.every_n_env_steps = every_n_env_steps
        self._last_mark = 0

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        frames = getattr(trainer.lightning_module, "global_env_frames", None)
        if frames is not None:
            candidates["env_steps"] = torch.tensor(int(frames))
        return candidates

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        if self.every_n_env_steps is not None:  # a resumed run counts from where it is
            self._last_mark = int(getattr(pl_module, "global_env_frames", 0)) // self.every_n_env_steps

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.every_n_env_steps is None or self._should_skip_saving_checkpoint(trainer):
            return
        mark = int(getattr(pl_module, "global_env_frames", 0)) // self.every_n_env_steps
        if mark <= self._last_mark:
            return
        self._last_mark = mark
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)
