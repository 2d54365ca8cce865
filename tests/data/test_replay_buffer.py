"""rl4py.data.ReplayBuffer: extend/sample, FIFO, distributions, priorities, checkpoints, memmap reopen, errors."""

from __future__ import annotations

import gc
import io

import pytest
import torch
from tensordict import TensorDict

from rl4py.collectors import SyncCollector
from rl4py.data import MemmapStorage, PrioritizedSampler, ReplayBuffer, TensorStorage
from rl4py.envs import CartPole

CHI2_CRITICAL_P001_DF19 = 43.820  # P(chi2_19 > 43.820) = 0.001; checked in test_samplers.test_critical_values


def transitions(start: int, n: int, obs_dim: int = 4) -> TensorDict:
    """DQN-shaped transitions ``[n]``; item ``i`` has observation ``start + i`` everywhere."""
    ids = torch.arange(start, start + n)
    obs = ids.float().unsqueeze(-1).expand(n, obs_dim).clone()
    return TensorDict(
        {
            "observation": obs,
            "action": ids % 2,
            "next": {
                "observation": obs + 1,
                "reward": torch.ones(n, 1),
                "terminated": (ids % 7 == 0).unsqueeze(-1),
                "done": (ids % 7 == 0).unsqueeze(-1),
            },
        },
        batch_size=[n],
    )


def ids_of(td: TensorDict) -> list[int]:
    return td["observation"][:, 0].long().tolist()


def test_dqn_contract() -> None:
    buffer = ReplayBuffer(100, seed=0)
    assert buffer.capacity == 100 and len(buffer) == 0
    indices = buffer.extend(transitions(0, 40))
    assert indices.tolist() == list(range(40)) and len(buffer) == 40
    batch = buffer.sample(32)
    assert batch.batch_size == torch.Size([32])
    assert set(batch.keys(include_nested=True, leaves_only=True)) == {
        "observation",
        "action",
        ("next", "observation"),
        ("next", "reward"),
        ("next", "terminated"),
        ("next", "done"),
    }
    assert batch["observation"].shape == (32, 4) and batch["action"].shape == (32,)
    assert batch["next", "reward"].shape == (32, 1) and batch["next", "done"].dtype == torch.bool
    # every sampled item is a stored transition, whole (entries of one item stay together)
    assert torch.equal(batch["next", "observation"], batch["observation"] + 1)
    assert torch.equal(batch["action"], batch["observation"][:, 0].long() % 2)


def test_fifo_eviction_after_wrap_around() -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 6))
    assert buffer.extend(transitions(6, 6)).tolist() == [6, 7, 8, 9, 0, 1]
    assert len(buffer) == 10
    assert ids_of(buffer.storage.get(buffer.storage.ordered_indices())) == list(range(2, 12))
    drawn = set(ids_of(buffer.sample(1000)))
    assert drawn == set(range(2, 12))  # the two oldest items are gone, nothing else


def test_sample_draws_only_stored_items_before_full() -> None:
    buffer = ReplayBuffer(1000, seed=0)
    buffer.extend(transitions(0, 5))
    assert set(ids_of(buffer.sample(500))) == set(range(5))


def test_uniform_sampling_chi_square() -> None:
    buffer = ReplayBuffer(20, seed=123)
    buffer.extend(transitions(0, 15))
    buffer.extend(transitions(15, 10))  # wrapped: items 5 .. 24 stored
    counts = torch.zeros(20)
    for _ in range(20):
        ids = torch.tensor(ids_of(buffer.sample(1000)))
        counts += torch.bincount(ids - 5, minlength=20)
    expected = counts.sum() / 20
    statistic = float(((counts - expected) ** 2 / expected).sum())  # 19 degrees of freedom
    assert statistic < CHI2_CRITICAL_P001_DF19


def test_same_seed_same_samples_and_global_seed_default() -> None:
    a, b = ReplayBuffer(50, seed=7), ReplayBuffer(50, generator=torch.Generator().manual_seed(7))
    for buffer in (a, b):
        buffer.extend(transitions(0, 50))
    assert (a.sample(16) == b.sample(16)).all()
    torch.manual_seed(11)
    c = ReplayBuffer(50)
    torch.manual_seed(11)
    d = ReplayBuffer(50)  # no seed: drawn from torch's global RNG, so torch.manual_seed fixes it
    for buffer in (c, d):
        buffer.extend(transitions(0, 50))
    assert (c.sample(16) == d.sample(16)).all()


