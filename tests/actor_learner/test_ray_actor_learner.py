"""IMPALA on Ray with real remote workers: it learns gymnasium's CartPole-v1, the staleness counters
add up, every step carries its policy version, broadcast weights reach the workers, a killed worker
is replaced and counted, and bad settings are refused. Ray starts once for the module (2 CPUs)."""

from __future__ import annotations

import functools
import logging

import pytest
import ray
import torch
from torch import nn

from rl4py import keys
from rl4py.actor_learner import WorkerPool
from rl4py.losses import PPOLoss
from rl4py.modules import make_discrete_actor_critic
from rl4py.testing import shift_seed
from rl4py.trainers import ImpalaRayConfig, train_impala_ray

pytestmark = pytest.mark.distributed

#: two workers share the two Ray CPUs with the central inference server or a replacement worker
SMALL = ImpalaRayConfig(
    num_envs=8, rollout_length=32, num_minibatches=2, num_cpus_per_worker=0.5, rollout_timeout_s=180
)
#: for runs given a WorkerPool: the worker fields stay at their defaults (the pool has its own)
POOLED = SMALL.replace(num_cpus_per_worker=1.0)


@pytest.fixture(scope="module", autouse=True)
def ray_local():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 * 2**20,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def _check_counters(result, config: ImpalaRayConfig) -> None:
    stats = result.stats
    assert sum(stats.staleness_histogram.values()) == stats.arrived == stats.accepted + stats.dropped
    assert result.frames == stats.arrived * config.num_envs * config.rollout_length
    # the last rollout of a solved run is kept but the loop stops before learning from it
    assert stats.updates == stats.accepted - int(result.solved) == result.iterations
    assert result.updates == stats.updates * config.epochs * config.num_minibatches
    if config.max_staleness is not None:
        late = sum(n for s, n in stats.staleness_histogram.items() if s > config.max_staleness)
        assert late == stats.dropped
    assert 0.0 < stats.learner_utilisation < 1.0


@pytest.mark.slow
def test_impala_on_ray_with_two_workers_solves_gymnasium_cartpole():
    records = []
    config = SMALL.replace(seed=shift_seed(0), target_return=195.0, total_frames=150_000)
    result = train_impala_ray("CartPole-v1", config, progress=records.append, progress_every=5)
    # solved in about 25k env steps on 2 cores; the budget is 6x that
    assert result.solved, f"mean return {result.mean_return:.1f} after {result.frames} frames"
    assert result.frames < config.total_frames
    _check_counters(result, config)
    stats = result.stats
    # the actors really run behind the learner, and V-trace still learns
    assert stats.mean_staleness > 0.5
    assert stats.dropped <= 0.05 * stats.arrived  # max_staleness=16: a stalled worker's rollouts at most
    assert stats.broadcasts == stats.updates + 1  # the initial weights, then one per update
    # every record logs the learner's update count, the staleness histogram and the losses
    last = records[-1]
    assert last["policy_version"] == 5 * len(records)
    histogram = {
        int(k.removeprefix("staleness_")): v for k, v in last.items() if k.removeprefix("staleness_").isdigit()
    }
    assert sum(histogram.values()) <= stats.arrived and max(histogram) == last["staleness_max"]
    for name in ("dropped", "lost_rollouts", "worker_restarts", "learner_utilisation", "loss_objective", "updates"):
        assert name in last, name


def test_stale_rollouts_are_dropped_and_dual_clip_ppo_learns_from_the_rest():
    # max_staleness=0 keeps only rollouts collected by the learner's current weights
    config = SMALL.replace(seed=shift_seed(1), max_staleness=0, epochs=2, total_frames=40 * 256)
    loss = functools.partial(PPOLoss, dual_clip=3.0)
    result = train_impala_ray("CartPole-v1", config, loss=loss)
    _check_counters(result, config)
    stats = result.stats
    assert stats.dropped > 0 and stats.accepted > 0
    assert stats.dropped_frames == stats.dropped * 256
    assert set(stats.staleness_histogram) - {0}, "two workers with two requests each run behind"
    assert result.history == []  # no progress callback, no records


def test_version_stamps_and_weight_broadcast_reach_the_workers():
    torch.manual_seed(0)
    actor, _ = make_discrete_actor_critic(observation_size=4, n_actions=2)
    right = {k: v.clone() for k, v in actor.state_dict().items()}
    last = [name for name, m in actor.named_modules() if isinstance(m, nn.Linear)][-1]
    right[f"{last}.weight"].zero_()
    right[f"{last}.bias"].copy_(torch.tensor([-20.0, 20.0]))  # always push right
    with WorkerPool("CartPole-v1", num_workers=2, num_envs=4, rollout_length=16, num_cpus=0.5) as pool:
        pool.start(actor)
        assert pool.requests_per_worker == [0, 0] and pool.starting_workers == [0, 1]
        # both workers up: each has exactly in_flight=2 requests outstanding, always
        delivered = set()
        while delivered != {0, 1}:
            rollout, info = pool.next(timeout_s=60)
            assert rollout[keys.POLICY_VERSION].eq(0).all() and info.version == 0
            delivered.add(info.worker)
            assert all(n == 2 for slot, n in enumerate(pool.requests_per_worker) if slot not in pool.starting_workers)
        assert pool.requests_per_worker == [2, 2] and pool.starting_workers == []
        pool.publish(right, version=3)
        # the 4 requests in flight at the broadcast carry version 0; every later one version 3
        seen = {0: 0, 3: 0}
        with_new_weights = set()
        for _ in range(300):
            if seen[0] == 4 and with_new_weights == {0, 1}:
                break
            rollout, info = pool.next(timeout_s=60)
            assert rollout[keys.POLICY_VERSION].eq(info.version).all()  # one version per rollout
            seen[info.version] += 1
            if info.version == 3:
                with_new_weights.add(info.worker)
                assert rollout[keys.ACTION].eq(1).all(), "a worker stamped version 3 without loading its weights"
            else:
                assert info.worker not in with_new_weights, "a worker went back to the old weights"
        assert seen[0] == 4 and with_new_weights == {0, 1}, (seen, with_new_weights)
        assert pool.stats.broadcasts == 2


