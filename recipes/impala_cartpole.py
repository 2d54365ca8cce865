"""IMPALA-style actor-critic on CartPole: a behaviour policy two updates stale, V-trace targets.

Run: python recipes/impala_cartpole.py [--upgo] [--smoke: a tiny budget]
"""

import argparse

import torch

from rl4py import CartPole
from rl4py.trainers import ImpalaConfig, train_impala

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--upgo", action="store_true", help="add UPGO's policy-gradient term (ROA-Star)")
parser.add_argument("--policy-lag", type=int, default=2, help="updates the behaviour policy lags the learner")
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()

torch.set_num_threads(1)
frames = 4_096 if args.smoke else 1_000_000
config = ImpalaConfig(policy_lag=args.policy_lag, upgo=args.upgo, target_return=475.0, total_frames=frames)


def show(line: dict) -> None:
    frames, speed, mean = line["frames"], line["steps_per_second"], line["mean_return"]
    print(f"env steps {frames:>7}  steps/s {speed:>7.0f}  mean return {mean:6.1f}")


result = train_impala(CartPole(num_envs=config.num_envs), config, progress=show)
status = "solved" if result.solved else "not solved"
print(f"{status}: mean return {result.mean_return:.1f} after {result.frames} env steps in {result.seconds:.2f} s")
