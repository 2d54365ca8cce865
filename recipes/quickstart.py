"""Quickstart: PPO on the native CartPole in a plain loop (collector + GAE + PPOLoss + Adam).

Run: python recipes/quickstart.py   (prints progress and the time it took to solve CartPole; --smoke: a tiny budget)
"""

import argparse
import time
from collections import deque

import torch

from rl4py import GAE, CartPole, PPOLoss, SyncCollector, finished_episodes, make_discrete_actor_critic
from rl4py.trainers import minibatch_update

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)  # small networks: one thread avoids synchronization overhead
torch.manual_seed(0)
start = time.perf_counter()

env = CartPole(num_envs=32)
actor, critic = make_discrete_actor_critic(observation_size=4, n_actions=2)
collector = SyncCollector(env, actor, rollout_length=32, total_frames=2_048 if args.smoke else 500_000, seed=0)
advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic)
loss = PPOLoss(actor, critic, entropy_coeff=0.0, clip_value=False)
optimizer = torch.optim.Adam(loss.parameters(), lr=1e-2, eps=1e-5)

recent = deque(maxlen=20)  # returns of the last 20 finished episodes
for i, rollout in enumerate(collector):
    recent.extend(finished_episodes(rollout)[0].tolist())
    mean_return = sum(recent) / max(len(recent), 1)
    seconds = time.perf_counter() - start
    if i % 10 == 0:
        steps_per_second = collector.frames / seconds
        print(f"env steps {collector.frames:>7}  steps/s {steps_per_second:>8.0f}  mean return {mean_return:6.1f}")
    if len(recent) == 20 and mean_return >= 475:
        print(f"solved CartPole in {seconds:.2f} s ({collector.frames} env steps)")
        break
    advantage(rollout)  # writes "advantage" and "value_target"
    minibatch_update(loss, optimizer, rollout, epochs=6, num_minibatches=1, max_grad_norm=0.5)
else:
    print(f"not solved within {collector.frames} env steps (mean return {mean_return:.1f})")
