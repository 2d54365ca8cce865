"""PPO on CartPole: time and env steps to solve, rl4py vs Stable-Baselines3, in one run.

Solved = the mean return of the last 20 finished episodes reaches 475. Wall time counts
from the start of training (after imports) and includes building the agent. Prints JSON
lines: one per run, then one summary per library, then the collector measurement.

    python bench/ppo_cartpole.py                  # 5 seeds each, rl4py and sb3
    python bench/ppo_cartpole.py --libraries rl4py --seeds 3

Needs ``pip install -e ".[bench]"`` for the sb3 peer.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from common import emit, median_or_none, sb3_solve_callback

from rl4py import CartPole, SyncCollector, make_discrete_actor_critic
from rl4py.trainers import PPOConfig, train_ppo

TARGET = 475.0
WINDOW = 20

#: rl4py's configuration for this benchmark (found by a sweep over sub-envs, rollout length,
#: epochs, minibatches, learning rate, clip range, gamma, lambda, grad clip and activation; see
#: docs/benchmarks.md). Differences from CleanRL's defaults: 32 sub-envs x 32 steps, one full-batch
#: minibatch, 6 epochs, a constant learning rate of 2e-2, the clip range decayed from 0.2 to 0 over
#: total_frames = 100k (rl-zoo's lin_0.2; ~15% fewer iterations, every seed of the sweep solved by 41k),
#: no entropy bonus, no value clipping, and 2 torch threads for the update (1 for collection).
RL4PY_CONFIG = dict(
    num_envs=32,
    rollout_length=32,
    lr=2e-2,
    anneal_lr=False,
    num_minibatches=1,
    epochs=6,
    entropy_coeff=0.0,
    clip_value=False,
    anneal_clip=True,
    update_threads=2,
    total_frames=100_000,
)


def run_rl4py(seed: int, overrides: dict | None = None) -> dict:
    start = time.perf_counter()  # like the sb3 run: the env's construction counts
    config = PPOConfig(seed=seed, target_return=TARGET, window=WINDOW, **{**RL4PY_CONFIG, **(overrides or {})})
    result = train_ppo(CartPole(num_envs=config.num_envs), config)
    wall = time.perf_counter() - start
    return {
        "solved": result.solved,
        "seconds_to_solve": round(wall, 3) if result.solved else None,
        "env_steps_to_solve": result.frames if result.solved else None,
        "steps_per_second": round(result.frames / result.seconds),
        "seconds": round(result.seconds, 3),
    }


SB3_BUDGET = 1_000_000
ZOO_TIMESTEPS = 100_000


def _zoo_progress(progress_remaining: float) -> float:
    """SB3's remaining progress over ``SB3_BUDGET`` steps mapped onto rl-zoo's ``ZOO_TIMESTEPS``."""
    elapsed = (1.0 - progress_remaining) * SB3_BUDGET
    return max(0.0, 1.0 - elapsed / ZOO_TIMESTEPS)


def run_sb3(seed: int, cap_seconds: float) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    start = time.perf_counter()
    # rl-zoo's tuned CartPole-v1 hyperparameters (hyperparams/ppo.yml)
    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=256,
        gae_lambda=0.8,
        gamma=0.98,
        n_epochs=20,
        ent_coef=0.0,
        # rl-zoo's lin_0.001 / lin_0.2 decay over its n_timesteps = 1e5; the run's budget is
        # larger (it stops when solved), so the schedules are rescaled to reach 0 at 1e5 steps
        learning_rate=lambda progress: _zoo_progress(progress) * 1e-3,
        clip_range=lambda progress: _zoo_progress(progress) * 0.2,
        seed=seed,
        device="cpu",
        verbose=0,
    )
    callback = sb3_solve_callback(start, TARGET, WINDOW, cap_seconds)
    model.learn(total_timesteps=SB3_BUDGET, callback=callback)
    seconds = time.perf_counter() - start
    solved = callback.solved_at is not None
    return {
        "solved": solved,
        "seconds_to_solve": round(callback.solved_at[0], 3) if solved else None,
        "env_steps_to_solve": callback.solved_at[1] if solved else None,
        "steps_per_second": round(model.num_timesteps / seconds),
        "seconds": round(seconds, 3),
    }


def measure_collector(num_envs: int = 1024, rollout_length: int = 16, repeats: int = 20) -> dict:
    """Rollout time vs the env step and policy forward alone, same sizes and steps."""
    torch.manual_seed(0)
    actor, _ = make_discrete_actor_critic(4, 2)
    env = CartPole(num_envs=num_envs)
    collector = SyncCollector(env, actor, rollout_length=rollout_length, seed=0, return_same_td=True)
    collector.rollout()  # allocate storage, warm up

    def median_of(fn) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    rollout_s = median_of(collector.rollout)
    root = env.reset_tensors(seed=1)
    actions = torch.randint(0, 2, (rollout_length, num_envs))

    def env_only() -> None:
        for t in range(rollout_length):
            env.step_tensors(actions[t])

    from tensordict import TensorDict

    def policy_only() -> None:
        with torch.inference_mode():
            for _ in range(rollout_length):
                actor(TensorDict(root, batch_size=[num_envs]))

    env_s = median_of(env_only)
    policy_s = median_of(policy_only)
    frames = num_envs * rollout_length
    return {
        "bench": "collector",
        "library": "rl4py",
        "num_envs": num_envs,
        "rollout_length": rollout_length,
        "policy": "64-64 tanh MLP",
        "steps_per_second": round(frames / rollout_s),
        "env_only_steps_per_second": round(frames / env_s),
        "rollout_seconds": round(rollout_s, 5),
        "env_seconds": round(env_s, 5),
        "policy_seconds": round(policy_s, 5),
        "overhead_fraction": round((rollout_s - env_s - policy_s) / rollout_s, 4),
    }


def summary(library: str, runs: list[dict]) -> dict:
    solved = [r for r in runs if r["solved"]]
    return {
        "bench": "ppo_cartpole",
        "library": library,
        "summary": True,
        "runs": len(runs),
        "solved_runs": len(solved),
        # unsolved runs count as infinitely slow, so the median is honest when some fail
        "median_seconds_to_solve": median_or_none([r["seconds_to_solve"] for r in runs]),
        "median_env_steps_to_solve": median_or_none([r["env_steps_to_solve"] for r in runs]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--libraries", default="rl4py,sb3")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for rl4py's collection")
    parser.add_argument(
        "--sb3-threads",
        type=int,
        default=None,
        help="torch threads for sb3 (default: torch's default, one per core, as an sb3 user runs it)",
    )
    parser.add_argument("--sb3-cap", type=float, default=120.0, help="seconds before an sb3 run counts as unsolved")
    parser.add_argument("--no-collector", action="store_true", help="skip the 1024x16 collector measurement")
    parser.add_argument("--config", default="{}", help="JSON overrides of rl4py's configuration")
    args = parser.parse_args()
    overrides = json.loads(args.config)
    default_threads = torch.get_num_threads()
    summaries = []
    for library in args.libraries.split(","):
        threads = args.threads if library == "rl4py" else (args.sb3_threads or default_threads)
        torch.set_num_threads(threads)
        runs = []
        for seed in range(args.seeds):
            result = run_rl4py(seed, overrides) if library == "rl4py" else run_sb3(seed, args.sb3_cap)
            record = {"bench": "ppo_cartpole", "library": library, "seed": seed, "torch_threads": threads, **result}
            if library == "rl4py":  # collection runs on torch_threads, the update on update_threads
                record["update_threads"] = {**RL4PY_CONFIG, **overrides}["update_threads"]
            emit(record)
            runs.append(record)
        summaries.append({**summary(library, runs), "torch_threads": threads})
    for record in summaries:
        emit(record)
    by_lib = {s["library"]: s for s in summaries}
    if "rl4py" in by_lib and "sb3" in by_lib:
        ours, peer = by_lib["rl4py"]["median_seconds_to_solve"], by_lib["sb3"]["median_seconds_to_solve"]
        emit({"bench": "ppo_cartpole", "speedup_vs_sb3": None if not ours or not peer else round(peer / ours, 2)})
    if not args.no_collector:
        torch.set_num_threads(args.threads)
        emit(measure_collector())


if __name__ == "__main__":
    main()
