"""Dreamer on CartPole: env steps and wall time to solve, gradient steps per second per variant and
size, beside PPO and sheeprl's DreamerV3, in one run.

Solved = the mean return of the last 20 finished episodes (of the collecting policy) reaches 450.
Prints JSON lines (one per run, then one summary per library and variant). Parts:

    python bench/dreamer_cartpole.py solve --seeds 3              # R2-Dreamer (Barlow) to 450 within 30,000 steps
    python bench/dreamer_cartpole.py solve --variants decoder     # DreamerV3's decoder, same settings
    python bench/dreamer_cartpole.py ppo --seeds 3                # PPO's env steps to the same bar
    python bench/dreamer_cartpole.py speed                        # gradient steps/s: variants x presets x vector/pixels
    python bench/dreamer_cartpole.py pixels --minutes 30          # 64x64 pixels: to 450, or what 30 CPU-min reach
    python bench/dreamer_cartpole.py sheeprl --minutes 5          # sheeprl 0.8.4's DreamerV3 beside rl4py, same sizes
    python bench/dreamer_cartpole.py profile --preset size1m      # where an update's time goes

Each part runs rl4py with one torch thread unless ``--threads`` says otherwise; the sheeprl peer
needs its own venv (see bench/sheeprl_dreamer.py).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
from common import emit, median_or_none
from ppo_cartpole import RL4PY_CONFIG as PPO_CONFIG  # PPO's tuned CartPole settings (its own bench's)

from rl4py import CartPole
from rl4py.collectors.sync import SyncCollector
from rl4py.envs import make_env
from rl4py.trainers import (
    DreamerConfig,
    PPOConfig,
    build_dreamer,
    dreamer_update,
    make_dreamer_optimizer,
    train_dreamer,
    train_ppo,
)
from rl4py.trainers.dreamer import REPLAY_KEYS, make_replay

BENCH = "dreamer_cartpole"
TARGET = 450.0
WINDOW = 20
BUDGET = 30_000

#: rl4py's settings for CartPole (see docs/benchmarks.md for what was tried): the tiny preset, 16
#: sequences of 32 steps, 128 replayed steps per env step (one gradient step per 4 env steps), and
#: learning rates 6x / 6.7x DreamerV3's (which are tuned for 10^5-10^6 gradient steps) for a
#: 30,000-step budget.
SOLVE_CONFIG = dict(
    preset="tiny",
    num_envs=4,
    batch_size=16,
    sequence_length=32,
    train_ratio=128.0,
    learning_starts=1_024,
    world_model_lr=6e-4,
    actor_lr=2e-4,
    critic_lr=2e-4,
)


def dreamer_config(variant: str, seed: int, budget: int, **overrides) -> DreamerConfig:
    return DreamerConfig(
        seed=seed, representation=variant, total_frames=budget, target_return=TARGET, window=WINDOW,
        **{**SOLVE_CONFIG, **overrides},
    )  # fmt: skip


def run_solve(variant: str, seed: int, budget: int, pixels: int | None = None, minutes: float | None = None) -> dict:
    """One rl4py run to the bar (or the budget / the wall-clock cap)."""
    config = dreamer_config(variant, seed, budget)
    env = (
        make_env("CartPole", num_envs=config.num_envs, pixels=pixels) if pixels else CartPole(num_envs=config.num_envs)
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    curve: list[tuple[int, float]] = []

    def progress(record: dict) -> None:
        curve.append((int(record["frames"]), round(float(record["mean_return"]), 1)))
        if minutes is not None and time.process_time() - cpu_start > 60 * minutes:  # CPU minutes
            raise TimeoutError

    result = None
    with contextlib.suppress(TimeoutError):  # the CPU-minute cap
        result = train_dreamer(env, config, progress=progress, progress_every=250)
    wall = time.perf_counter() - start
    solved = bool(result is not None and result.solved)
    frames = result.frames if result is not None else (curve[-1][0] if curve else 0)
    return {
        "solved": solved,
        "env_steps_to_solve": frames if solved else None,
        "seconds_to_solve": round(wall, 1) if solved else None,
        "env_steps": frames,
        "seconds": round(wall, 1),
        "cpu_seconds": round(time.process_time() - cpu_start, 1),
        "gradient_steps": result.updates if result is not None else None,
        "best_mean_return_20": max((r for _, r in curve if r == r), default=None),
        "curve": curve[:: max(1, len(curve) // 20)],
    }


def run_ppo(seed: int, budget: int) -> dict:
    config = PPOConfig(seed=seed, target_return=TARGET, window=WINDOW, **PPO_CONFIG)
    start = time.perf_counter()
    result = train_ppo(CartPole(num_envs=config.num_envs), config)
    wall = time.perf_counter() - start
    return {
        "solved": result.solved,
        "env_steps_to_solve": result.frames if result.solved else None,
        "seconds_to_solve": round(wall, 1) if result.solved else None,
        "solved_within_budget": bool(result.solved and result.frames <= budget),
        "gradient_steps": result.updates,
        "seconds": round(wall, 1),
    }


def measure_speed(variant: str, preset: str, pixels: int | None, steps: int, batch: int = 16, length: int = 64) -> dict:
    """Gradient steps per second of the whole update (world model, imagination, actor, critic) on
    ``batch`` sequences of ``length`` steps replayed from CartPole (vector or ``pixels`` x ``pixels`` RGB)."""
    torch.manual_seed(0)
    config = DreamerConfig(
        preset=preset, representation=variant, num_envs=4, batch_size=batch, sequence_length=length,
        learning_starts=4 * length, buffer_size=4 * 512,
    )  # fmt: skip
    env = make_env("CartPole", num_envs=4, pixels=pixels) if pixels else CartPole(num_envs=4)
    parts = build_dreamer(env.single_observation_space, env.single_action_space, config)
    optimizer = make_dreamer_optimizer(parts, config)
    buffer = make_replay(config, 4, seed=0)
    buffer.extend(SyncCollector(env, parts.policy, 512, seed=0).rollout().select(*REPLAY_KEYS))
    dreamer_update(parts, buffer, optimizer, config, 2)  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        dreamer_update(parts, buffer, optimizer, config, 1)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    params = {
        name: sum(p.numel() for p in group)
        for name, (group, _) in parts.clip_groups(config).items()
    }  # fmt: skip
    return {
        "variant": variant,
        "preset": preset,
        "observation": f"pixels{pixels}" if pixels else "vector",
        "batch": [batch, length],
        "ms_per_gradient_step": round(1000 * median, 1),
        "gradient_steps_per_s": round(1 / median, 2),
        "parameters": params,
    }


def profile_update(variant: str, preset: str, pixels: int | None, rows: int = 15) -> dict:
    """The ops that take an update's time (torch.profiler, self CPU time over 3 steps)."""
    from torch.profiler import profile

    torch.manual_seed(0)
    config = DreamerConfig(preset=preset, representation=variant, num_envs=4, learning_starts=256, buffer_size=2048)
    env = make_env("CartPole", num_envs=4, pixels=pixels) if pixels else CartPole(num_envs=4)
    parts = build_dreamer(env.single_observation_space, env.single_action_space, config)
    optimizer = make_dreamer_optimizer(parts, config)
    buffer = make_replay(config, 4, seed=0)
    buffer.extend(SyncCollector(env, parts.policy, 512, seed=0).rollout().select(*REPLAY_KEYS))
    dreamer_update(parts, buffer, optimizer, config, 2)
    with profile() as prof:
        dreamer_update(parts, buffer, optimizer, config, 3)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return {
        "variant": variant,
        "preset": preset,
        "observation": f"pixels{pixels}" if pixels else "vector",
        "ms_per_step": round(total / 3 / 1000, 1),
        "top_ops": [
            {"op": e.key, "share": round(e.self_cpu_time_total / total, 3), "calls_per_step": e.count // 3}
            for e in events[:rows]
        ],
    }


def summary(library: str, variant: str, runs: list[dict], budget: int) -> dict:
    solved = [r for r in runs if r["solved"] and (r["env_steps_to_solve"] or 0) <= budget]
    return {
        "bench": BENCH,
        "library": library,
        "variant": variant,
        "summary": True,
        "runs": len(runs),
        "solved_runs": len(solved),
        "budget_env_steps": budget,
        "median_env_steps_to_solve": median_or_none([r["env_steps_to_solve"] for r in runs]),
        "median_seconds_to_solve": median_or_none([r["seconds_to_solve"] for r in runs]),
        "median_gradient_steps": statistics.median(r["gradient_steps"] or 0 for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["solve", "ppo", "speed", "pixels", "sheeprl", "profile"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--variants", default=None, help="comma-separated representations (default per part)")
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--presets", default="tiny,size1m")
    parser.add_argument("--steps", type=int, default=10, help="timed gradient steps per speed measurement")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--replay-ratio", type=float, default=0.5, help="sheeprl: gradient steps per policy step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    common = {"bench": BENCH, "torch_threads": args.threads}
    if args.part in ("solve", "pixels"):
        variants = (args.variants or ("barlow" if args.part == "solve" else "barlow,decoder")).split(",")
        pixels = 64 if args.part == "pixels" else None
        minutes = args.minutes if args.part == "pixels" else None
        for variant in variants:
            runs = []
            for seed in seeds:
                record = {**common, "library": "rl4py", "variant": variant, "observation": "pixels64" if pixels else
                          "vector", "seed": seed, **run_solve(variant, seed, args.budget, pixels, minutes)}  # fmt: skip
                emit(record)
                runs.append(record)
            emit({**summary("rl4py", variant, runs, args.budget), "observation": "pixels64" if pixels else "vector"})
    elif args.part == "ppo":
        runs = []
        for seed in seeds:
            record = {**common, "library": "rl4py", "variant": "ppo", "seed": seed, **run_ppo(seed, args.budget)}
            emit(record)
            runs.append(record)
        emit(summary("rl4py", "ppo", runs, args.budget))
    elif args.part == "speed":
        variants = (args.variants or "barlow,decoder,infonce,dreamerpro").split(",")
        for observation in (None, 64):
            for preset in args.presets.split(","):
                for variant in variants:
                    emit({**common, "library": "rl4py", **measure_speed(variant, preset, observation, args.steps)})
    elif args.part == "profile":
        for preset in args.presets.split(","):
            for pixels in (None, 64):
                emit({**common, "library": "rl4py", **profile_update(args.variants or "barlow", preset, pixels)})
    elif args.part == "sheeprl":
        sys.path.insert(0, str(Path(__file__).parent))
        from sheeprl_dreamer import run_sheeprl

        # the same torch threads for both libraries (sheeprl's subprocess inherits OMP_WAIT_POLICY)
        for preset in ("size1m", "XS"):
            for seed in seeds:
                record = run_sheeprl(preset, seed, args.minutes, args.replay_ratio, args.budget, threads=args.threads)
                emit({**common, **record})
        for variant in ("barlow", "decoder"):
            emit({**common, "library": "rl4py", **measure_speed(variant, "size1m", None, args.steps)})


if __name__ == "__main__":
    main()
