"""Deploy a policy: train PPO on CartPole, export it (ONNX and torch.export), run the exports without rl4py.

The exported files need no rl4py at run time: a child process, in which ``import rl4py`` fails, plays
gymnasium's CartPole-v1 with each of them (onnxruntime when installed, and torch alone) and prints
the returns.

Run: python recipes/deploy_policy.py            (trains until a mean return of 475, ~1 minute)
     python recipes/deploy_policy.py --smoke    (a tiny budget: checks the pipeline, not the policy)
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from rl4py import CartPole
from rl4py.export import export_onnx, export_program
from rl4py.trainers import PPOConfig, train_ppo

# The deployment side: plain gymnasium + onnxruntime / torch, rl4py blocked. It is what a service
# that serves the policy would run.
RUNNER = """
import sys
sys.modules["rl4py"] = None  # prove the exports need no rl4py: importing it now fails
import gymnasium as gym
import numpy as np
import torch

directory, episodes = sys.argv[1], int(sys.argv[2])


def play(act, name):
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    print(f"{name}: mean return {np.mean(returns):.1f} over {episodes} episodes {returns}")


program = torch.export.load(f"{directory}/policy.pt2").module()


def act_torch(obs):
    with torch.no_grad():
        action, _logits = program(torch.as_tensor(obs[None], dtype=torch.float32))
    return int(action[0])


play(act_torch, "torch.export")
try:
    import onnxruntime
except ImportError:
    print("onnxruntime: not installed, skipped (pip install onnxruntime)")
else:
    session = onnxruntime.InferenceSession(f"{directory}/policy.onnx")
    play(lambda obs: int(session.run(["action"], {"observation": obs[None].astype(np.float32)})[0][0]), "onnxruntime")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny training budget (CI)")
    parser.add_argument("--out", type=Path, default=None, help="directory for policy.onnx and policy.pt2")
    args = parser.parse_args()
    torch.set_num_threads(1)

    env = CartPole(num_envs=32 if not args.smoke else 4)
    config = PPOConfig(
        num_envs=env.num_envs,
        rollout_length=32,
        lr=1e-2,
        epochs=6,
        num_minibatches=1,
        entropy_coeff=0.0,
        clip_value=False,
        anneal_lr=False,
        target_return=475.0,
        total_frames=512 if args.smoke else 500_000,
    )
    result = train_ppo(env, config)
    print(f"trained: {result.frames} env steps, mean return {result.mean_return:.1f}, solved {result.solved}")

    out = args.out or Path(tempfile.mkdtemp(prefix="rl4py_deploy_"))
    out.mkdir(parents=True, exist_ok=True)
    space = env.single_observation_space
    export_program(result.actor, out / "policy.pt2", space)
    try:
        export_onnx(result.actor, out / "policy.onnx", space)
    except ImportError as error:
        print(f"ONNX export skipped: {error}")
    print(f"exported to {out}")

    episodes = 1 if args.smoke else 5
    subprocess.run([sys.executable, "-c", RUNNER, str(out), str(episodes)], check=True)


if __name__ == "__main__":
    main()
