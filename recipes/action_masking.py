"""Masked PPO on the GridWorld corridor, next to the same policy without the mask.

Run: python recipes/action_masking.py   (--smoke: a tiny budget)
"""

import argparse

import torch

from rl4py import GAE, GridWorld, PPOLoss, SyncCollector, make_actor_critic
from rl4py.envs import CORRIDOR_LAYOUT
from rl4py.trainers import minibatch_update
from rl4py.trainers.evaluation import evaluate_policy

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)


def train(masked: bool, iterations: int = 20, seed: int = 0) -> float:
    torch.manual_seed(seed)
    # with validate=True a masked-out move raises; the unmasked run needs validate=False to try them
    env = GridWorld(16, layout=CORRIDOR_LAYOUT, max_episode_steps=40, validate=masked)
    space_obs, space_act = env.single_observation_space, env.single_action_space
    actor, critic = make_actor_critic(space_obs, space_act, num_cells=(64,), masked=masked)
    advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic)
    loss = PPOLoss(actor, critic)
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-3)
    collector = SyncCollector(env, actor, rollout_length=32, seed=seed)
    evaluation = GridWorld(64, layout=CORRIDOR_LAYOUT, max_episode_steps=40, validate=False)
    for i in range(iterations):
        rollout = collector.rollout()
        advantage(rollout)
        minibatch_update(loss, optimizer, rollout, epochs=4, num_minibatches=4)
        if i % 4 == 3:
            score = evaluate_policy(evaluation, actor, max_steps=40, seed=123).mean().item()
            print(f"{'masked  ' if masked else 'unmasked'} iteration {i + 1:>3}  greedy return {score:.3f}")
    return evaluate_policy(evaluation, actor, max_steps=40, seed=123).mean().item()


optimal = GridWorld(1, layout=CORRIDOR_LAYOUT, max_episode_steps=40).optimal_return()
iterations = 4 if args.smoke else 20
masked, unmasked = train(masked=True, iterations=iterations), train(masked=False, iterations=iterations)
print(f"optimal {optimal:.3f}   masked {masked:.3f}   unmasked {unmasked:.3f}")
