"""Collector overhead: a rollout's time against the env step alone plus the policy forward alone.

For each number of sub-envs N, three timings of ``T`` steps of native ``CartPole(N)`` with
CleanRL's 64-64 tanh actor (``make_discrete_actor_critic(4, 2)``), interleaved round-robin so a
loaded machine slows all three alike:

- ``rollout``: ``SyncCollector(..., return_same_td=True).rollout()`` (what the trainers run:
  the episode statistics, the writes into the rollout storage and the checks included);
- ``env``: ``env.step_tensors(action)`` T times on a second ``CartPole(N)`` (validation on,
  as the collector's env), actions drawn beforehand;
- ``policy``: the actor on one prebuilt ``TensorDict`` holding an observation, T times;
- ``loop``: the hand-written minimum, ``env.step_tensors(actor(td)["action"])`` T times with the
  observation fed back (no storage, no episode statistics).

``overhead_pct = 100 * (rollout - env - policy) / rollout`` (the collector against the two parts
timed apart) and ``overhead_vs_loop_pct = 100 * (rollout - loop) / rollout`` (against the parts
run interleaved: on a CPU, alternating the policy's and the env's working sets costs time of its
own, which no collector removes), from the fastest of ``--repeats`` rounds of each (noise on a
shared machine only adds time; on a CPU the thread's CPU time is the clock, ``--clock wall`` for
wall time) and, as ``*_median``, from the medians. Prints one JSON line per N::

    python bench/collector_overhead.py
    python bench/collector_overhead.py --num-envs 16,1024 --rollout-length 16 --repeats 50
    python bench/collector_overhead.py --device cuda --num-envs 4096,65536
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from common import emit
from tensordict import TensorDict

from rl4py import CartPole, SyncCollector, keys, make_discrete_actor_critic


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(num_envs: int, rollout_length: int, repeats: int, device: torch.device, clock: Callable[[], float]) -> dict:
    """Times rollout, env-only and policy-only for ``num_envs`` sub-envs; returns the JSON record."""
    torch.manual_seed(0)
    actor, _ = make_discrete_actor_critic(4, 2)
    actor = actor.to(device)
    collector = SyncCollector(
        CartPole(num_envs=num_envs, device=device), actor, rollout_length=rollout_length, seed=0, return_same_td=True
    )
    env = CartPole(num_envs=num_envs, device=device)
    root = env.reset_tensors(seed=1)
    actions = torch.randint(0, 2, (rollout_length, num_envs), device=device)
    policy_td = TensorDict(dict(root), batch_size=[num_envs], device=device)

    def rollout() -> None:
        collector.rollout()

    def env_only() -> None:
        for t in range(rollout_length):
            env.step_tensors(actions[t])

    def policy_only() -> None:
        with torch.inference_mode():
            for _ in range(rollout_length):
                actor(policy_td)

    loop_env = CartPole(num_envs=num_envs, device=device)
    loop_root = loop_env.reset_tensors(seed=2)

    def loop() -> None:
        obs = loop_root[keys.OBSERVATION]
        with torch.inference_mode():
            for _ in range(rollout_length):
                policy_td.set(keys.OBSERVATION, obs)
                obs = loop_env.step_tensors(actor(policy_td).get(keys.ACTION)).root[keys.OBSERVATION]

    timed: dict[str, Callable[[], None]] = {
        "rollout": rollout,
        "env": env_only,
        "policy": policy_only,
        "loop": loop,
    }
    for fn in timed.values():  # warm-up: storage allocation, first-call dispatch
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(repeats):
        for name, fn in timed.items():
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            times[name].append(clock() - start)
    best = {name: min(values) for name, values in times.items()}
    med = {name: statistics.median(values) for name, values in times.items()}
    frames = num_envs * rollout_length

    def overhead(t: dict[str, float]) -> float:
        return round(100 * (t["rollout"] - t["env"] - t["policy"]) / t["rollout"], 1)

    def overhead_vs_loop(t: dict[str, float]) -> float:
        return round(100 * (t["rollout"] - t["loop"]) / t["rollout"], 1)

    return {
        "bench": "collector_overhead",
        "env": "CartPole",
        "device": str(device),
        "num_envs": num_envs,
        "rollout_length": rollout_length,
        "policy": "64-64 tanh MLP, categorical sample",
        "torch_threads": torch.get_num_threads(),
        "steps_per_second": round(frames / best["rollout"]),
        "env_only_steps_per_second": round(frames / best["env"]),
        "us_per_step": {name: round(1e6 * value / rollout_length, 1) for name, value in best.items()},
        "overhead_us_per_step": round(1e6 * (best["rollout"] - best["env"] - best["policy"]) / rollout_length, 1),
        "overhead_pct": overhead(best),
        "overhead_pct_median": overhead(med),
        "overhead_vs_loop_pct": overhead_vs_loop(best),
        "overhead_vs_loop_pct_median": overhead_vs_loop(med),
        "clock": "thread cpu time" if clock is time.thread_time else "wall",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", default="16,1024", help="comma-separated sub-env counts")
    parser.add_argument("--rollout-length", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: the trainers' collection setting)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--clock", choices=("thread", "wall"), default="thread", help="thread: CPU time (CPU only)")
    parser.add_argument("--quick", action="store_true", help="10 repeats")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = 10 if args.quick else args.repeats
    clock = time.thread_time if args.clock == "thread" and device.type == "cpu" else time.perf_counter
    for n in (int(x) for x in args.num_envs.split(",")):
        emit(measure(n, args.rollout_length, repeats, device, clock))


if __name__ == "__main__":
    main()
