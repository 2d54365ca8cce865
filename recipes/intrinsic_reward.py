"""Intrinsic rewards on deep sea, where the task pays only at the end of one path in 2^N.

DeepSea (bsuite's deep sea): an N x N grid descended one row per step, left or right; +1 only for moving
right out of the bottom-right cell, a small cost for every move right. PPO on the task's reward alone
learns to avoid the cost and never finds the treasure. Two intrinsic rewards fix that:

- a count bonus, 0.1 / sqrt(N(s')) over the visited cells, added by an env wrapper;
- RND (random network distillation), 0.5 x the normalized error of a predictor of a fixed random network,
  added to each rollout by a stage that runs before GAE (and trains the predictor on the rollout).

Each run stops when the mean task return of the last 32 episodes reaches 0.9 (the optimum is 0.99).

Run: python recipes/intrinsic_reward.py [--size 20] [--frames 200000] [--seed 0]   (--smoke: size 8, 4096 steps)
"""

import argparse
import time

import torch

from rl4py.envs import DeepSea
from rl4py.exploration import RND, CountReward, IntrinsicRewardStage, IntrinsicRewardWrapper
from rl4py.trainers import PPOConfig, train_ppo

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--size", type=int, default=20, help="deep sea size N")
parser.add_argument("--frames", type=int, default=200_000, help="env steps per run")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--smoke", action="store_true", help="a tiny budget (CI)")
args = parser.parse_args()
torch.set_num_threads(1)
size, frames = (8, 4_096) if args.smoke else (args.size, args.frames)


def run(name: str) -> None:
    env = DeepSea(num_envs=16, size=size, mapping_seed=args.seed)  # which action moves right differs per cell
    stages = []
    if name == "count bonus":
        # reward = task reward + 0.1 * 1 / sqrt(N(s')); the episode returns reported stay the task's
        env = IntrinsicRewardWrapper(env, CountReward(size * size, resolution=1.0), coeff=0.1)
    elif name == "RND":
        # runs on each rollout before the value estimator: the bonus, then one more predictor update
        stages = [IntrinsicRewardStage(RND(size * size, seed=args.seed, epochs=4), coeff=0.5)]
    config = PPOConfig(
        num_envs=16,
        rollout_length=max(32, 2 * size),
        lr=1e-3,
        anneal_lr=False,
        total_frames=frames,
        seed=args.seed,
        target_return=0.9,
        window=32,
    )
    start = time.perf_counter()
    result = train_ppo(env, config, stages=stages)
    status = "solved" if result.solved else "not solved"
    print(
        f"{name:<12} {status:<10} after {result.frames:>7} env steps  mean task return {result.mean_return:6.3f}  "
        f"({time.perf_counter() - start:.1f} s)"
    )


print(f"deep sea {size} x {size}: the treasure pays 0.99 at best, a random walk finds it once in 2^{size} episodes")
for name in ("task reward", "count bonus", "RND"):
    run(name)
