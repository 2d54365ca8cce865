"""LSTM policy: recurrent PPO on partially observable CartPole, in a plain loop.

The observation holds the cart position and the pole angle only (``partial_observation=True``): the
velocities must be inferred from how those change, which a feed-forward policy cannot do. The policy
and the critic each carry an LSTM state; the collector feeds it back step by step and stores it, and
the update re-runs the LSTMs over chunks of 16 steps from their stored first states (truncated
back-propagation through time).

Run: python recipes/lstm_policy.py   (prints progress and the time it took to reach a mean return of 475;
     --smoke: a tiny budget)
"""

import argparse
import time
from collections import deque

import torch

from rl4py import GAE, CartPole, PPOLoss, SyncCollector, finished_episodes
from rl4py.envs import ObservationNorm
from rl4py.modules.recurrent_actor import make_recurrent_actor_critic
from rl4py.trainers import minibatch_update

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)  # small networks: one thread avoids synchronization overhead
torch.manual_seed(0)
start = time.perf_counter()
TOTAL_FRAMES = 2_048 if args.smoke else 300_000
LR = 3e-3

env = ObservationNorm(CartPole(num_envs=32, partial_observation=True))  # observation [32, 2]
policy = make_recurrent_actor_critic(
    env.single_observation_space,
    env.single_action_space,
    core="lstm",  # or "gru", "block_gru"
    hidden_size=64,
    encoder_cells=(64,),  # observation -> Linear(2, 64) -> ReLU -> LSTM(64, 64) -> Linear(64, 64) -> ReLU -> head
    head_cells=(64,),
    activation=torch.nn.ReLU,
)
# the collector feeds "is_init" and ("recurrent_state", "actor"/"critic", "h"/"c") to the policy and stores them
collector = SyncCollector(env, policy, rollout_length=32, total_frames=TOTAL_FRAMES, seed=0)
# values for GAE: the critic evaluated at every step from the state it had there (and after it, for the bootstrap)
advantage = GAE(gamma=0.98, lmbda=0.8, value_network=policy.value_network)
# on chunks [N, 16] the actor's get_dist and the critic re-run their LSTMs from the chunk's stored first state
loss = PPOLoss(policy.actor, policy.critic, entropy_coeff=0.0, clip_value=False)
optimizer = torch.optim.Adam(loss.parameters(), lr=LR, eps=1e-5)

recent = deque(maxlen=20)  # returns of the last 20 finished episodes
best = 0.0
for i, rollout in enumerate(collector):
    recent.extend(finished_episodes(rollout)[0].tolist())
    mean_return = sum(recent) / max(len(recent), 1)
    best = max(best, mean_return) if len(recent) == 20 else best
    seconds = time.perf_counter() - start
    if i % 10 == 0:
        steps_per_second = collector.frames / seconds
        print(f"env steps {collector.frames:>7}  steps/s {steps_per_second:>6.0f}  mean return {mean_return:6.1f}")
    if len(recent) == 20 and mean_return >= 475:
        print(f"reached a mean return of 475 in {seconds:.1f} s ({collector.frames} env steps)")
        break
    for group in optimizer.param_groups:  # linear learning-rate decay over the budget
        group["lr"] = LR * (1.0 - (collector.frames - collector.frames_per_rollout) / TOTAL_FRAMES)
    advantage(rollout)  # writes "state_value", ("next", "state_value"), "advantage", "value_target"
    minibatch_update(
        loss, optimizer, rollout, epochs=6, num_minibatches=2, max_grad_norm=0.5, keep_time=True, chunk_length=16
    )
else:
    print(f"not solved within {collector.frames} env steps (best mean return {best:.1f})")
