"""PPO on CartPole, every line explained: the quickstart's loop with the shapes and the reasons written out.

Run: python recipes/ppo_annotated.py   (--smoke: a tiny budget that checks the wiring)

The algorithm (Schulman et al., 2017), as CleanRL's ppo.py computes it:
1. collect a rollout of T steps in each of N sub-envs with the current policy;
2. estimate advantages with GAE(gamma, lambda) from the critic's values;
3. for a few epochs, split the N * T samples into minibatches and take a gradient step on
   the clipped surrogate + value loss - entropy bonus;
4. repeat with the updated policy (the old rollout is thrown away: PPO is on-policy).
"""

import argparse
import time
from collections import deque

import torch

from rl4py import GAE, CartPole, PPOLoss, SyncCollector, finished_episodes, make_discrete_actor_critic
from rl4py.trainers import minibatch_update

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget (CI)")
args = parser.parse_args()

# Small MLPs on a CPU: one thread is faster than several (the ops are too small to split).
torch.set_num_threads(1)
# Every random source below is seeded from here or from an explicit seed argument.
torch.manual_seed(0)

# --- the environment -------------------------------------------------------------------------
# CartPole(num_envs=32) is 32 CartPole-v1 copies stepped together as one batch of tensors:
# observation [32, 4] (cart position, cart velocity, pole angle, pole angular velocity),
# action [32] in {0, 1} (push left / right), reward +1 per step, an episode ends when the pole
# falls (terminated) or after 500 steps (truncated). Finished sub-envs reset themselves.
NUM_ENVS, ROLLOUT = 32, 32
env = CartPole(num_envs=NUM_ENVS)

# --- the networks ----------------------------------------------------------------------------
# Two separate MLPs with CleanRL's shapes, 4 -> 64 -> 64 -> out, tanh, orthogonal init:
#   actor:  "observation" [B, 4] -> "logits" [B, 2] -> a Categorical -> "action" [B], "action_log_prob" [B, 1]
#   critic: "observation" [B, 4] -> "state_value" [B, 1]
# Both are TensorDict modules: they read and write named entries of a TensorDict.
actor, critic = make_discrete_actor_critic(observation_size=4, n_actions=2)

# --- the collector ---------------------------------------------------------------------------
# Each iteration runs the actor for ROLLOUT steps in every sub-env and returns a TensorDict of
# batch size [NUM_ENVS, ROLLOUT] = [32, 32] with "observation", "logits", "action", "action_log_prob"
# (the behaviour policy's, PPO's ratio denominator) and under "next": "observation", "reward",
# "terminated", "truncated", "done", "episode_return", "episode_length".
# It keeps the env's state between rollouts, so episodes span rollout boundaries.
total_frames = 2_048 if args.smoke else 500_000
collector = SyncCollector(env, actor, rollout_length=ROLLOUT, total_frames=total_frames, seed=0)

# --- the advantage estimator -----------------------------------------------------------------
# GAE runs the critic on the rollout and writes "advantage" [32, 32, 1] and "value_target" (the
# lambda-return, the critic's regression target). gamma discounts the future; lambda trades the
# bias of one-step TD errors (0) against the variance of Monte-Carlo returns (1). A truncated
# episode bootstraps from the critic's value of its last observation; a terminated one does not.
advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic)

# --- the loss --------------------------------------------------------------------------------
# PPOLoss returns a TensorDict of terms: "loss_objective" (the clipped surrogate,
# -min(r A, clip(r, 1 - 0.2, 1 + 0.2) A) with r = pi_new / pi_old), "loss_critic" (0.5 * MSE to
# "value_target", times critic_coeff) and "loss_entropy" (-entropy_coeff * entropy); their sum is
# what is minimised. CartPole needs no entropy bonus, and value clipping slows it down.
loss = PPOLoss(actor, critic, entropy_coeff=0.0, clip_value=False)
# One Adam over both networks (loss.parameters() holds the actor's and the critic's); eps=1e-5 as CleanRL.
optimizer = torch.optim.Adam(loss.parameters(), lr=1e-2, eps=1e-5)

start = time.perf_counter()
recent = deque(maxlen=20)  # returns of the last 20 finished episodes: the solve criterion's window
for i, rollout in enumerate(collector):
    # finished_episodes reads ("next", "episode_return") where ("next", "done") is set.
    recent.extend(finished_episodes(rollout)[0].tolist())
    mean_return = sum(recent) / len(recent) if recent else float("nan")
    if i % 10 == 0:
        shown = f"{mean_return:6.1f}" if recent else "     -"  # no episode has ended yet
        print(f"env steps {collector.frames:>7}  mean return {shown}")
    if len(recent) == 20 and mean_return >= 475:  # CartPole-v1 is "solved" at a mean of 475
        print(f"solved CartPole in {time.perf_counter() - start:.2f} s ({collector.frames} env steps)")
        break
    # Advantages are computed once per rollout, with the critic as it is before this update.
    advantage(rollout)
    # 6 epochs over the 1,024 samples, as one minibatch each (num_minibatches=1): 6 gradient steps,
    # each normalising the advantages over its minibatch and clipping the gradient norm to 0.5.
    minibatch_update(loss, optimizer, rollout, epochs=6, num_minibatches=1, max_grad_norm=0.5)
else:
    print(f"stopped after {collector.frames} env steps (mean return {mean_return:.1f})")
