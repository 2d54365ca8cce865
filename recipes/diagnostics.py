"""Training-health diagnostics: the same PPO on CartPole, once healthy and once broken (learning rate 1.0).

A :class:`rl4py.diagnostics.TrainingHealth` watches every update's figures (approx KL, clip
fraction, entropy, explained variance, gradient norm, value loss) and warns in words when one
leaves its healthy range. The healthy run (CleanRL's settings) stays quiet; the broken one moves
the policy so far in its first update that the KL spikes and the policy turns deterministic.

Run: python recipes/diagnostics.py                       (100k + 20k env steps, ~1 minute)
     python recipes/diagnostics.py --smoke               (12k + 6k env steps, a few seconds)
     python recipes/diagnostics.py --logdir runs/health  (also TensorBoard: diagnostics/warnings)
"""

import argparse
from pathlib import Path

import torch

from rl4py import CartPole
from rl4py.diagnostics import TrainingHealth
from rl4py.loggers import Logger, NoopLogger, TensorBoardWriter, log_stats
from rl4py.loggers.names import STAT_NAMES
from rl4py.trainers import PPOConfig, train_ppo


def run(name: str, config: PPOConfig, logdir: str | None) -> TrainingHealth:
    """Trains PPO with ``config`` while a TrainingHealth checks every update; returns the checker."""
    logger: Logger = TensorBoardWriter(Path(logdir) / name) if logdir else NoopLogger()
    health = TrainingHealth(
        total_steps=config.total_frames,
        logger=logger,
        echo=lambda message: print(f"  WARNING [{name}] {message}", flush=True),
    )

    def on_update(stats, frames: int) -> None:
        log_stats(logger, "losses", stats, frames, names=STAT_NAMES)  # losses/policy_loss, losses/clipfrac, ...
        health.update(stats, frames)

    print(f"== {name}: lr {config.lr:g}, {config.total_frames} env steps", flush=True)
    with logger:
        result = train_ppo(CartPole(num_envs=config.num_envs), config, on_update=on_update)
    checks = sorted({warning.check for warning in health.history})
    print(f"{name}: mean return {result.mean_return:.1f}, {health.updates} updates, {len(health.history)} warning(s)")
    print(f"{name} checks that warned: {', '.join(checks) if checks else 'none'}", flush=True)
    return health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a small budget (CI)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default=None, help="write TensorBoard logs of both runs under this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    healthy = PPOConfig(seed=args.seed, total_frames=12_000 if args.smoke else 100_000)  # CleanRL's settings
    broken = healthy.replace(lr=1.0, anneal_lr=False, total_frames=6_000 if args.smoke else 20_000)
    run("healthy", healthy, args.logdir)
    run("broken", broken, args.logdir)


if __name__ == "__main__":
    main()
