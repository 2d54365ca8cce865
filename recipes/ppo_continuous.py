"""PPO with a gSDE Gaussian policy on the native Pendulum (swing-up), until a mean return of -250.

The settings are bench/ppo_pendulum.py's (docs/benchmarks.md has the sweep behind them): state-dependent
exploration (gSDE, noise redrawn every 4 steps) and rewards scaled by the running std of the
discounted return (NormalizeReward), so the usual gradient-norm clip of 0.5 stays on.

Run: python recipes/ppo_continuous.py   (--smoke: a tiny budget that checks the wiring)
"""

import argparse

import torch

from rl4py import NormalizeReward, Pendulum
from rl4py.trainers import PPOConfig, train_ppo

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)
config = PPOConfig(
    num_envs=32,
    rollout_length=32,
    lr=3e-3,
    anneal_lr=False,
    num_minibatches=4,
    epochs=10,
    gamma=0.9,
    entropy_coeff=0.0,  # the seed book's continuous-control tips: no entropy bonus, ~10 epochs
    clip_value=False,
    max_grad_norm=0.5,
    gsde=True,
    sde_sample_freq=4,
    target_return=-250.0,
    total_frames=8_192 if args.smoke else 1_000_000,
)


def show(line: dict) -> None:
    frames, speed, mean = line["frames"], line["steps_per_second"], line["mean_return"]
    print(f"env steps {frames:>7}  steps/s {speed:>7.0f}  mean return {mean:8.1f}")


# the episode returns (and target_return) stay in Pendulum's own rewards: NormalizeReward scales
# only what the learner sees
env = NormalizeReward(Pendulum(num_envs=config.num_envs), gamma=config.gamma)
result = train_ppo(env, config, progress=show, progress_every=5)
status = "solved" if result.solved else "not solved"
print(f"{status}: mean return {result.mean_return:.1f} after {result.frames} env steps in {result.seconds:.2f} s")
