"""The actor-learner's parts without Ray: a worker in process (version stamps, weight loads), the
inference server's batching, the run's counters, and the checks of bad arguments."""

from __future__ import annotations

import asyncio

import pytest
import torch
from tensordict import TensorDict
from torch import nn

from rl4py import CartPole, keys
from rl4py.actor_learner import (
    ActorLearnerStats,
    InferenceServer,
    RolloutWorker,
    VersionedPolicy,
    WorkerPool,
    make_worker_env,
    pack_tensors,
    unpack_tensors,
)
from rl4py.modules import make_discrete_actor_critic


def _actor(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return make_discrete_actor_critic(observation_size=4, n_actions=2)[0]


def _always(actor: nn.Module, action: int) -> dict[str, torch.Tensor]:
    """Weights of ``actor`` that pick ``action`` with probability ~1."""
    state = {k: v.clone() for k, v in actor.state_dict().items()}
    last = [name for name, m in actor.named_modules() if isinstance(m, nn.Linear)][-1]
    state[f"{last}.weight"].zero_()
    state[f"{last}.bias"].copy_(torch.tensor([-20.0, 20.0]) if action == 1 else torch.tensor([20.0, -20.0]))
    return state


def test_worker_stamps_every_step_and_loads_weights_only_for_a_new_version():
    actor = _actor()
    worker = RolloutWorker("CartPole-v1", 3, actor, rollout_length=16, seed=0, index=2)
    td, info = worker.rollout()  # no weights: the copy it was built with, version 0
    assert td.batch_size == (3, 16)
    assert td[keys.POLICY_VERSION].shape == (3, 16, 1)
    assert td[keys.POLICY_VERSION].eq(0).all()
    assert (info.worker, info.version, info.newest_version, info.frames) == (2, 0, 0, 48)
    assert info.seconds > 0
    # a new version: the weights are loaded before collecting (every action becomes 1)
    td, info = worker.rollout(version=7, weights=[_always(actor, 1)])
    assert info.version == info.newest_version == 7 and worker.version == 7
    assert td[keys.ACTION].eq(1).all()
    # the same version again: the weights passed are not loaded
    td, _ = worker.rollout(version=7, weights=[_always(actor, 0)])
    assert td[keys.ACTION].eq(1).all()


def test_worker_seeds_its_env_and_sampling():
    def actions(seed: int) -> torch.Tensor:
        return RolloutWorker("CartPole", 4, _actor(), rollout_length=8, seed=seed).rollout()[0][keys.ACTION]

    assert torch.equal(actions(1), actions(1))
    assert not torch.equal(actions(1), actions(2))


def test_versioned_policy_refuses_weights_for_a_function():
    stamp = VersionedPolicy(lambda td: td)
    with pytest.raises(TypeError, match="holds no weights"):
        stamp.load({}, 1)


def test_worker_env_factory_and_its_errors():
    assert make_worker_env(lambda n: CartPole(num_envs=n), 3).num_envs == 3
    with pytest.raises(ValueError, match="asked for 3 sub-envs and built 2"):
        make_worker_env(lambda n: CartPole(num_envs=2), 3)
    with pytest.raises(TypeError, match="expected an rl4py env"):
        make_worker_env(lambda n: "CartPole-v1", 3)
    with pytest.raises(TypeError, match="expected an env name or a factory"):
        make_worker_env(3, 1)
    with pytest.raises(ValueError, match="a factory takes none"):
        make_worker_env(lambda n: CartPole(num_envs=n), 1, {"length": 3})


def test_inference_server_batches_concurrent_requests_and_splits_the_answers():
    actor = _actor()
    server = InferenceServer(actor, max_batch=3, max_wait_s=10.0)
    observations = [torch.randn(n, 4) for n in (2, 5, 1)]

    async def three_workers():
        return await asyncio.gather(*(server.act({keys.OBSERVATION: obs}) for obs in observations))

    packed = asyncio.run(three_workers())
    # one forward pass for the three requests (max_batch reached before the long wait)
    assert server.stats() == {"requests": 3, "batches": 1, "mean_batch": 3.0}
    answers = [unpack_tensors(answer) for answer in packed]
    for obs, answer, raw in zip(observations, answers, packed):
        assert keys.OBSERVATION not in answer  # only the policy's new entries travel back
        assert answer[keys.ACTION].shape == (obs.shape[0],)
        assert answer[keys.POLICY_VERSION].eq(0).all()
        # each answer owns its rows, not a view of the whole batch (which would travel whole)
        base = raw[keys.ACTION].base
        assert base is None or base.numel() == obs.shape[0]
    # the answers are the policy's on the rows each worker sent
    with torch.no_grad():
        expected = actor(TensorDict({keys.OBSERVATION: observations[1]}, batch_size=[5]))[keys.LOGITS]
    assert torch.allclose(answers[1][keys.LOGITS], expected)


def test_inference_server_answers_a_lone_request_after_the_wait_and_loads_versions():
    actor = _actor()
    server = InferenceServer(actor, max_batch=4, max_wait_s=0.0)
    asyncio.run(server.set_weights(3, [_always(actor, 1)]))
    answer = unpack_tensors(asyncio.run(server.act(pack_tensors({keys.OBSERVATION: torch.randn(6, 4)}))))
    assert answer[keys.ACTION].eq(1).all() and answer[keys.POLICY_VERSION].eq(3).all()
    assert server.stats()["batches"] == 1
    with pytest.raises(ValueError, match="max_batch must be >= 1"):
        InferenceServer(actor, max_batch=0)


def test_packed_tensors_round_trip_as_writable_copies():
    tensors = {
        "observation": torch.randn(2, 3),
        ("next", "done"): torch.tensor([[True], [False]]),
        "action": torch.tensor([1, 0]),
        "half": torch.ones(2, dtype=torch.bfloat16),
    }
    packed = pack_tensors(tensors)
    assert type(packed["observation"]).__name__ == "ndarray" and isinstance(packed["half"], torch.Tensor)
    packed["observation"].flags.writeable = False  # as Ray hands arrays out of its object store
    back = unpack_tensors(packed)
    for key, value in tensors.items():
        assert torch.equal(back[key], value) and back[key].dtype == value.dtype, key
    back["observation"].add_(1.0)  # a copy: writable, and the original is untouched
    assert not torch.equal(back["observation"], tensors["observation"])


def test_staleness_counters_are_consistent():
    stats = ActorLearnerStats(max_staleness=2)
    kept = [stats.record_arrival(s, frames=10) for s in (0, 1, 2, 3, 5, 1)]
    assert kept == [True, True, True, False, False, True]
    assert stats.arrived == 6 == stats.accepted + stats.dropped
    assert stats.dropped == 2 and stats.dropped_frames == 20
    assert sum(stats.staleness_histogram.values()) == stats.arrived
    assert stats.mean_staleness == pytest.approx(12 / 6) and stats.max_seen_staleness == 5
    stats.record_restart(1, 2, "killed")
    summary = stats.summary()
    assert [summary[f"staleness_{k}"] for k in range(6)] == [1, 2, 1, 1, 0, 1]
    assert (summary["dropped"], summary["lost_rollouts"], summary["worker_restarts"]) == (2, 2, 1)
    with pytest.raises(ValueError, match="from the future"):
        stats.record_arrival(-1)
    with pytest.raises(ValueError, match="max_staleness must be >= 0"):
        ActorLearnerStats(max_staleness=-1)


def test_learner_utilisation_is_the_fraction_of_wall_time_in_updates():
    stats = ActorLearnerStats()
    stats.start()
    stats.started -= 4.0  # four seconds ago
    stats.learner_seconds = 1.0
    assert 0.2 < stats.learner_utilisation <= 0.25


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_workers": 0}, "num_workers must be >= 1"),
        ({"in_flight": 0}, "in_flight must be >= 1"),
        ({"max_restarts": -1}, "max_restarts must be >= 0"),
        ({"num_cpus": -1.0}, "num_cpus must be >= 0"),
        ({"inference": "gpu"}, "inference must be 'worker' or 'central'"),
    ],
)
def test_worker_pool_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WorkerPool("CartPole-v1", **kwargs)


def test_worker_pool_needs_ray_running_and_a_start():
    import ray

    pool = WorkerPool("CartPole-v1")
    with pytest.raises(RuntimeError, match="not started"):
        pool.next()
    if not ray.is_initialized():  # this module never starts Ray; another module's fixture may have
        with pytest.raises(RuntimeError, match="call ray.init"):
            pool.start(_actor())
