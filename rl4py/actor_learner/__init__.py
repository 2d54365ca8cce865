"""The asynchronous actor-learner's Ray side: rollout workers (Ray actors with an env and a policy
copy), the pool that feeds one learner (bounded requests, weight broadcast, dead-worker
replacement), centralized inference (SEED RL) and the run's counters.

Ray is an optional extra (``pip install "rl4py[ray]"``), imported on first use. The learner loop
is :func:`rl4py.trainers.train_impala_ray`.
"""

from rl4py.actor_learner.inference import InferenceServer, RemotePolicy
from rl4py.actor_learner.pool import WorkerPool
from rl4py.actor_learner.stats import ActorLearnerStats, WorkerRestart
from rl4py.actor_learner.workers import (
    EnvSpec,
    RolloutInfo,
    RolloutWorker,
    VersionedPolicy,
    make_worker_env,
    pack_tensors,
    unpack_tensors,
)

__all__ = [
    "ActorLearnerStats",
    "EnvSpec",
    "InferenceServer",
    "RemotePolicy",
    "RolloutInfo",
    "RolloutWorker",
    "VersionedPolicy",
    "WorkerPool",
    "WorkerRestart",
    "make_worker_env",
    "pack_tensors",
    "unpack_tensors",
]
