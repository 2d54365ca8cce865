"""DQN on the native CartPole in a plain loop: collector + replay buffer + epsilon-greedy + DQNLoss + Adam.

Run: python recipes/dqn_cartpole.py   (prints progress and the time it took to solve CartPole; --smoke: a tiny budget)
The settings are bench/dqn_cartpole.py's; rl4py.trainers.dqn_loop.train_dqn runs the same loop.
"""

import argparse
import time
from collections import deque

import torch

from rl4py import CartPole, SyncCollector, finished_episodes, total_loss
from rl4py.data import ReplayBuffer
from rl4py.losses.dqn import DQNLoss
from rl4py.losses.target import polyak_update
from rl4py.modules.qvalue import EpsilonGreedy, make_q_network

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)  # small networks: one thread avoids synchronization overhead
torch.manual_seed(0)
start = time.perf_counter()

env = CartPole(num_envs=32)
qnet = make_q_network(observation_size=4, n_actions=2, num_cells=(128, 128))
policy = EpsilonGreedy(env, eps_start=1.0, eps_end=0.04, annealing_steps=8_000, generator=0, actor=qnet)
collector = SyncCollector(env, policy, rollout_length=8, total_frames=2_048 if args.smoke else 400_000, seed=0)
buffer = ReplayBuffer(100_000, seed=0)
loss = DQNLoss(qnet, gamma=0.99, double_dqn=True)  # makes the target network (a frozen copy)
optimizer = torch.optim.Adam(qnet.parameters(), lr=1e-2)

recent = deque(maxlen=20)  # returns of the last 20 finished episodes
for i, rollout in enumerate(collector):
    recent.extend(finished_episodes(rollout)[0].tolist())
    mean_return = sum(recent) / max(len(recent), 1)
    seconds = time.perf_counter() - start
    if i % 50 == 0:
        print(f"env steps {collector.frames:>7}  eps {policy.epsilon:.2f}  mean return {mean_return:6.1f}")
    if len(recent) == 20 and mean_return >= 475:
        print(f"solved CartPole in {seconds:.2f} s ({collector.frames} env steps)")
        break
    buffer.extend(rollout.select("observation", "action", "next"))
    policy.step(collector.frames_per_rollout)  # anneal epsilon by the frames collected
    if collector.frames < 1_000:
        continue
    for _ in range(4):  # 4 updates per 256 frames
        optimizer.zero_grad()
        total_loss(loss(buffer.sample(256))).backward()
        torch.nn.utils.clip_grad_norm_(qnet.parameters(), 10.0)
        optimizer.step()
        polyak_update(loss.target_network, qnet, tau=0.15)
else:
    print(f"not solved within {collector.frames} env steps (mean return {mean_return:.1f})")
