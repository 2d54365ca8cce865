"""PPO with a multi-discrete action space and per-step masks; independent or auto-regressive heads.

Run: python recipes/ppo_multi_discrete.py [--autoregressive] [--smoke: a tiny budget]
"""

import argparse

import torch
from tensordict.nn import TensorDictModule

from rl4py import GAE, MultiDiscreteTarget, PPOLoss, SyncCollector, make_actor_critic
from rl4py.modules import MLP, AutoRegressiveActor
from rl4py.trainers import minibatch_update
from rl4py.trainers.evaluation import evaluate_policy

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--autoregressive", action="store_true", help="sample the heads in order, each seeing the last")
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)

env = MultiDiscreteTarget(num_envs=16)  # nvec (3, 4); the observation shows the target, the mask changes each step
obs_size = env.single_observation_space.shape[0]
if args.autoregressive:
    nvec = [int(n) for n in env.single_action_space.nvec]
    actor = AutoRegressiveActor(MLP(obs_size, 64, num_cells=(64,)), 64, nvec, mask_key="action_mask")
    critic = TensorDictModule(MLP(obs_size, 1), in_keys=["observation"], out_keys=["state_value"])
else:
    actor, critic = make_actor_critic(env.single_observation_space, env.single_action_space, masked=True)

advantage = GAE(gamma=0.99, lmbda=0.95, value_network=critic)
loss = PPOLoss(actor, critic)
optimizer = torch.optim.Adam(loss.parameters(), lr=3e-3)
collector = SyncCollector(env, actor, rollout_length=32, seed=0)
for i in range(4 if args.smoke else 24):
    rollout = collector.rollout()
    advantage(rollout)
    minibatch_update(loss, optimizer, rollout, epochs=4, num_minibatches=4)
    if i % 4 == 3:
        score = evaluate_policy(MultiDiscreteTarget(64), actor, max_steps=64, seed=7).mean().item()
        print(f"iteration {i + 1:>3}  env steps {collector.frames:>6}  greedy return {score:.2f} / 8")
print(f"a random policy that respects the mask scores {env.random_return(masked=True):.2f}")
