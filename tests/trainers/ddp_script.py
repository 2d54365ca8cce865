"""Run by tests/trainers/test_ddp.py: a 2-process DDP run on CPU (gloo); each rank dumps what it saw.

Usage: python tests/trainers/ddp_script.py OUT_DIR {ppo,impala}
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

from rl4py.trainers.lightning_impala import ImpalaModule
from rl4py.trainers.lightning_ppo import PPOModule

warnings.filterwarnings("ignore")


class Dump(pl.Callback):
    def __init__(self) -> None:
        self.first_obs: torch.Tensor | None = None
        self.local_returns: list[list[float]] = []
        self.logged: list[float | None] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.first_obs is None:
            self.first_obs = module.collector._storage.get("observation").clone()
        self.local_returns.append(module.last_returns.tolist())
        value = trainer.callback_metrics.get("charts/episodic_return")
        self.logged.append(None if value is None or not module.last_returns.numel() else float(value))


MODELS = {
    "ppo": lambda: PPOModule(num_envs=8, rollout_length=16, epochs=1, num_minibatches=2, lr=1e-3),
    "impala": lambda: ImpalaModule(num_envs=8, rollout_length=16, num_minibatches=2, policy_lag=2, upgo=True),
}


def main(out: Path, algorithm: str) -> None:
    torch.set_num_threads(1)
    dump = Dump()
    model = MODELS[algorithm]()
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=20,
        log_every_n_steps=1,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[dump],
    )
    trainer.fit(model)
    torch.save(
        {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "state_dict": model.state_dict(),
            "first_obs": dump.first_obs,
            "local_returns": dump.local_returns,
            "logged": dump.logged,
        },
        out / f"rank{trainer.global_rank}.pt",
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
