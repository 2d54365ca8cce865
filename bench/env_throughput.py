"""Env-only throughput: rl4py's native CartPole and Pendulum against gymnasium's vector envs.

Random actions (drawn beforehand, not timed), auto-reset included, one thread, the same run:

- CartPole: ``rl4py.CartPole(N)`` (validation on, as users get it; ``--compile`` adds the
  ``compile=True`` variant) against gymnasium's own numpy-vectorized
  ``gymnasium.envs.classic_control.cartpole.CartPoleVectorEnv(num_envs=N)``;
- Pendulum: ``rl4py.Pendulum(N)`` against ``gymnasium.vector.SyncVectorEnv`` of ``Pendulum-v1``
  (gymnasium has no vectorized Pendulum).

Each implementation steps blocks of ``K`` steps, interleaved round-robin; the fastest block of
``--repeats`` counts (noise on a shared machine only adds time), timed as the thread's CPU time
(``--clock wall`` for wall time). Prints one JSON line per (env, N, implementation) and one
``"ratio"`` line per (env, N)::

    python bench/env_throughput.py
    python bench/env_throughput.py --num-envs 16,64,1024,4096 --compile
    python bench/env_throughput.py --device cuda --num-envs 4096,65536
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import torch
from common import emit

from rl4py import CartPole, Pendulum

#: env steps per timed block: enough to dwarf the timer, few enough for SyncVectorEnv at N=4096
TARGET_FRAMES = 65_536


def _native(env, k: int, device: torch.device, seed: int = 0) -> Callable[[], None]:
    env.reset_tensors(seed=seed)
    g = torch.Generator(device=device).manual_seed(seed)
    actions = [env.rand_action(g) for _ in range(k)]

    def run() -> None:
        for action in actions:
            env.step_tensors(action)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run


def _gym(envs: gym.vector.VectorEnv, k: int, seed: int = 0) -> Callable[[], None]:
    envs.reset(seed=seed)
    envs.action_space.seed(seed)
    actions = [envs.action_space.sample() for _ in range(k)]

    def run() -> None:
        for action in actions:
            envs.step(action)

    return run


def implementations(env: str, n: int, k: int, device: torch.device, compile: bool) -> dict[str, Callable[[], None]]:
    """The step loops to time for ``env`` at ``n`` sub-envs, by name."""
    if env == "CartPole":
        from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

        impls = {"rl4py": _native(CartPole(num_envs=n, device=device), k, device)}
        if compile:
            impls["rl4py_compiled"] = _native(CartPole(num_envs=n, device=device, compile=True), k, device)
        impls["gymnasium_CartPoleVectorEnv"] = _gym(CartPoleVectorEnv(num_envs=n), k)
        return impls
    impls = {"rl4py": _native(Pendulum(num_envs=n, device=device), k, device)}
    if compile:
        impls["rl4py_compiled"] = _native(Pendulum(num_envs=n, device=device, compile=True), k, device)
    impls["gymnasium_SyncVectorEnv"] = _gym(gym.vector.SyncVectorEnv([lambda: gym.make("Pendulum-v1")] * n), k)
    return impls


def measure(env: str, n: int, repeats: int, device: torch.device, compile: bool, clock: Callable[[], float]) -> None:
    k = max(4, TARGET_FRAMES // n)
    impls = implementations(env, n, k, device, compile)
    compile_seconds = {}
    for name, run in impls.items():  # warm-up (and, for the compiled variant, the compile)
        start = time.perf_counter()
        run()
        compile_seconds[name] = time.perf_counter() - start
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(repeats):
        for name, run in impls.items():
            start = clock()
            run()
            best[name] = min(best[name], clock() - start)
    rates = {name: n * k / seconds for name, seconds in best.items()}
    for name, rate in rates.items():
        record = {
            "bench": "env_throughput",
            "env": env,
            "implementation": name,
            "device": str(device) if name.startswith("rl4py") else "cpu (numpy)",
            "num_envs": n,
            "steps_per_block": k,
            "steps_per_second": round(rate),
            "us_per_step_call": round(1e6 * best[name] / k, 2),
        }
        if name == "rl4py_compiled":
            record["first_block_seconds"] = round(compile_seconds[name], 1)  # includes compiling
        emit(record)
    peer = next(name for name in rates if name.startswith("gymnasium"))
    emit(
        {
            "bench": "env_throughput",
            "env": env,
            "num_envs": n,
            "ratio_vs": peer,
            **{f"{name}_over_gymnasium": round(rate / rates[peer], 2) for name, rate in rates.items() if name != peer},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default="CartPole,Pendulum")
    parser.add_argument("--num-envs", default="16,64,1024,4096")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="also time the torch.compile'd native step")
    parser.add_argument("--clock", choices=("thread", "wall"), default="thread")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    clock = time.thread_time if args.clock == "thread" and device.type == "cpu" else time.perf_counter
    repeats = 2 if args.quick else args.repeats
    for env in args.envs.split(","):
        for n in (int(x) for x in args.num_envs.split(",")):
            measure(env, n, repeats, device, args.compile, clock)


if __name__ == "__main__":
    main()
