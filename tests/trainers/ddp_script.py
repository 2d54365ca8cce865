"""Run by tests/trainers/test_ddp.py: a 2-process DDP run on CPU (gloo); each rank dumps what it saw.

Usage: python tests/trainers/ddp_script.py OUT_DIR {ppo,impala,dreamer} [--max-steps N] [--target-return R]
                                           [--save CKPT] [--resume CKPT]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import lightning.pytorch as pl
import torch

from rl4py.trainers import DreamerConfig, ImpalaConfig, PPOConfig
from rl4py.trainers.lightning_dreamer import DreamerModule
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
    "ppo": lambda target: PPOModule(
        config=PPOConfig(
            num_envs=8, rollout_length=16, epochs=1, num_minibatches=2, lr=1e-3, anneal_lr=False, target_return=target
        )
    ),
    "dreamer": lambda target: DreamerModule(
        config=DreamerConfig(
            preset="tiny",
            num_envs=2,
            batch_size=4,
            sequence_length=8,
            learning_starts=16,
            train_ratio=16,
            horizon=5,
            total_frames=10_000,
            target_return=target,
        )
    ),
    "impala": lambda target: ImpalaModule(
        config=ImpalaConfig(
            num_envs=8, rollout_length=16, num_minibatches=2, policy_lag=2, upgo=True, target_return=target
        )
    ),
}


def main(out: Path, algorithm: str, max_steps: int, target: float | None, save: str | None, resume: str | None) -> None:
    torch.set_num_threads(1)
    pl.seed_everything(0, verbose=False)
    dump = Dump()
    model = MODELS[algorithm](target)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_steps=max_steps,
        log_every_n_steps=1,
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[dump],
    )
    trainer.fit(model, ckpt_path=resume)
    if save:
        trainer.save_checkpoint(save)  # on every rank: each contributes its own env and RNG state
    torch.save(
        {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "global_step": trainer.global_step,
            "env_frames": model.env_frames,
            "state_dict": model.state_dict(),
            "first_obs": dump.first_obs,
            "local_returns": dump.local_returns,
            "logged": dump.logged,
        },
        out / f"rank{trainer.global_rank}.pt",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("algorithm", choices=sorted(MODELS))
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--target-return", type=float, default=None)
    parser.add_argument("--save", default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    main(args.out, args.algorithm, args.max_steps, args.target_return, args.save, args.resume)