def test_a_killed_worker_is_replaced_and_its_lost_work_counted(caplog):
    pool = WorkerPool("CartPole-v1", num_workers=2, num_envs=8, rollout_length=32, num_cpus=0.5, max_restarts=1)
    config = POOLED.replace(seed=shift_seed(2), total_frames=40 * 256)
    killed = []

    def kill_worker_0(stats, frames):
        # once worker 0 is up and working (its requests out), a few rollouts into the run
        if not killed and frames >= 5 * 256 and 0 not in pool.starting_workers:
            killed.append(pool.handles[0])
            ray.kill(pool.handles[0])

    with caplog.at_level(logging.WARNING, logger="rl4py.actor_learner"):
        result = train_impala_ray("CartPole-v1", config, workers=pool, on_update=kill_worker_0)
    assert killed, "the run ended before the kill"
    stats = result.stats
    assert result.frames >= config.total_frames  # the run finished its budget
    assert stats.worker_restarts == 1 and stats.restarts[0].worker == 0
    assert 1 <= stats.lost_rollouts <= config.in_flight
    assert "worker 0 died" in caplog.text and "lost" in caplog.text
    assert pool.incarnations == [1, 0] and pool.worker_seed(0) != 1000 + 0
    assert not pool.started  # stopped at the end
    _check_counters(result, config)


def test_a_worker_dying_past_max_restarts_fails_the_run():
    pool = WorkerPool("CartPole-v1", num_workers=1, num_envs=8, rollout_length=32, num_cpus=0.5, max_restarts=0)

    def kill(stats, frames):
        ray.kill(pool.handles[0])

    with pytest.raises(RuntimeError, match=r"worker 0 died .*max_restarts=0"):
        train_impala_ray("CartPole-v1", POOLED.replace(total_frames=20 * 256), workers=pool, on_update=kill)
    assert not pool.started


def test_centralized_inference_batches_the_workers_steps():
    config = SMALL.replace(seed=shift_seed(3), inference="central", total_frames=8 * 256)
    result = train_impala_ray("CartPole-v1", config)
    _check_counters(result, config)
    served = result.inference_stats
    # every step of every rollout that arrived was answered by the server (in-flight ones too)
    assert served["requests"] >= result.stats.arrived * config.rollout_length
    assert 1.0 <= served["mean_batch"] <= config.num_workers


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"policy_lag": 2}, "policy_lag must be 0"),
        ({"num_workers": 0}, "num_workers must be >= 1"),
        ({"broadcast_every": 0}, "broadcast_every must be >= 1"),
        ({"max_staleness": -1}, "max_staleness must be >= 0"),
        ({"inference": "gpu"}, "inference must be 'worker' or 'central'"),
        ({"rollout_timeout_s": 0}, "rollout_timeout_s must be > 0"),
    ],
)
def test_bad_config_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        SMALL.replace(**changes)


def test_bad_arguments_are_refused_before_any_worker_starts():
    with pytest.raises(ValueError, match="does not split into num_minibatches=3"):
        train_impala_ray("CartPole-v1", SMALL.replace(num_minibatches=3))
    pool = WorkerPool("CartPole-v1", num_envs=4, rollout_length=32)
    with pytest.raises(ValueError, match="num_envs=4, the config num_envs=8"):
        train_impala_ray("CartPole-v1", POOLED, workers=pool)
    with pytest.raises(ValueError, match="differs from the WorkerPool's env"):
        train_impala_ray("Acrobot-v1", POOLED, workers=WorkerPool("CartPole-v1", num_envs=8))
    with pytest.raises(ValueError, match="in_flight=4 would be ignored"):
        train_impala_ray("CartPole-v1", POOLED.replace(in_flight=4), workers=WorkerPool("CartPole-v1", num_envs=8))
    with pytest.raises(TypeError, match="must be an ImpalaRayConfig"):
        train_impala_ray("CartPole-v1", ImpalaRayConfig.__mro__[1]())
    assert not pool.started


@pytest.mark.slow
def test_a_lightning_learner_trains_on_the_workers_rollouts(tmp_path):
    import lightning.pytorch as pl

    from rl4py.trainers import ImpalaRayModule

    pl.seed_everything(shift_seed(0))
    config = SMALL.replace(target_return=150.0, total_frames=150_000)
    module = ImpalaRayModule("CartPole-v1", config)
    trainer = pl.Trainer(
        max_epochs=-1, logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path
    )
    trainer.fit(module)
    assert module.tracker.solved, f"mean return {module.mean_recent_return:.1f} after {module.env_frames} frames"
    stats = module.stats
    # Lightning's optimizer steps are the learner's: epochs x minibatches per update
    assert trainer.global_step == stats.updates * config.epochs * config.num_minibatches
    assert stats.arrived == stats.accepted + stats.dropped and stats.updates <= stats.accepted
    assert stats.mean_staleness > 0.3 and module.pool is None  # the workers stopped with the run
    assert trainer.callback_metrics["actor_learner/policy_version"] == stats.updates
    with pytest.raises(ValueError, match="seed_everything"):
        ImpalaRayModule("CartPole-v1", SMALL.replace(seed=3))