def test_collector_rollout_can_be_extended_and_sampled() -> None:
    collector = SyncCollector(CartPole(num_envs=4), None, rollout_length=8, total_frames=64, seed=0)
    buffer = ReplayBuffer(48, seed=0)
    rollouts = []
    for rollout in collector:
        assert rollout.batch_size == torch.Size([4, 8])
        rollouts.append(rollout)
        buffer.extend(rollout)
    assert len(buffer) == 48
    # [B, T] is flattened row-major: the last rollout's item b * T + t is rollout[b, t]
    last = rollouts[-1]
    rows = buffer.storage.ordered_indices()[-32:]
    stored = buffer.storage.get(rows)
    assert (stored == last.reshape(-1)).all()
    assert stored["next", "episode_return"].shape == (32, 1)
    batch = buffer.sample(16)
    assert batch.batch_size == torch.Size([16])
    assert set(batch.keys(include_nested=True, leaves_only=True)) == set(
        last.keys(include_nested=True, leaves_only=True)
    )
    assert batch["observation"].shape == (16, 4) and batch["action"].shape == (16,)


@pytest.mark.parametrize("method", ["multinomial", "tree"])
def test_prioritized_buffer_writes_index_and_weight(method: str) -> None:
    buffer = ReplayBuffer(100, sampler=PrioritizedSampler(alpha=0.6, beta=0.4, method=method), seed=0)
    buffer.extend(transitions(0, 8))
    batch = buffer.sample(32)
    assert batch["index"].shape == (32,) and batch["index"].dtype == torch.int64
    assert batch["weight"].shape == (32, 1) and batch["weight"].dtype == torch.float32
    assert torch.equal(batch["weight"], torch.ones(32, 1))  # all items at the max priority
    assert batch["index"].tolist() == ids_of(batch)  # item i was written to row i
    # a priority update changes the draws: P(3) = 1000^0.6 / (1000^0.6 + 7 * 1^0.6) = 0.900
    buffer.update_priority(torch.tensor([3]), torch.tensor([1000.0]))
    batch = buffer.sample(1000)
    assert abs((batch["index"] == 3).float().mean().item() - 0.900) < 0.03  # 3.2 binomial std devs
    expected = buffer.sampler.probabilities()[:8]
    raw = (8 * expected) ** -0.4
    assert torch.allclose(batch["weight"].squeeze(-1), (raw / raw.max())[batch["index"]].float())


def test_prioritized_index_and_weight_keys_can_be_renamed() -> None:
    buffer = ReplayBuffer(10, sampler=PrioritizedSampler(), seed=0, index_key="row", weight_key=("info", "is"))
    td = transitions(0, 4)
    td["index"] = torch.zeros(4)  # a user entry called "index" is kept, not overwritten
    buffer.extend(td)
    batch = buffer.sample(8)
    assert torch.equal(batch["index"], torch.zeros(8)) and batch["row"].shape == (8,)
    assert batch["info", "is"].shape == (8, 1)


def test_uniform_buffer_adds_no_entries() -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 4))
    batch = buffer.sample(2)
    assert "index" not in batch and "weight" not in batch


def test_group_by_gathers_items_in_insertion_order() -> None:
    buffer = ReplayBuffer(8, seed=0)
    td = transitions(0, 6)
    td["trajectory"] = torch.tensor([[0], [1], [0], [2], [1], [0]])  # per-item shape (1,)
    buffer.extend(td)
    td = transitions(6, 4)
    td["trajectory"] = torch.tensor([[2], [3], [3], [0]])
    buffer.extend(td)  # items 0 and 1 are evicted
    groups = buffer.group_by("trajectory")
    assert list(groups) == [0, 1, 2, 3]
    assert {k: ids_of(v) for k, v in groups.items()} == {0: [2, 5, 9], 1: [4], 2: [3, 6], 3: [7, 8]}
    assert groups[3].batch_size == torch.Size([2]) and groups[3]["trajectory"].tolist() == [[3], [3]]
    assert ReplayBuffer(4).group_by("trajectory") == {}


def test_group_by_nested_scalar_key() -> None:
    buffer = ReplayBuffer(8, seed=0)
    buffer.extend(transitions(0, 8))
    groups = buffer.group_by(("next", "done"))
    assert list(groups) == [False, True]
    assert ids_of(groups[True]) == [0, 7]


