"""GPU check: the collector's hot path has no host sync, its speed at large N, a short PPO run.

Prints JSON lines, each with a ``"check"`` field:

1. ``sync_free_collection``: native ``CartPole(N)`` + a 64-64 MLP actor under ``SyncCollector``
   with ``torch.cuda.set_sync_debug_mode("error")`` around the collection loop, so any host-device
   sync in the hot path (env step, value checks, policy, rollout storage, episode statistics,
   the once-per-rollout check flush) raises; reports collector steps/s (env + policy) at
   N = 4096 and 65,536 (``--num-envs``).
2. ``env_only``: env-only steps/s of native CartPole at the same N, eager and (unless
   ``--no-compile``) with ``compile=True`` (its first call, compiling included, is reported).
3. ``ppo``: ``train_ppo`` on ``CartPole(--ppo-envs)`` on the device for ``--ppo-frames`` frames:
   steps/s and the mean return reached.

Ends with a ``"summary"`` line (``"ok": true`` when every check passed). Exits 1 with a
clear message when CUDA is absent, unless ``--device cpu`` (the dry mode that checks the script
itself; the sync check needs CUDA and is skipped there)::

    python bench/gpu_check.py                      # on a GPU machine, ~1-3 minutes
    python bench/gpu_check.py --device cpu --quick # dry run on a CPU
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback

import torch
from common import emit

from rl4py import CartPole, SyncCollector, make_discrete_actor_critic
from rl4py.trainers import PPOConfig, train_ppo


@contextlib.contextmanager
def no_sync(device: torch.device):
    """``torch.cuda.set_sync_debug_mode("error")`` inside (on CUDA): a host sync raises."""
    if device.type != "cuda":
        yield
        return
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(previous)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_collection(n: int, rollout_length: int, rollouts: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    actor, _ = make_discrete_actor_critic(4, 2)
    actor = actor.to(device)
    collector = SyncCollector(
        CartPole(num_envs=n, device=device), actor, rollout_length=rollout_length, seed=0, return_same_td=True
    )
    collector.rollout()  # allocation, first-step entry checks, warm-up (outside the sync check)
    collector.env.flush_checks(wait=True)
    sync(device)
    start = time.perf_counter()
    with no_sync(device):
        for _ in range(rollouts):
            rollout = collector.rollout()
    sync(device)
    seconds = time.perf_counter() - start
    collector.env.flush_checks(wait=True)  # the deferred checks' verdict, outside the sync check
    frames = n * rollout_length * rollouts
    done = rollout["next", "done"]
    return {
        "check": "sync_free_collection",
        "ok": True,
        "sync_debug_mode": "error" if device.type == "cuda" else "n/a on cpu",
        "num_envs": n,
        "rollout_length": rollout_length,
        "rollouts": rollouts,
        "steps_per_second": round(frames / seconds),
        "seconds": round(seconds, 3),
        "episodes_ended_in_last_rollout": int(done.sum()),
    }


def check_env_only(n: int, steps: int, device: torch.device, compile: bool) -> dict:
    env = CartPole(num_envs=n, device=device, compile=compile)
    env.reset_tensors(seed=0)
    g = torch.Generator(device=device).manual_seed(0)
    actions = [env.rand_action(g) for _ in range(steps)]
    start = time.perf_counter()
    env.step_tensors(actions[0])  # compiles with compile=True
    sync(device)
    first = time.perf_counter() - start
    env.defer_checks(True)
    start = time.perf_counter()
    with no_sync(device):
        for action in actions:
            env.step_tensors(action)
        env.flush_checks()
    sync(device)
    seconds = time.perf_counter() - start
    env.defer_checks(False)
    return {
        "check": "env_only",
        "ok": True,
        "compile": compile,
        "compiled": env._physics.compiled,
        "num_envs": n,
        "steps_per_second": round(n * steps / seconds),
        "first_step_seconds": round(first, 2),
    }


def check_ppo(num_envs: int, frames: int, device: torch.device) -> dict:
    config = PPOConfig(
        num_envs=num_envs, rollout_length=32, total_frames=frames, num_minibatches=4, epochs=4, lr=2.5e-3, seed=0
    )
    result = train_ppo(CartPole(num_envs=num_envs, device=device), config)
    return {
        "check": "ppo",
        "ok": result.frames >= frames,
        "num_envs": num_envs,
        "frames": result.frames,
        "iterations": result.iterations,
        "seconds": round(result.seconds, 2),
        "steps_per_second": round(result.frames / result.seconds),
        "mean_return": None if result.mean_return != result.mean_return else round(result.mean_return, 1),
    }


def run_check(name: str, fn, *args) -> dict:
    try:
        record = fn(*args)
    except Exception as error:  # report, and go on with the other checks
        record = {"check": name, "ok": False, "error": f"{type(error).__name__}: {error}"}
        traceback.print_exc(file=sys.stderr)
    emit({"bench": "gpu_check", **record})
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="small sizes (the CPU dry run)")
    parser.add_argument("--num-envs", default=None, help="comma-separated (default 4096,65536; --quick 64,256)")
    parser.add_argument("--rollout-length", type=int, default=16)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile=True env-only variant")
    parser.add_argument("--ppo-envs", type=int, default=None, help="default 1024 (--quick 16)")
    parser.add_argument("--ppo-frames", type=int, default=None, help="default 1_000_000 (--quick 4096)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(
            f"gpu_check: CUDA is not available (torch {torch.__version__}, built with CUDA "
            f"{torch.version.cuda}); run on a GPU machine, or pass --device cpu --quick for the dry run"
        )
    quick = args.quick
    sizes = [int(x) for x in (args.num_envs or ("64,256" if quick else "4096,65536")).split(",")]
    rollouts = 3 if quick else 20
    env_steps = 20 if quick else 200
    emit(
        {
            "bench": "gpu_check",
            "device": str(device),
            "name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__,
        }
    )
    start = time.perf_counter()
    records = []
    for n in sizes:
        records.append(run_check("sync_free_collection", check_collection, n, args.rollout_length, rollouts, device))
    for n in sizes:
        records.append(run_check("env_only", check_env_only, n, env_steps, device, False))
    if not args.no_compile and not (quick and device.type == "cpu"):  # compiling takes a minute on a CPU
        n = sizes[-1]
        records.append(run_check("env_only", check_env_only, n, env_steps, device, True))
    ppo_envs = args.ppo_envs or (16 if quick else 1024)
    ppo_frames = args.ppo_frames or (4096 if quick else 1_000_000)
    records.append(run_check("ppo", check_ppo, ppo_envs, ppo_frames, device))
    ok = all(record["ok"] for record in records)
    emit({"bench": "gpu_check", "summary": True, "ok": ok, "seconds": round(time.perf_counter() - start, 1)})
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
