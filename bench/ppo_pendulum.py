"""PPO on Pendulum: time and env steps to a mean return of -250, rl4py vs Stable-Baselines3.

Solved = the mean return of the last 20 finished episodes reaches -250. Wall time counts from the
start of training (after imports). JSON lines: one per run, then one summary per library.

    python bench/ppo_pendulum.py                   # 5 seeds each, rl4py and sb3
    python bench/ppo_pendulum.py --libraries rl4py --seeds 3

Needs ``pip install -e ".[bench]"`` for the sb3 peer.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from common import emit, median_or_none, sb3_solve_callback

from rl4py.envs.pendulum import Pendulum
from rl4py.envs.wrappers import NormalizeReward
from rl4py.trainers import PPOConfig, train_ppo

TARGET = -250.0
WINDOW = 20

#: rl4py's configuration (docs/benchmarks.md has the sweep): 32 sub-envs x 32 steps, gSDE exploration
#: (noise matrix redrawn every 4 steps, as rl-zoo's SB3 run), rewards scaled by NormalizeReward (so
#: the usual gradient-norm clip of 0.5 stays on), 4 minibatches of 256, 10 epochs, lr 3e-3 constant,
#: gamma 0.9 (as rl-zoo), no entropy bonus, no value clipping.
RL4PY_CONFIG = dict(
    num_envs=32,
    rollout_length=32,
    lr=3e-3,
    anneal_lr=False,
    num_minibatches=4,
    epochs=10,
    gamma=0.9,
    lmbda=0.95,
    entropy_coeff=0.0,
    clip_value=False,
    max_grad_norm=0.5,
    gsde=True,
    sde_sample_freq=4,
    total_frames=1_000_000,
)
#: wrap the env in rl4py.NormalizeReward (gamma = the config's)
NORMALIZE_REWARD = True


def run_rl4py(seed: int, config: dict, normalize_reward: bool = NORMALIZE_REWARD) -> dict:
    start = time.perf_counter()  # like the sb3 run: the env's construction counts
    cfg = PPOConfig(seed=seed, target_return=TARGET, window=WINDOW, **config)
    env = Pendulum(num_envs=cfg.num_envs)
    result = train_ppo(NormalizeReward(env, gamma=cfg.gamma) if normalize_reward else env, cfg)
    wall = time.perf_counter() - start
    return {
        "solved": result.solved,
        "seconds_to_solve": round(wall, 3) if result.solved else None,
        "env_steps_to_solve": result.frames if result.solved else None,
        "steps_per_second": round(result.frames / result.seconds),
        "seconds": round(result.seconds, 3),
    }


def run_sb3(seed: int, cap_seconds: float) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    start = time.perf_counter()
    # rl-zoo's tuned Pendulum-v1 hyperparameters (hyperparams/ppo.yml)
    env = make_vec_env("Pendulum-v1", n_envs=4, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=1024,
        gae_lambda=0.95,
        gamma=0.9,
        n_epochs=10,
        ent_coef=0.0,
        learning_rate=1e-3,
        clip_range=0.2,
        use_sde=True,
        sde_sample_freq=4,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    callback = sb3_solve_callback(start, TARGET, WINDOW, cap_seconds)
    model.learn(total_timesteps=2_000_000, callback=callback)
    seconds = time.perf_counter() - start
    solved = callback.solved_at is not None
    return {
        "solved": solved,
        "seconds_to_solve": round(callback.solved_at[0], 3) if solved else None,
        "env_steps_to_solve": callback.solved_at[1] if solved else None,
        "steps_per_second": round(model.num_timesteps / seconds),
        "seconds": round(seconds, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--libraries", default="rl4py,sb3")
    parser.add_argument("--sb3-cap", type=float, default=120.0, help="seconds before an sb3 run counts as unsolved")
    parser.add_argument("--sb3-threads", type=int, default=None, help="torch threads for sb3 (default: torch's)")
    parser.add_argument("--config", default="{}", help="JSON overrides of rl4py's configuration")
    parser.add_argument("--no-normalize-reward", action="store_true", help="rl4py without NormalizeReward")
    args = parser.parse_args()
    config = {**RL4PY_CONFIG, **json.loads(args.config)}
    default_threads = torch.get_num_threads()
    summaries = []
    for library in args.libraries.split(","):
        threads = 1 if library == "rl4py" else (args.sb3_threads or default_threads)
        torch.set_num_threads(threads)
        runs = []
        for seed in range(args.seeds):
            result = (
                run_rl4py(seed, config, not args.no_normalize_reward)
                if library == "rl4py"
                else run_sb3(seed, args.sb3_cap)
            )
            record = {"bench": "ppo_pendulum", "library": library, "seed": seed, "torch_threads": threads, **result}
            emit(record)
            runs.append(record)
        solved = [r for r in runs if r["solved"]]
        summaries.append(
            {
                "bench": "ppo_pendulum",
                "library": library,
                "summary": True,
                "runs": len(runs),
                "solved_runs": len(solved),
                "median_seconds_to_solve": median_or_none([r["seconds_to_solve"] for r in runs]),
                "median_env_steps_to_solve": median_or_none([r["env_steps_to_solve"] for r in runs]),
                "torch_threads": threads,
            }
        )
    for record in summaries:
        emit(record)
    by_lib = {s["library"]: s for s in summaries}
    if "rl4py" in by_lib and "sb3" in by_lib:
        ours, peer = by_lib["rl4py"]["median_seconds_to_solve"], by_lib["sb3"]["median_seconds_to_solve"]
        emit({"bench": "ppo_pendulum", "speedup_vs_sb3": None if not ours or not peer else round(peer / ours, 2)})


if __name__ == "__main__":
    main()