def test_extend_accepts_other_dims_and_empty_batches() -> None:
    buffer = ReplayBuffer(20, seed=0)
    assert buffer.extend(transitions(0, 0)).tolist() == []
    assert len(buffer) == 0
    td = transitions(0, 12).reshape(2, 3, 2)
    assert buffer.extend(td).tolist() == list(range(12))
    assert ids_of(buffer.storage.get(torch.arange(12))) == list(range(12))


# ---------------------------------------------------------------------- checkpoints


def round_trip(state: dict) -> dict:
    file = io.BytesIO()
    torch.save(state, file)
    file.seek(0)
    return torch.load(file, weights_only=True)


@pytest.mark.parametrize("method", [None, "multinomial", "tree"])
def test_save_load_round_trip(method: str | None) -> None:
    prioritized = method is not None

    def make() -> ReplayBuffer:
        sampler = PrioritizedSampler(alpha=0.7, beta=0.5, method=method) if prioritized else None
        return ReplayBuffer(16, sampler=sampler, seed=3)

    buffer = make()
    buffer.extend(transitions(0, 10))
    buffer.extend(transitions(10, 10))  # wrapped
    for _ in range(3):
        batch = buffer.sample(8)
        if prioritized:
            buffer.update_priority(batch["index"], batch["observation"][:, 0] / 10)
    state = round_trip(buffer.state_dict())
    resumed = ReplayBuffer(16, sampler=PrioritizedSampler(alpha=0.7) if prioritized else None, seed=99)
    resumed.load_state_dict(state)
    assert len(resumed) == len(buffer) and resumed.storage.cursor == buffer.storage.cursor
    assert (resumed.storage.data[: len(buffer)] == buffer.storage.data[: len(buffer)]).all()
    if prioritized:
        assert torch.equal(resumed.sampler.priorities, buffer.sampler.priorities)
    for start in (20, 24):  # identical next samples, before and after more writes
        assert (resumed.sample(8) == buffer.sample(8)).all()
        buffer.extend(transitions(start, 4))
        resumed.extend(transitions(start, 4))
    assert (resumed.storage.data == buffer.storage.data).all()


def test_checkpoint_of_a_memmap_buffer_loads_into_a_memory_buffer(tmp_path) -> None:
    buffer = ReplayBuffer(8, storage="memmap", path=tmp_path / "rb", seed=0)
    buffer.extend(transitions(0, 5))
    resumed = ReplayBuffer(8, seed=1)
    resumed.load_state_dict(round_trip(buffer.state_dict()))
    assert (resumed.sample(4) == buffer.sample(4)).all()


def test_memmap_buffer_survives_a_reopen(tmp_path) -> None:
    path = tmp_path / "replay"
    buffer = ReplayBuffer(12, storage="memmap", path=path, seed=0)
    assert isinstance(buffer.storage, MemmapStorage)
    buffer.extend(transitions(0, 9))
    buffer.extend(transitions(9, 9))  # wrapped: items 6 .. 17
    contents = buffer.storage.data.clone()
    cursor = buffer.storage.cursor
    del buffer
    gc.collect()
    reopened = ReplayBuffer(12, storage="memmap", path=path, seed=0)
    assert len(reopened) == 12 and reopened.storage.cursor == cursor
    assert (reopened.storage.data == contents).all()
    assert set(ids_of(reopened.sample(500))) == set(range(6, 18))
    # a prioritized buffer reopened on the same files: every stored item starts at priority 1
    del reopened
    gc.collect()
    prioritized = ReplayBuffer(12, storage="memmap", path=path, sampler=PrioritizedSampler(), seed=0)
    assert prioritized.sampler.priorities.tolist() == [1.0] * 12


def test_memory_buffer_with_a_storage_object() -> None:
    storage = TensorStorage(6)
    buffer = ReplayBuffer(6, storage=storage, seed=0)
    buffer.extend(transitions(0, 3))
    assert buffer.storage is storage and len(storage) == 3


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("capacity", [0, -1, 1.5, None])
def test_bad_capacity(capacity) -> None:
    with pytest.raises(ValueError, match=rf"capacity must be an int >= 1, got {capacity!r}"):
        ReplayBuffer(capacity)  # type: ignore[arg-type]


def test_sample_empty() -> None:
    with pytest.raises(ValueError, match=r"the buffer is empty \(0 items\); extend it before sampling"):
        ReplayBuffer(10, seed=0).sample(4)


