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


def main(args: list[str] | None = None) -> None:
    """Runs ``LightningCLI`` with any ``LightningModule`` given by ``--model.class_path`` / the config."""
    import lightning.pytorch as pl
    from lightning.pytorch.cli import LightningCLI

    _import_components()
    # the collector feeds Lightning in the training process on purpose (it runs the live policy)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # the args are the command line plus the --weights_only default
    warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
    LightningCLI(
        pl.LightningModule,
        subclass_mode_model=True,
        args=_safe_checkpoint_loading(sys.argv[1:] if args is None else list(args)),
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"max_epochs": -1, "enable_model_summary": False, "log_every_n_steps": 10},
    )


if __name__ == "__main__":
    main()
