"""Reward shaping and an exploration bonus on MountainCar, where the task's reward is -1 per step until the top.

Three PPO runs on the same budget and seed: the task's reward alone, a potential-based shaping term
(the car's mechanical energy: shaping by a potential keeps the optimal policies, Ng et al. 1999), and a
count-based exploration bonus (coeff / sqrt(visits) of a grid cell). Each is judged on the task's own
return (``"extrinsic_reward"``, kept by the wrappers), greedy, over 16 episodes.

Run: python recipes/reward_shaping.py [--frames 100000] [--seed 0]   (--smoke: a tiny budget, checks the wiring)
"""

import argparse
import time

import torch

from rl4py.envs import EXTRINSIC_REWARD, CountBonus, MountainCar, ObservationNorm, PotentialShaping
from rl4py.trainers import PPOConfig, evaluate_policy, train_ppo

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--frames", type=int, default=100_000, help="env steps per run")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--smoke", action="store_true", help="a tiny budget (CI)")
args = parser.parse_args()
torch.set_num_threads(1)
frames = 4_096 if args.smoke else args.frames
GAMMA = 0.99


def energy(observation: torch.Tensor) -> torch.Tensor:
    """The car's mechanical energy per unit mass, scaled to ~[-30, 100]: height (sin(3x) / 3 under
    MountainCar's gravity 0.0025) plus speed (v^2 / 2). Observations [B, 2] -> potentials [B]."""
    position, velocity = observation[:, 0], observation[:, 1]
    return 1e5 * (0.0025 * torch.sin(3 * position) / 3 + 0.5 * velocity**2)


def run(name: str) -> float:
    env = MountainCar(num_envs=16)
    if name == "energy shaping":
        env = PotentialShaping(env, energy, gamma=GAMMA)  # adds gamma * phi(s') - phi(s)
    elif name == "count bonus":
        env = CountBonus(env, resolution=[0.1, 0.01], coeff=0.1)  # adds 0.1 / sqrt(N(cell(s')))
    env = ObservationNorm(env)  # the velocity is ~0.07 at most: normalise what the networks see
    config = PPOConfig(
        num_envs=16, rollout_length=128, lr=1e-3, entropy_coeff=0.0, gamma=GAMMA, total_frames=frames, seed=args.seed
    )
    start = time.perf_counter()
    result = train_ppo(env, config)
    # the task's own return: the wrappers keep the env's reward under ("next", "extrinsic_reward")
    key = EXTRINSIC_REWARD if name != "task reward" else "reward"
    score = evaluate_policy(env, result.module("actor"), max_steps=200, seed=1_000 + args.seed, reward_key=key)
    print(
        f"{name:<15} task return {score.mean().item():7.1f}  (greedy, 16 episodes; -200: never reached the top)  "
        f"{result.frames} env steps in {time.perf_counter() - start:.1f} s"
    )
    return score.mean().item()


for name in ("task reward", "energy shaping", "count bonus"):
    run(name)
