"""Recurrent PPO on partially observable CartPole: time and env steps to a mean return of 475.

The env is rl4py's CartPole with ``partial_observation=True`` (position and angle only, no
velocities) behind ``ObservationNorm``. Solved = the mean return of the last 20 finished episodes
reaches 475; each seed is capped at ``--cap-frames`` env steps and reported as unsolved if it does
not get there. Wall time counts from the start of training (after imports) and includes building the
agent. Prints JSON lines: one per run, one summary per agent, then the recurrent collector's
throughput.

    python bench/ppo_lstm.py                                # 5 seeds, LSTM policy
    python bench/ppo_lstm.py --seeds 2 --agents recurrent,mlp
    python bench/ppo_lstm.py --core block_gru --n-blocks 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from rl4py import CartPole, SyncCollector
from rl4py.envs import ObservationNorm
from rl4py.modules.recurrent_actor import make_recurrent_actor_critic
from rl4py.trainers import PPOConfig, train_ppo
from rl4py.trainers.recurrent_ppo import RecurrentPPOConfig, train_recurrent_ppo

TARGET = 475.0
WINDOW = 20

#: the recipe's configuration (recipes/lstm_policy.py): 32 sub-envs x 32 steps, chunks of 16 steps
#: for truncated BPTT, 2 minibatches of 32 chunks, 6 epochs, learning rate 3e-3 annealed over the cap,
#: gamma 0.98, lambda 0.8, a ReLU encoder of 64, separate 64-unit LSTM cores for the actor and the
#: critic, ReLU heads of 64 (found by a small sweep over learning rate, core, encoder and chunk length).
CONFIG = dict(
    num_envs=32,
    rollout_length=32,
    chunk_length=16,
    lr=3e-3,
    anneal_lr=True,
    gamma=0.98,
    lmbda=0.8,
    epochs=6,
    num_minibatches=2,
    entropy_coeff=0.0,
    clip_value=False,
    activation="relu",
    num_cells=(64,),
    hidden_size=64,
    encoder_cells=(64,),
    core="lstm",
    update_threads=1,
)


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def make_env(num_envs: int) -> ObservationNorm:
    return ObservationNorm(CartPole(num_envs=num_envs, partial_observation=True))


def run(agent: str, seed: int, cap_frames: int, core: str, n_blocks: int) -> dict:
    common = dict(seed=seed, target_return=TARGET, window=WINDOW, total_frames=cap_frames)
    if agent not in ("recurrent", "mlp"):
        raise ValueError(f"unknown agent {agent!r}: choose recurrent or mlp")
    if agent == "mlp":
        fields = set(PPOConfig.__dataclass_fields__)
        config = PPOConfig(**common, **{k: v for k, v in CONFIG.items() if k in fields})
        result = train_ppo(make_env(config.num_envs), config)
    else:
        config = RecurrentPPOConfig(**common, **{**CONFIG, "core": core, "n_blocks": n_blocks})
        result = train_recurrent_ppo(make_env(config.num_envs), config)
    return {
        "solved": result.solved,
        "seconds_to_solve": round(result.seconds, 3) if result.solved else None,
        "env_steps_to_solve": result.frames if result.solved else None,
        "final_mean_return": round(result.mean_return, 1),
        "steps_per_second": round(result.frames / result.seconds),
        "seconds": round(result.seconds, 3),
    }


def measure_collector(num_envs: int = 1024, rollout_length: int = 16, repeats: int = 10, core: str = "lstm") -> dict:
    """Rollout throughput of the recurrent actor-critic (actor and critic cores stepped every step)."""
    torch.manual_seed(0)
    env = CartPole(num_envs=num_envs, partial_observation=True)
    policy = make_recurrent_actor_critic(
        env.single_observation_space, env.single_action_space, core=core, head_cells=(64,), activation=torch.nn.ReLU
    )
    collector = SyncCollector(env, policy, rollout_length=rollout_length, seed=0, return_same_td=True)
    collector.rollout()  # allocate storage, warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        collector.rollout()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    return {
        "bench": "collector",
        "library": "rl4py",
        "policy": f"recurrent actor-critic, two {core} cores of 64",
        "num_envs": num_envs,
        "rollout_length": rollout_length,
        "steps_per_second": round(num_envs * rollout_length / seconds),
        "rollout_seconds": round(seconds, 5),
    }


def summary(agent: str, runs: list[dict]) -> dict:
    solved = [r for r in runs if r["solved"]]
    return {
        "bench": "ppo_lstm",
        "agent": agent,
        "summary": True,
        "runs": len(runs),
        "solved_runs": len(solved),
        # unsolved runs count as infinitely slow, so the median is honest when some fail
        "median_seconds_to_solve": _median([r["seconds_to_solve"] for r in runs]),
        "median_env_steps_to_solve": _median([r["env_steps_to_solve"] for r in runs]),
    }


def _median(values: list) -> float | None:
    ordered = sorted(float("inf") if v is None else v for v in values)
    m = statistics.median(ordered)
    return None if m == float("inf") else m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--agents", default="recurrent", help="comma-separated: recurrent (PPO), mlp (feed-forward)")
    parser.add_argument("--core", default="lstm", choices=["lstm", "gru", "block_gru"], help="recurrent core")
    parser.add_argument("--n-blocks", type=int, default=1, help="diagonal blocks of a block_gru core")
    parser.add_argument("--cap-frames", type=int, default=300_000, help="env steps before a run counts as unsolved")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--no-collector", action="store_true", help="skip the 1024x16 collector measurement")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    summaries = []
    for agent in args.agents.split(","):
        runs = []
        for seed in range(args.seeds):
            record = {
                "bench": "ppo_lstm",
                "agent": agent,
                "core": None if agent == "mlp" else args.core,
                "n_blocks": args.n_blocks if agent != "mlp" and args.core == "block_gru" else None,
                "seed": seed,
                "cap_frames": args.cap_frames,
                "torch_threads": args.threads,
                **run(agent, seed, args.cap_frames, args.core, args.n_blocks),
            }
            emit(record)
            runs.append(record)
        summaries.append(summary(agent, runs))
    for record in summaries:
        emit(record)
    if not args.no_collector:
        emit(measure_collector(core=args.core))


if __name__ == "__main__":
    main()
