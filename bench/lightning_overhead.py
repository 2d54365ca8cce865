"""PPO on CartPole through the LightningModule versus the plain loop: same hyperparameters, same run.

Both run the same number of rollouts and updates (a fixed budget, no early stop), so the
difference in time is what Lightning adds. JSON lines per run and a summary, with wall seconds and
CPU seconds of the process (all threads: TensorBoard's writer included); on a loaded machine the
CPU seconds are the steadier measure.

    python bench/lightning_overhead.py [--seeds 7] [--rollouts 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings

import torch

from rl4py import CartPole
from rl4py.trainers import PPOConfig, train_ppo

warnings.filterwarnings("ignore")

SETTINGS = dict(num_envs=32, rollout_length=32, lr=1e-2, epochs=6, num_minibatches=1)


def make_config(rollouts: int, seed: int = PPOConfig.seed) -> PPOConfig:
    """The one config both variants train with: a fixed budget of ``rollouts`` rollouts. The plain
    loop is seeded by ``seed``; a LightningModule refuses one (``seed_everything`` seeds it)."""
    return PPOConfig(
        seed=seed,
        anneal_lr=False,
        entropy_coeff=0.0,
        clip_value=False,
        total_frames=rollouts * SETTINGS["num_envs"] * SETTINGS["rollout_length"],
        **SETTINGS,
    )


def run_plain(seed: int, rollouts: int) -> tuple[float, float]:
    config = make_config(rollouts, seed)
    start, cpu = time.perf_counter(), time.process_time()
    result = train_ppo(CartPole(num_envs=config.num_envs), config)
    assert result.iterations == rollouts
    return time.perf_counter() - start, time.process_time() - cpu


def run_lightning(seed: int, rollouts: int, default_logging: bool) -> tuple[float, float]:
    import lightning.pytorch as pl

    from rl4py.trainers.lightning_ppo import PPOModule

    start, cpu = time.perf_counter(), time.process_time()
    pl.seed_everything(seed, verbose=False)  # Lightning runs are seeded here, not by config.seed
    model = PPOModule("CartPole", config=make_config(rollouts))  # total_frames stops the run
    with tempfile.TemporaryDirectory() as root:
        trainer = pl.Trainer(
            max_steps=rollouts * SETTINGS["epochs"] * SETTINGS["num_minibatches"],
            max_epochs=-1,
            accelerator="cpu",
            devices=1,
            default_root_dir=root,
            logger=None if default_logging else False,  # None: Lightning's default TensorBoard logger
            enable_progress_bar=default_logging,
            enable_checkpointing=False,
            enable_model_summary=False,
        )
        trainer.fit(model)
    assert model.env_frames == rollouts * SETTINGS["num_envs"] * SETTINGS["rollout_length"]
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=7)  # runs of ~1.7 s: fewer seeds give +-5% noise
    parser.add_argument("--rollouts", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import lightning.pytorch  # noqa: F401  (import time is not training time)

    times: dict[str, list[float]] = {"plain": [], "lightning": [], "lightning_default_logging": []}
    cpu: dict[str, list[float]] = {variant: [] for variant in times}
    for seed in range(args.seeds):
        for variant in times:
            if variant == "plain":
                seconds, cpu_seconds = run_plain(seed, args.rollouts)
            else:
                seconds, cpu_seconds = run_lightning(seed, args.rollouts, default_logging=variant != "lightning")
            times[variant].append(seconds)
            cpu[variant].append(cpu_seconds)
            line = {"bench": "lightning_overhead", "variant": variant, "seed": seed, "seconds": round(seconds, 3)}
            print(json.dumps({**line, "cpu_seconds": round(cpu_seconds, 3)}))
    base, cpu_base = statistics.median(times["plain"]), statistics.median(cpu["plain"])
    for variant, values in times.items():
        median, cpu_median = statistics.median(values), statistics.median(cpu[variant])
        print(
            json.dumps(
                {
                    "bench": "lightning_overhead",
                    "variant": variant,
                    "summary": True,
                    "rollouts": args.rollouts,
                    "median_seconds": round(median, 3),
                    "overhead_vs_plain": round(median / base - 1, 4),
                    "median_cpu_seconds": round(cpu_median, 3),
                    "cpu_overhead_vs_plain": round(cpu_median / cpu_base - 1, 4),
                }
            )
        )


if __name__ == "__main__":
    main()
