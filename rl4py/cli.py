"""The ``rl4py`` command: Lightning's CLI over rl4py's LightningModules.

    rl4py fit --config recipes/ppo_cartpole.yaml
    rl4py fit --config recipes/ppo_cartpole.yaml --model.loss.init_args.dual_clip 3.0
    rl4py fit --config recipes/ppo_cartpole.yaml --model.value_estimator.class_path rl4py.values.VTrace
    rl4py fit --config recipes/ppo_cartpole.yaml --trainer.devices 2 --trainer.strategy ddp --trainer.accelerator cpu

Every constructor argument of the model is a config key; unknown keys and wrong types are
reported by the CLI before training starts.
"""

from __future__ import annotations

import warnings


def main(args: list[str] | None = None) -> None:
    """Runs ``LightningCLI`` with any ``LightningModule`` given by ``--model.class_path`` / the config."""
    import lightning.pytorch as pl
    from lightning.pytorch.cli import LightningCLI

    # the collector feeds Lightning in the training process on purpose (it runs the live policy)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    LightningCLI(
        pl.LightningModule,
        subclass_mode_model=True,
        args=args,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"max_epochs": -1, "enable_model_summary": False, "log_every_n_steps": 10},
    )


if __name__ == "__main__":
    main()
