"""A callback for the multi-node tests (tests/trainers/test_multinode.py), named on ``rl4py fit``'s
command line (``--trainer.callbacks+=rank_dump.RankDump --trainer.callbacks.out DIR``, with
tests/trainers on PYTHONPATH): when training ends each rank writes what it saw to
``DIR/rank{global_rank}.pt``."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch


class RankDump(pl.Callback):
    """Writes this rank's layout, seeds, first observations and weights (before and after) to
    ``out/rank{global_rank}.pt``."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.initial: dict[str, torch.Tensor] | None = None
        self.first_obs: torch.Tensor | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.initial = {name: value.clone() for name, value in pl_module.state_dict().items()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.first_obs is None:
            self.first_obs = pl_module.collector._storage.get("observation").clone()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        torch.save(
            {
                "world_size": trainer.world_size,
                "process_group_size": torch.distributed.get_world_size(),
                "num_nodes": trainer.num_nodes,
                "node_rank": trainer.node_rank,
                "global_rank": trainer.global_rank,
                "local_rank": trainer.local_rank,
                "cluster_environment": type(trainer.strategy.cluster_environment).__name__,
                "base_seed": pl_module.base_seed,
                "rank_seed": pl_module.rank_seed,
                "global_step": trainer.global_step,
                "global_env_frames": pl_module.global_env_frames,
                "log_dir": trainer.log_dir,
                "first_obs": self.first_obs,
                "initial": self.initial,
                "state_dict": pl_module.state_dict(),
            },
            self.out / f"rank{trainer.global_rank}.pt",
        )
