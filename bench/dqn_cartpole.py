"""DQN on CartPole: time and env steps to solve, rl4py vs Stable-Baselines3, in one run.

Solved = the mean return of the last 20 finished episodes (of the exploring policy) reaches 475.
Wall time counts from the start of training (after imports) and includes building the agent.
Prints JSON lines: one per run, then one summary per library, then rl4py's speedup.

    python bench/dqn_cartpole.py                  # 5 seeds each, rl4py and sb3
    python bench/dqn_cartpole.py --libraries rl4py --seeds 3
    python bench/dqn_cartpole.py --sb3-cap 60     # seconds before an sb3 run counts as unsolved

Needs ``pip install -e ".[bench]"`` for the sb3 peer.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import emit, median_or_none, sb3_solve_callback

from rl4py import CartPole
from rl4py.trainers import DQNConfig, train_dqn

TARGET = 475.0
WINDOW = 20

#: rl4py's configuration for this benchmark, found by a sweep (docs/guide/dqn.md lists what was
#: tried). Differences from the book's defaults (DQNConfig()): 32 sub-envs stepped 8 times per round
#: (256 frames), then 4 gradient steps (one update per 64 frames) on minibatches of 256; lr 1e-2;
#: double DQN; a Polyak target update with tau 0.15 after every gradient step; a 128-128 ReLU
#: Q-network; epsilon 1 -> 0.04 over 8,000 frames; a 100,000-transition buffer. Unchanged: squared
#: TD error, gamma 0.99, learning starts after 1,000 frames, grad-norm clip 10, one torch thread.
RL4PY_CONFIG = dict(
    num_envs=32,
    train_frequency=8,
    gradient_steps=4,
    batch_size=256,
    lr=1e-2,
    double_dqn=True,
    tau=0.15,
    target_update_interval=1,
    num_cells=(128, 128),
    eps_end=0.04,
    exploration_frames=8_000,
    buffer_size=100_000,
    total_frames=400_000,
)

#: rl-zoo's CartPole-v1 hyperparameters (hyperparams/dqn.yml, "almost tuned")
SB3_ZOO = dict(
    n_timesteps=50_000,
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1_000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    net_arch=[256, 256],
)


def run_rl4py(seed: int) -> dict:
    start = time.perf_counter()  # like the sb3 run: the env's construction counts
    config = DQNConfig(seed=seed, target_return=TARGET, window=WINDOW, **RL4PY_CONFIG)
    result = train_dqn(CartPole(num_envs=config.num_envs), config)
    wall = time.perf_counter() - start
    return {
        "solved": result.solved,
        "seconds_to_solve": round(wall, 3) if result.solved else None,
        "env_steps_to_solve": result.frames if result.solved else None,
        "gradient_steps": result.updates,
        "steps_per_second": round(result.frames / result.seconds),
        "seconds": round(result.seconds, 3),
    }


def run_sb3(seed: int, cap_seconds: float) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    start = time.perf_counter()
    zoo = SB3_ZOO
    # rl-zoo trains for n_timesteps = 5e4 and decays epsilon over exploration_fraction of them
    # (8,000 steps). To keep training until solved (or the cap), the budget is raised and the
    # fraction scaled so that epsilon still reaches its final value after the same 8,000 steps.
    budget = 2_000_000
    exploration_fraction = zoo["exploration_fraction"] * zoo["n_timesteps"] / budget
    env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
    model = DQN(
        "MlpPolicy",
        env,
        learning_rate=zoo["learning_rate"],
        batch_size=zoo["batch_size"],
        buffer_size=zoo["buffer_size"],
        learning_starts=zoo["learning_starts"],
        gamma=zoo["gamma"],
        target_update_interval=zoo["target_update_interval"],
        train_freq=zoo["train_freq"],
        gradient_steps=zoo["gradient_steps"],
        exploration_fraction=exploration_fraction,
        exploration_final_eps=zoo["exploration_final_eps"],
        policy_kwargs=dict(net_arch=zoo["net_arch"]),
        seed=seed,
        device="cpu",
        verbose=0,
    )
    callback = sb3_solve_callback(start, TARGET, WINDOW, cap_seconds)
    model.learn(total_timesteps=budget, callback=callback)
    seconds = time.perf_counter() - start
    solved = callback.solved_at is not None
    return {
        "solved": solved,
        "seconds_to_solve": round(callback.solved_at[0], 3) if solved else None,
        "env_steps_to_solve": callback.solved_at[1] if solved else None,
        "gradient_steps": int(model._n_updates),
        "steps_per_second": round(model.num_timesteps / seconds),
        "seconds": round(seconds, 3),
        "mean_return_last_20": round(sum(callback.recent) / len(callback.recent), 1) if callback.recent else None,
        "best_mean_return_20": round(callback.best_mean, 1) if callback.best_mean > float("-inf") else None,
    }


def summary(library: str, runs: list[dict]) -> dict:
    solved = [r for r in runs if r["solved"]]
    return {
        "bench": "dqn_cartpole",
        "library": library,
        "summary": True,
        "runs": len(runs),
        "solved_runs": len(solved),
        # unsolved runs count as infinitely slow, so the median is honest when some fail
        "median_seconds_to_solve": median_or_none([r["seconds_to_solve"] for r in runs]),
        "median_env_steps_to_solve": median_or_none([r["env_steps_to_solve"] for r in runs]),
        "median_gradient_steps": statistics.median(r["gradient_steps"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--libraries", default="rl4py,sb3")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for rl4py")
    parser.add_argument(
        "--sb3-threads",
        type=int,
        default=None,
        help="torch threads for sb3 (default: torch's default, one per core, as an sb3 user runs it)",
    )
    parser.add_argument("--sb3-cap", type=float, default=120.0, help="seconds before an sb3 run counts as unsolved")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()
    summaries = []
    for library in args.libraries.split(","):
        if library not in ("rl4py", "sb3"):
            raise SystemExit(f"--libraries: unknown library {library!r}; expected rl4py and/or sb3")
        threads = args.threads if library == "rl4py" else (args.sb3_threads or default_threads)
        torch.set_num_threads(threads)
        runs = []
        for seed in range(args.seeds):
            result = run_rl4py(seed) if library == "rl4py" else run_sb3(seed, args.sb3_cap)
            record = {"bench": "dqn_cartpole", "library": library, "seed": seed, "torch_threads": threads, **result}
            emit(record)
            runs.append(record)
        summaries.append({**summary(library, runs), "torch_threads": threads})
    for record in summaries:
        emit(record)
    by_lib = {s["library"]: s for s in summaries}
    if "rl4py" in by_lib and "sb3" in by_lib:
        ours, peer = by_lib["rl4py"]["median_seconds_to_solve"], by_lib["sb3"]["median_seconds_to_solve"]
        record = {
            "bench": "dqn_cartpole",
            "speedup_vs_sb3": None if not ours or not peer else round(peer / ours, 2),
            "sb3_cap_seconds": args.sb3_cap,
        }
        if ours and not peer:  # sb3's median run hit the cap: rl4py is faster by at least cap / ours
            record["speedup_vs_sb3_at_least"] = round(args.sb3_cap / ours, 1)
        emit(record)


if __name__ == "__main__":
    main()
