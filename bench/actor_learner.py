"""Actor-learner throughput: rl4py's IMPALA on Ray against gymnasium's AsyncVectorEnv + rl4py's
SyncCollector and against TorchRL's MultiAsyncCollector (0.14's name for MultiaSyncDataCollector),
in the same run, on gymnasium's CartPole-v1 and on CartPole-v1 with a fixed 1 ms step cost (a
wrapper that sleeps 1 ms per env step, standing in for a game engine).

Every library runs the same learner: rl4py's IMPALA update body (``actor_critic_update``: V-trace,
then the actor-critic loss, 1 epoch x 2 minibatches, Adam) on batches of 256 env steps, weights
sent back to the actors after every update, one torch thread per process. ``workers`` counts the
processes that step envs:

- ``rl4py``: ``train_impala_ray``, W Ray workers of 8 sub-envs each (a gymnasium SyncVectorEnv
  inside each worker, rollouts of 32 steps); acting overlaps learning;
- ``gymnasium_async``: ``GymEnv(AsyncVectorEnv(W sub-envs))`` + ``SyncCollector`` in the learner
  process (one process per sub-env, rollouts of 256 / W steps); collection and learning alternate,
  as a synchronous loop does. A line with 16 sub-env processes (the same env count as rl4py's 2 x 8)
  is printed too;
- ``torchrl``: ``MultiAsyncCollector`` of W collector processes, each a TorchRL ``GymWrapper`` over a
  gymnasium SyncVectorEnv of 8 sub-envs, 256 frames per batch; acting overlaps learning.

Two modes: ``train`` (the loop above; its ``learner_utilisation`` is the fraction of wall time in
updates) and ``collect`` (the same actors, no learner: the acting ceiling). Rates are measured in
the steady state (after 3 batches, for ``--seconds``), as env steps reaching the learner per
second of wall time. rl4py also runs with centralized inference (SEED RL) at 2 workers, and the
run ends with the numbers of the scaling estimate in docs/guide/distributed.md (learner update
time, per-worker rate, the worker count at which the learner saturates) and the per-step cost of
central inference against the forward time of larger MLPs (the crossover).

    python bench/actor_learner.py                  # about 6 minutes on 2 cores
    python bench/actor_learner.py --quick          # workers=2 only, 3 s per variant
    nice -n 10 python bench/actor_learner.py > bench/results/actor_learner.jsonl
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterator

import gymnasium as gym
import torch
from common import emit
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from tensordict import TensorDictBase

from rl4py import GymEnv, SyncCollector
from rl4py.actor_learner import WorkerPool
from rl4py.modules import MLP
from rl4py.trainers import ImpalaConfig, ImpalaRayConfig, actor_critic_update, build_impala, train_impala_ray
from rl4py.trainers.actor_critic import make_optimizer

ENVS = {"CartPole-v1": 0.0, "CartPole-v1+1ms": 0.001}
ENVS_PER_WORKER = 8
ROLLOUT = 32
BATCH = ENVS_PER_WORKER * ROLLOUT  # env steps per learner update, every library
WARMUP = 3
LEARNER = {"lr": 1e-3, "epochs": 1, "num_minibatches": 2}


class StepCost(gym.Wrapper):
    """Sleeps ``seconds`` before every step (a fixed per-step cost, like a game engine's)."""

    def __init__(self, env: gym.Env, seconds: float) -> None:
        super().__init__(env)
        self.seconds = seconds

    def step(self, action):
        time.sleep(self.seconds)
        return self.env.step(action)


def make_gym(env: str) -> gym.Env:
    cost = ENVS[env]
    base = gym.make("CartPole-v1")
    return StepCost(base, cost) if cost else base


def rl4py_env(env: str, num_envs: int) -> GymEnv:
    """A worker's env: ``num_envs`` sub-envs in a SyncVectorEnv (the picklable factory Ray ships)."""
    return GymEnv(functools.partial(make_gym, env), num_envs=num_envs)


def torchrl_env(env: str):
    from torchrl.envs.libs.gym import GymWrapper

    logging.getLogger("torchrl").setLevel(logging.ERROR)  # in the collector process: no spec notes on stdout

    vec = SyncVectorEnv([functools.partial(make_gym, env)] * ENVS_PER_WORKER, autoreset_mode=AutoresetMode.SAME_STEP)
    return GymWrapper(vec, categorical_action_encoding=True)


def learner(seed: int = 0):
    """The shared learner: IMPALA's parts for CartPole, Adam, and the update body on one batch."""
    config = ImpalaConfig(policy_lag=0, num_envs=ENVS_PER_WORKER, rollout_length=ROLLOUT, seed=seed, **LEARNER)
    torch.manual_seed(seed)
    probe = gym.make("CartPole-v1")
    parts = build_impala(probe.observation_space, probe.action_space, config, masked=False)
    optimizer = make_optimizer(parts.loss, config)
    shuffle = torch.Generator().manual_seed(seed)

    def update(batch: TensorDictBase) -> None:
        actor_critic_update(parts, batch, optimizer, config, shuffle)

    return parts, update


def steady_rate(batches: Iterator[TensorDictBase], update: Callable | None, seconds: float) -> dict:
    """Env steps per second (and the fraction of time in ``update``) after ``WARMUP`` batches."""
    for _ in range(WARMUP):
        batch = next(batches)
        if update is not None:
            update(batch)
    start = time.perf_counter()
    frames, in_update = 0, 0.0
    while time.perf_counter() - start < seconds:
        batch = next(batches)
        frames += batch.numel()
        if update is not None:
            began = time.perf_counter()
            update(batch)
            in_update += time.perf_counter() - began
    wall = time.perf_counter() - start
    out = {"env_steps_per_second": round(frames / wall), "seconds": round(wall, 2), "frames": frames}
    if update is not None:
        out["learner_utilisation"] = round(in_update / wall, 3)
    return out


# ------------------------------------------------------------------ rl4py
def rl4py_collect(env: str, workers: int, seconds: float, inference: str = "worker") -> dict:
    parts, _ = learner()
    pool = WorkerPool(
        functools.partial(rl4py_env, env),
        workers,
        ENVS_PER_WORKER,
        ROLLOUT,
        num_cpus=0.5,
        inference=inference,
        inference_num_cpus=0.5,
    )
    pool.start(parts.policy)
    per_rollout: list[float] = []

    def batches() -> Iterator[TensorDictBase]:
        while True:
            rollout, info = pool.next(timeout_s=120)
            per_rollout.append(info.seconds)
            yield rollout

    try:
        out = steady_rate(batches(), None, seconds)
        server = pool.server_stats()
    finally:
        pool.stop()
    # the rate of one worker alone: env steps over its own collection time
    out["worker_env_steps_per_second"] = round(BATCH / statistics.median(per_rollout[WARMUP:]))
    if server is not None:
        out["mean_inference_batch"] = round(server["mean_batch"], 2)
    return out


def rl4py_train(env: str, workers: int, seconds: float, rate_guess: float, inference: str = "worker") -> dict:
    config = ImpalaRayConfig(
        num_workers=workers,
        num_envs=ENVS_PER_WORKER,
        rollout_length=ROLLOUT,
        num_cpus_per_worker=0.5,
        inference=inference,
        total_frames=int(BATCH * WARMUP + rate_guess * seconds) + BATCH,
        rollout_timeout_s=120,
        **LEARNER,
    )
    marks: list[tuple[float, int]] = []
    result = train_impala_ray(
        functools.partial(rl4py_env, env),
        config,
        on_update=lambda stats, frames: marks.append((time.perf_counter(), frames)),
    )
    (t0, f0), (t1, f1) = marks[WARMUP - 1], marks[-1]
    stats = result.stats
    return {
        "env_steps_per_second": round((f1 - f0) / (t1 - t0)),
        "seconds": round(t1 - t0, 2),
        "frames": f1 - f0,
        "learner_utilisation": round(stats.learner_utilisation, 3),
        "learner_updates": stats.updates,
        "staleness_mean": round(stats.mean_staleness, 2),
        "staleness_max": stats.max_seen_staleness,
        "dropped": stats.dropped,
    }


# ------------------------------------------------------- gymnasium async
def gymnasium_async(env: str, workers: int, seconds: float, train: bool) -> dict:
    parts, update = learner()
    vec = AsyncVectorEnv([functools.partial(make_gym, env)] * workers, autoreset_mode=AutoresetMode.SAME_STEP)
    collector = SyncCollector(GymEnv(vec), parts.actor, rollout_length=max(1, BATCH // workers), seed=0)
    try:
        return steady_rate(iter(collector), update if train else None, seconds)
    finally:
        vec.close()


# ----------------------------------------------------------------- torchrl
def torchrl_run(env: str, workers: int, seconds: float, train: bool) -> dict:
    from torchrl.collectors import MultiAsyncCollector

    parts, update = learner()
    collector = MultiAsyncCollector(
        [functools.partial(torchrl_env, env)] * workers, parts.actor, frames_per_batch=BATCH, total_frames=-1
    )

    def learn(batch: TensorDictBase) -> None:
        update(batch)
        collector.update_policy_weights_()

    try:
        return steady_rate(iter(collector), learn if train else None, seconds)
    finally:
        collector.shutdown()


# ----------------------------------------------------------------- scaling
def learner_update_seconds(repeats: int = 30) -> float:
    """Median wall time of one learner update on a 256-step CartPole batch."""
    parts, update = learner()
    batch = SyncCollector(GymEnv("CartPole-v1", num_envs=ENVS_PER_WORKER), parts.actor, ROLLOUT, seed=0).rollout()
    times = []
    for _ in range(repeats):
        data = batch.clone()
        began = time.perf_counter()
        update(data)
        times.append(time.perf_counter() - began)
    return statistics.median(times[3:])


def learner_overhead_seconds(repeats: int = 50) -> float:
    """Median learner-side cost per rollout outside the update: unpacking a 256-step rollout from
    the object store's arrays, and one weight broadcast (``ray.put`` of the packed actor weights)."""
    import ray

    from rl4py.actor_learner.workers import pack_rollout, pack_tensors, unpack_rollout

    parts, _ = learner()
    packed = pack_rollout(
        SyncCollector(GymEnv("CartPole-v1", num_envs=ENVS_PER_WORKER), parts.actor, ROLLOUT, seed=0).rollout()
    )
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        unpack_rollout(packed)
        ray.put(pack_tensors(parts.actor.state_dict()))
        times.append(time.perf_counter() - began)
    return statistics.median(times[5:])


def forward_seconds(width: int, batch: int, repeats: int = 50) -> float:
    """Median time of a 3-hidden-layer MLP of ``width`` on ``batch`` observations (inference mode)."""
    net = MLP(4, 2, num_cells=(width, width, width))
    x = torch.randn(batch, 4)
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            began = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - began)
    return statistics.median(times[5:])


def record(library: str, env: str, workers: int, mode: str, numbers: dict, **extra) -> dict:
    line = {
        "bench": "actor_learner",
        "library": library,
        "env": env,
        "workers": workers,
        "mode": mode,
        "envs_per_worker": ENVS_PER_WORKER if library != "gymnasium_async" else 1,
        **extra,
        **numbers,
    }
    emit(line)
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--libraries", default="rl4py,gymnasium_async,torchrl")
    parser.add_argument("--seconds", type=float, default=8.0, help="steady-state window per variant")
    parser.add_argument("--quick", action="store_true", help="workers=2 only, 3 s per variant")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    logging.getLogger("torchrl").setLevel(logging.ERROR)
    import ray

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    seconds = 3.0 if args.quick else args.seconds
    worker_counts = [2] if args.quick else [int(w) for w in args.workers.split(",")]
    libraries = args.libraries.split(",")
    emit({"bench": "actor_learner", "cpus": os.cpu_count(), "torch": torch.__version__, "ray": ray.__version__})
    summary: dict[tuple[str, str], dict] = {}
    collect_at_2: dict[str, dict] = {}
    scaling: dict[str, dict] = {}
    for env in args.envs.split(","):
        for workers in worker_counts:
            if "rl4py" in libraries:
                collected = record("rl4py", env, workers, "collect", rl4py_collect(env, workers, seconds))
                trained = record(
                    "rl4py",
                    env,
                    workers,
                    "train",
                    rl4py_train(env, workers, seconds, collected["env_steps_per_second"]),
                )
                if workers == 1:
                    scaling[env] = collected
                if workers == 2:
                    summary["rl4py", env] = trained
                    collect_at_2[env] = collected
            if "gymnasium_async" in libraries:
                record("gymnasium_async", env, workers, "collect", gymnasium_async(env, workers, seconds, False))
                trained = record("gymnasium_async", env, workers, "train", gymnasium_async(env, workers, seconds, True))
                if workers == 2:
                    summary["gymnasium_async", env] = trained
            if "torchrl" in libraries:
                record("torchrl", env, workers, "collect", torchrl_run(env, workers, seconds, False))
                trained = record("torchrl", env, workers, "train", torchrl_run(env, workers, seconds, True))
                if workers == 2:
                    summary["torchrl", env] = trained
        if "gymnasium_async" in libraries and 2 in worker_counts:
            # the same env count as rl4py's 2 workers x 8: one process per sub-env
            record(
                "gymnasium_async",
                env,
                2 * ENVS_PER_WORKER,
                "train",
                gymnasium_async(env, 2 * ENVS_PER_WORKER, seconds, True),
                note="16 sub-env processes (rl4py's env count at 2 workers)",
            )
        if "rl4py" in libraries and 2 in worker_counts:
            central_collect = record(
                "rl4py", env, 2, "collect", rl4py_collect(env, 2, seconds, "central"), inference="central"
            )
            central = record(
                "rl4py",
                env,
                2,
                "train",
                rl4py_train(env, 2, seconds, central_collect["env_steps_per_second"], "central"),
                inference="central",
            )
            local = summary["rl4py", env]
            emit(
                {
                    "bench": "actor_learner",
                    "summary": True,
                    "comparison": "inference",
                    "env": env,
                    "workers": 2,
                    "central_env_steps_per_second": central["env_steps_per_second"],
                    "per_worker_env_steps_per_second": local["env_steps_per_second"],
                    "central_over_per_worker": round(
                        central["env_steps_per_second"] / local["env_steps_per_second"], 3
                    ),
                    # one vector step of a worker (8 sub-envs), inference included: a round trip to the
                    # server (central) against the worker's own forward pass
                    "central_vector_step_ms": round(
                        1000 * ENVS_PER_WORKER / central_collect["worker_env_steps_per_second"], 3
                    ),
                    "per_worker_vector_step_ms": round(
                        1000 * ENVS_PER_WORKER / collect_at_2[env]["worker_env_steps_per_second"], 3
                    ),
                }
            )
    for (library, env), line in summary.items():
        emit(
            {
                "bench": "actor_learner",
                "summary": True,
                "library": library,
                "env": env,
                "workers": 2,
                "env_steps_per_second": line["env_steps_per_second"],
                "learner_utilisation": line.get("learner_utilisation"),
            }
        )
    for env in {env for _, env in summary}:
        peers = {lib: line["env_steps_per_second"] for (lib, e), line in summary.items() if e == env}
        if "rl4py" in peers and len(peers) > 1:
            best = max((lib for lib in peers if lib != "rl4py"), key=peers.get)
            emit(
                {
                    "bench": "actor_learner",
                    "ratio": True,
                    "env": env,
                    "workers": 2,
                    "best_peer": best,
                    "rl4py_over_best_peer": round(peers["rl4py"] / peers[best], 2),
                }
            )
    if scaling:
        update_s, overhead_s = learner_update_seconds(), learner_overhead_seconds()
        learner_rate = BATCH / (update_s + overhead_s)
        for env, one in scaling.items():
            emit(
                {
                    "bench": "actor_learner",
                    "scaling": True,
                    "env": env,
                    "learner_update_ms": round(1000 * update_s, 2),
                    "learner_overhead_ms": round(1000 * overhead_s, 2),
                    "learner_env_steps_per_second": round(learner_rate),
                    # one worker alone, as its rollouts reach the learner (serialization and Ray included)
                    "worker_env_steps_per_second": one["env_steps_per_second"],
                    "worker_collect_only_env_steps_per_second": one["worker_env_steps_per_second"],
                    "workers_to_saturate_learner": round(learner_rate / one["env_steps_per_second"], 1),
                }
            )
    crossover = {f"mlp3x{w}_b8_ms": round(1000 * forward_seconds(w, ENVS_PER_WORKER), 3) for w in (64, 256, 1024, 2048)}
    emit({"bench": "actor_learner", "forward_cost": True, **crossover})
    ray.shutdown()


if __name__ == "__main__":
    main()