@pytest.mark.parametrize("batch_size", [0, -2, 2.0, True])
def test_sample_bad_batch_size(batch_size) -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(ValueError, match=rf"batch_size must be an int >= 1, got {batch_size!r}"):
        buffer.sample(batch_size)


def test_extend_mismatched_keys() -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 2))
    td = transitions(2, 2)
    del td["next", "terminated"]
    with pytest.raises(
        ValueError, match=r"ReplayBuffer.extend: .*missing \[\('next', 'terminated'\)\], unexpected \[\]"
    ):
        buffer.extend(td)
    assert len(buffer) == 2  # nothing was written


def test_extend_mismatched_shape() -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(ValueError, match=r"'observation' has per-item shape \(3,\) .*expected per-item shape \(4,\)"):
        buffer.extend(transitions(2, 2, obs_dim=3))


def test_extend_mismatched_dtype() -> None:
    buffer = ReplayBuffer(10, seed=0)
    buffer.extend(transitions(0, 2))
    td = transitions(2, 2)
    td["action"] = td["action"].int()
    with pytest.raises(
        ValueError, match=r"'action' has per-item shape \(\) and dtype torch.int32, expected .*torch.int64"
    ):
        buffer.extend(td)


def test_extend_unbatched_and_too_large() -> None:
    buffer = ReplayBuffer(4, seed=0)
    with pytest.raises(ValueError, match=r"ReplayBuffer.extend: expected .* \[N\] or \[B, T\], got batch size \[\]"):
        buffer.extend(transitions(0, 1)[0])
    with pytest.raises(ValueError, match=r"a batch of 6 items does not fit a storage of capacity 4"):
        buffer.extend(transitions(0, 6).reshape(2, 3))


def test_extend_prioritized_with_reserved_key() -> None:
    buffer = ReplayBuffer(4, sampler=PrioritizedSampler(), seed=0)
    td = transitions(0, 2)
    td["weight"] = torch.ones(2, 1)
    with pytest.raises(ValueError, match=r"has an entry 'weight', which prioritized sampling writes"):
        buffer.extend(td)


def test_update_priority_on_uniform_buffer() -> None:
    buffer = ReplayBuffer(4, seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(ValueError, match=r"RandomSampler.update_priority: uniform sampling has no priorities"):
        buffer.update_priority(torch.tensor([0]), torch.tensor([1.0]))


def test_update_priority_bad_arguments_through_the_buffer() -> None:
    buffer = ReplayBuffer(4, sampler=PrioritizedSampler(), seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(ValueError, match=r"rows \[3\] hold no item yet"):
        buffer.update_priority(torch.tensor([3]), torch.tensor([1.0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"storage": "disk"}, r"storage must be 'memory', 'memmap' or a TensorStorage, got 'disk'"),
        ({"storage": TensorStorage(5)}, r"the storage has capacity 5, expected capacity=4"),
        ({"path": "/tmp/x"}, r"path is only used with storage='memmap', got storage='memory'"),
        ({"storage": "memmap", "device": "cpu"}, r"device is only used with storage='memory', got storage='memmap'"),
        ({"seed": 1, "generator": torch.Generator()}, r"pass generator or seed, not both \(got seed=1\)"),
        ({"sampler": object()}, r"sampler must be None, a RandomSampler, .* got object"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReplayBuffer(4, **kwargs)


def test_load_state_dict_mismatches() -> None:
    buffer = ReplayBuffer(4, seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(ValueError, match=r"the state has capacity 4, this buffer 8"):
        ReplayBuffer(8).load_state_dict(buffer.state_dict())
    with pytest.raises(ValueError, match=r"saved with sampler RandomSampler, this buffer has PrioritizedSampler"):
        ReplayBuffer(4, sampler=PrioritizedSampler()).load_state_dict(buffer.state_dict())
    other = ReplayBuffer(4, seed=0)
    other.extend(transitions(0, 2, obs_dim=3))
    with pytest.raises(ValueError, match=r"the state holds \{.*'observation': \(4,\).*this storage holds \{.*\(3,\)"):
        other.load_state_dict(buffer.state_dict())


def test_group_by_errors() -> None:
    buffer = ReplayBuffer(4, seed=0)
    buffer.extend(transitions(0, 2))
    with pytest.raises(KeyError, match=r"no entry 'trajectory' in the storage; it holds \['observation', 'action'"):
        buffer.group_by("trajectory")
    with pytest.raises(ValueError, match=r"'observation' must hold one value per item .* got per-item shape \(4,\)"):
        buffer.group_by("observation")
