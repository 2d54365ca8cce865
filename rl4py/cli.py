"""The ``rl4py`` command: Lightning's CLI over rl4py's LightningModules.

    rl4py fit --config recipes/ppo_cartpole.yaml
    rl4py fit --config recipes/ppo_cartpole.yaml --model.loss.init_args.dual_clip 3.0
    rl4py fit --config recipes/ppo_cartpole.yaml --model.value_estimator.class_path rl4py.values.VTrace
    rl4py fit --config recipes/ppo_cartpole.yaml --model.config.lr 1e-3 --seed_everything 7
    rl4py fit --model PPOModule --model.env CartPole --print_config
    rl4py fit --config recipes/ppo_cartpole.yaml --trainer.devices 2 --trainer.strategy ddp --trainer.accelerator cpu

Every constructor argument of the model is a config key (the hyperparameters under
``--model.config.*``); unknown keys and wrong types are reported by the CLI before training
starts. rl4py's modules, losses and value estimators are imported first, so their short class
names work (``--model PPOModule``, ``--model.value_estimator VTrace``).
"""

from __future__ import annotations

import sys
import warnings


def _safe_checkpoint_loading(args: list[str]) -> list[str]:
    """Makes ``--weights_only true`` the default of the subcommands that take ``--ckpt_path``.

    A checkpoint path may name a downloaded file: it is loaded without unpickling code (rl4py's
    own checkpoints load that way). The flag goes right after the subcommand, so a config file or
    an explicit ``--weights_only false`` later on the line still decides.
    """
    if any(arg.startswith("--weights_only") or arg.startswith("--help") or arg == "-h" for arg in args):
        return args
    import inspect

    import lightning.pytorch as pl

    if "weights_only" not in inspect.signature(pl.Trainer.fit).parameters:  # Lightning < 2.6
        return args
    for i, arg in enumerate(args):
        if arg in _CHECKPOINT_SUBCOMMANDS:
            return [*args[: i + 1], "--weights_only=true", *args[i + 1 :]]
        if not arg.startswith("-"):  # another subcommand
            return args
    return args


_CHECKPOINT_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _import_components() -> None:
    """Imports every rl4py class the CLI can name, so that jsonargparse resolves short names."""
    import rl4py.losses  # noqa: F401
    import rl4py.values  # noqa: F401
    from rl4py.trainers import lightning_bc, lightning_dqn, lightning_impala, lightning_ppo  # noqa: F401


def evaluate(args: list[str]) -> dict:
    """``rl4py evaluate CKPT``: the greedy and the sampled mean return of a checkpoint's policy over
    ``--episodes`` episodes of its env (one per sub-env, reset with ``--seed``); prints one line per
    mode and returns the numbers."""
    import argparse
    import json

    import torch

    from rl4py.trainers import evaluate_policy, load_checkpoint

    parser = argparse.ArgumentParser(prog="rl4py evaluate", description=evaluate.__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by an rl4py LightningModule")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per mode (default 16)")
    parser.add_argument("--seed", type=int, default=1_000_003, help="seed of the env resets")
    parser.add_argument("--max-steps", type=int, default=10_000, help="step limit of an episode")
    options = parser.parse_args(args)
    if options.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {options.episodes}")
    module = load_checkpoint(options.checkpoint)
    if module.normalize_observations:
        parser.error(
            f"{options.checkpoint} was trained with normalize_observations; evaluating it needs the run's "
            "observation statistics, which this command does not restore yet (use EvaluationCallback while training)"
        )
    results = {}
    for mode, deterministic in (("greedy", True), ("sampled", False)):
        env = module.make_rank_env(num_envs=options.episodes)
        with torch.random.fork_rng():
            torch.manual_seed(options.seed)
            returns = evaluate_policy(
                env, module.actor, max_steps=options.max_steps, deterministic=deterministic, seed=options.seed
            ).float()
        env.close()
        results[mode] = {
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std(unbiased=False)),
            "min_return": float(returns.min()),
            "max_return": float(returns.max()),
        }
        print(json.dumps({"env": module.env_name, "mode": mode, "episodes": options.episodes, **results[mode]}))
    return results


def tune(args: list[str]) -> None:
    """``rl4py tune``: an optuna hyperparameter search over a trainer's config (:mod:`rl4py.tuning`)."""
    from rl4py.tuning import main as tune_main

    tune_main(args)


_OWN_SUBCOMMANDS = {"evaluate": evaluate, "tune": tune}


def main(args: list[str] | None = None) -> None:
    """Runs ``LightningCLI`` with any ``LightningModule`` given by ``--model.class_path`` / the config,
    or one of rl4py's own subcommands (``evaluate``)."""
    args = sys.argv[1:] if args is None else list(args)
    if args and args[0] in _OWN_SUBCOMMANDS:
        _OWN_SUBCOMMANDS[args[0]](args[1:])
        return
    import lightning.pytorch as pl
    from lightning.pytorch.cli import LightningCLI

    from rl4py.trainers.lightning_callbacks import RunSummary

    class RL4PyCLI(LightningCLI):
        def before_fit(self) -> None:
            self.trainer.callbacks.append(RunSummary())  # the closing line: solved or not, steps, time, where

    _import_components()
    # the collector feeds Lightning in the training process on purpose (it runs the live policy)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # the args are the command line plus the --weights_only default
    warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
    RL4PyCLI(
        pl.LightningModule,
        subclass_mode_model=True,
        args=_safe_checkpoint_loading(args),
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"max_epochs": -1, "enable_model_summary": False, "log_every_n_steps": 10},
    )


if __name__ == "__main__":
    main()
