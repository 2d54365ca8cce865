"""Your own environment, two ways: a native batched torch env (EnvBase) and a plain gymnasium.Env.

The task (the seed book's example): a point on a line starts at 0; each step moves it by -0.1 or
+0.1; the reward is 1 - |position| (stay alive, near 0); the episode terminates when |position| > 1
and is truncated after 200 steps. The best policy steps back and forth around 0 and scores 190;
walking off at once scores 4.4 and a random walk about 70.

1. ``LineWalk`` subclasses ``rl4py.envs.EnvBase``: every sub-env lives in one tensor and steps in
   one batched op, and auto-resets itself (the fast path: no Python loop over sub-envs).
2. ``GymLineWalk`` is an ordinary ``gymnasium.Env``; ``GymEnv`` runs N copies of it through
   gymnasium's vector API (what you do with an env you already have).
Both train with the same ``train_ppo``, then each policy is scored greedily.

Run: python recipes/custom_env.py   (--smoke: a tiny budget that checks the wiring)
"""

import argparse

import gymnasium as gym
import numpy as np
import torch

from rl4py import keys
from rl4py.envs import EnvBase, EnvStep, GymEnv
from rl4py.trainers import PPOConfig, evaluate_policy, train_ppo

STEP, LIMIT, MAX_STEPS = 0.1, 1.0, 200


class LineWalk(EnvBase):
    """The line walk, ``num_envs`` at once: observation ``[B, 1]`` (the position), action ``[B]`` in {0, 1}."""

    def __init__(self, num_envs: int = 1, device: str = "cpu") -> None:
        super().__init__(
            num_envs=num_envs,
            single_observation_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32),
            single_action_space=gym.spaces.Discrete(2),
            device=device,
        )
        self.position = torch.zeros(num_envs, 1, device=self.device)
        self.elapsed = torch.zeros(num_envs, 1, dtype=torch.int64, device=self.device)

    def _reset(self, seed: int | None) -> dict:
        # deterministic start: nothing to seed (an env with random starts draws them from a seeded generator)
        self.position = torch.zeros_like(self.position)
        self.elapsed = torch.zeros_like(self.elapsed)
        return {keys.OBSERVATION: self.position.clone()}

    def _step(self, action: torch.Tensor) -> EnvStep:
        position = self.position + torch.where(action.unsqueeze(-1) == 1, STEP, -STEP)
        elapsed = self.elapsed + 1
        terminated = position.abs() > LIMIT
        truncated = (elapsed >= MAX_STEPS) & ~terminated
        done = terminated | truncated
        next_entries = {
            keys.OBSERVATION: position,  # the true last observation, even where the episode ended
            keys.REWARD: 1.0 - position.abs(),
            keys.TERMINATED: terminated,
            keys.TRUNCATED: truncated,
            keys.DONE: done,
        }
        # auto-reset: finished sub-envs start again at 0; the root holds the next step's observation
        self.position = position.masked_fill(done, 0.0)
        self.elapsed = elapsed.masked_fill(done, 0)
        return EnvStep(next=next_entries, root={keys.OBSERVATION: self.position.clone()})


class GymLineWalk(gym.Env):
    """The same walk as a single gymnasium env."""

    observation_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.elapsed = 0.0, 0
        return np.array([self.position], dtype=np.float32), {}

    def step(self, action):
        self.position += STEP if int(action) == 1 else -STEP
        self.elapsed += 1
        terminated = abs(self.position) > LIMIT
        truncated = self.elapsed >= MAX_STEPS and not terminated
        return np.array([self.position], dtype=np.float32), 1.0 - abs(self.position), terminated, truncated, {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a tiny budget (CI)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = PPOConfig(num_envs=8, rollout_length=64, lr=3e-3, total_frames=1_024 if args.smoke else 20_000)

    gym.register("LineWalk-v0", entry_point=GymLineWalk)  # so gymnasium can make N copies by id
    envs = {
        "native LineWalk (EnvBase)": lambda n: LineWalk(num_envs=n),
        "gymnasium LineWalk-v0 (GymEnv)": lambda n: GymEnv("LineWalk-v0", num_envs=n),
    }
    for name, make in envs.items():
        result = train_ppo(make(config.num_envs), config)
        score = evaluate_policy(make(16), result.module("actor"), max_steps=MAX_STEPS + 1, seed=0).mean().item()
        print(f"{name:<32} greedy return {score:7.2f}  ({result.frames} env steps in {result.seconds:.1f} s)")


if __name__ == "__main__":
    main()
