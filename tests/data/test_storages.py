"""rl4py.data storages: preallocation, FIFO ring writes, gathers, checkpoints, memory-mapped reopen."""

from __future__ import annotations

import gc
import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tensordict import MemoryMappedTensor, TensorDict

from rl4py.data import MemmapStorage, TensorStorage


def items(start: int, n: int) -> TensorDict:
    """Items ``start .. start + n - 1``: each entry encodes the item's number."""
    ids = torch.arange(start, start + n)
    return TensorDict(
        {
            "id": ids,
            "observation": ids.float().unsqueeze(-1).expand(n, 4).clone(),
            "next": {"reward": ids.float().unsqueeze(-1), "done": (ids % 2 == 0).unsqueeze(-1)},
        },
        batch_size=[n],
    )


def stored_ids(storage: TensorStorage) -> list[int]:
    """The ids of the stored items, oldest first."""
    return storage.get(storage.ordered_indices())["id"].tolist()


STORAGES = [pytest.param(lambda cap, tmp: TensorStorage(cap), id="memory"),
            pytest.param(lambda cap, tmp: MemmapStorage(cap, tmp / "buf"), id="memmap")]  # fmt: skip


@pytest.mark.parametrize("make", STORAGES)
def test_allocated_from_first_batch(make, tmp_path) -> None:
    storage = make(10, tmp_path)
    assert not storage.is_allocated and len(storage) == 0
    storage.write(items(0, 3))
    assert storage.is_allocated
    assert storage.spec == {
        "id": ((), torch.int64),
        "observation": ((4,), torch.float32),
        ("next", "reward"): ((1,), torch.float32),
        ("next", "done"): ((1,), torch.bool),
    }
    assert storage.data.batch_size == torch.Size([10])
    assert storage.column("observation").shape == (10, 4)


@pytest.mark.parametrize("make", STORAGES)
def test_fifo_eviction_after_wrap_around(make, tmp_path) -> None:
    storage = make(5, tmp_path)
    assert storage.write(items(0, 3)).tolist() == [0, 1, 2]
    assert storage.write(items(3, 4)).tolist() == [3, 4, 0, 1]  # wraps: items 0 and 1 are evicted
    assert len(storage) == 5 and storage.cursor == 2
    assert stored_ids(storage) == [2, 3, 4, 5, 6]
    assert storage.get(torch.arange(5))["id"].tolist() == [5, 6, 2, 3, 4]  # raw rows
    assert storage.write(items(7, 5)).tolist() == [2, 3, 4, 0, 1]  # a full-capacity batch
    assert stored_ids(storage) == [7, 8, 9, 10, 11]
    assert storage.cursor == 2


@settings(max_examples=40, derandomize=True, deadline=None)
@given(capacity=st.integers(1, 9), sizes=st.lists(st.integers(0, 9), max_size=8))
def test_ring_matches_a_list_model(capacity: int, sizes: list[int]) -> None:
    # the storage always holds the newest `capacity` items, oldest first
    storage, reference, start = TensorStorage(capacity), [], 0
    for n in sizes:
        n = min(n, capacity)
        indices = storage.write(items(start, n))
        assert indices.shape == (n,) and bool(((indices >= 0) & (indices < capacity)).all())
        reference += list(range(start, start + n))
        start += n
    assert len(storage) == min(len(reference), capacity)
    if storage.is_allocated:
        assert stored_ids(storage) == reference[-capacity:]


def test_rows_below_size_hold_the_items_before_wrap() -> None:
    storage = TensorStorage(10)
    storage.write(items(0, 4))
    assert storage.get(torch.arange(len(storage)))["id"].tolist() == [0, 1, 2, 3]
    assert storage.ordered_indices().tolist() == [0, 1, 2, 3]


def test_write_copies_and_get_returns_copies() -> None:
    storage = TensorStorage(4)
    batch = items(0, 2)
    storage.write(batch)
    batch["observation"].fill_(-1.0)  # the caller's tensors are not the storage's
    out = storage.get(torch.tensor([0, 1]))
    assert out["observation"][:, 0].tolist() == [0.0, 1.0]
    out["observation"].fill_(-2.0)  # nor are the gathered ones
    assert storage.get(torch.tensor([0]))["observation"][0, 0].item() == 0.0


def test_batch_dims_are_flattened_row_major() -> None:
    storage = TensorStorage(20)
    td = TensorDict({"x": torch.arange(12).reshape(3, 4), "y": torch.arange(24.0).reshape(3, 4, 2)}, batch_size=[3, 4])
    assert storage.write(td).tolist() == list(range(12))
    out = storage.get(torch.arange(12))
    assert torch.equal(out["x"], torch.arange(12))
    assert torch.equal(out["y"], torch.arange(24.0).reshape(12, 2))


def test_non_contiguous_batch() -> None:
    storage = TensorStorage(20)
    td = TensorDict({"x": torch.arange(12).reshape(4, 3).T}, batch_size=[3, 4])  # a transposed view
    storage.write(td)
    assert torch.equal(storage.get(torch.arange(12))["x"], torch.arange(12).reshape(4, 3).T.reshape(12))


def test_first_write_under_inference_mode_and_gradients() -> None:
    storage = TensorStorage(8)
    with torch.inference_mode():  # e.g. right after a collector step
        storage.write(items(0, 2))
    storage.write(items(2, 2))  # the tensors are ordinary ones: writable outside inference mode
    with torch.inference_mode():
        storage.write(items(4, 2))
    td = items(6, 2)
    td["observation"] = td["observation"].requires_grad_() * 1.0  # part of a graph
    storage.write(td)
    assert not storage.column("observation").requires_grad
    assert not storage.get(torch.arange(8))["observation"].requires_grad
    assert stored_ids(storage) == list(range(8))


def test_device_defaults_to_first_batch() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    assert storage.device == torch.device("cpu")
    assert storage.get(torch.tensor([0])).device == torch.device("cpu")


@pytest.mark.parametrize("make", STORAGES)
def test_state_dict_round_trip(make, tmp_path) -> None:
    storage = make(5, tmp_path)
    storage.write(items(0, 4))
    storage.write(items(4, 3))
    buffer = io.BytesIO()
    torch.save(storage.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain tensors and Python values only
    assert state["contents"]["observation"].shape == (5, 4)
    restored = TensorStorage(5)
    restored.load_state_dict(state)
    assert len(restored) == 5 and restored.cursor == storage.cursor
    assert stored_ids(restored) == stored_ids(storage) == [2, 3, 4, 5, 6]
    assert (restored.data == storage.data).all()
    restored.write(items(7, 1))  # the cursor continues where the saved storage was
    assert stored_ids(restored) == [3, 4, 5, 6, 7]


def test_state_dict_before_any_write() -> None:
    state = TensorStorage(3).state_dict()
    assert state["contents"] is None
    restored = TensorStorage(3)
    restored.load_state_dict(state)
    assert len(restored) == 0 and not restored.is_allocated


def test_memmap_storage_survives_a_reopen(tmp_path) -> None:
    path = tmp_path / "replay"
    storage = MemmapStorage(6, path)
    storage.write(items(0, 5))
    storage.write(items(5, 3))
    expected = storage.get(torch.arange(6))
    cursor = storage.cursor
    assert isinstance(storage.column("observation"), MemoryMappedTensor)
    del storage
    gc.collect()
    reopened = MemmapStorage(6, path)
    assert len(reopened) == 6 and reopened.cursor == cursor
    assert (reopened.get(torch.arange(6)) == expected).all()
    assert stored_ids(reopened) == [2, 3, 4, 5, 6, 7]
    reopened.write(items(8, 1))  # keeps writing at the saved cursor, into the same files
    del reopened
    gc.collect()
    assert stored_ids(MemmapStorage(6, path)) == [3, 4, 5, 6, 7, 8]


def test_memmap_storage_reopened_before_any_write(tmp_path) -> None:
    MemmapStorage(4, tmp_path / "empty")  # creates nothing until the first write
    storage = MemmapStorage(4, tmp_path / "empty")
    assert len(storage) == 0
    storage.write(items(0, 2))
    assert len(MemmapStorage(4, tmp_path / "empty")) == 2


def test_memmap_storage_temporary_directory_is_removed() -> None:
    storage = MemmapStorage(4)
    storage.write(items(0, 2))
    path = storage.path
    assert path.exists()
    del storage
    gc.collect()
    assert not path.exists()


def test_memmap_state_dict_loads_into_memory_storage_and_back(tmp_path) -> None:
    memmap = MemmapStorage(4, tmp_path / "a")
    memmap.write(items(0, 3))
    memmap.write(items(3, 3))
    memory = TensorStorage(4)
    memory.load_state_dict(memmap.state_dict())
    assert stored_ids(memory) == [2, 3, 4, 5]
    other = MemmapStorage(4, tmp_path / "b")
    other.load_state_dict(memory.state_dict())
    assert stored_ids(other) == [2, 3, 4, 5] and other.cursor == memmap.cursor


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", [TensorStorage, MemmapStorage])
@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_bad_capacity(cls, capacity) -> None:
    with pytest.raises(ValueError, match=rf"capacity must be an int >= 1, got {capacity!r}"):
        cls(capacity)


def test_write_mismatched_keys() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    td = items(1, 1)
    del td["id"]
    td["extra"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing \['id'\], unexpected \['extra'\]; expected exactly the entries"):
        storage.write(td)


def test_write_mismatched_shape() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    td = items(1, 2)
    td["observation"] = torch.zeros(2, 5)
    with pytest.raises(ValueError, match=r"'observation' has per-item shape \(5,\).*expected per-item shape \(4,\)"):
        storage.write(td)


def test_write_mismatched_dtype() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    td = items(1, 1)
    td["next", "reward"] = td["next", "reward"].double()
    with pytest.raises(ValueError, match=r"\('next', 'reward'\).*dtype torch.float64.*dtype torch.float32"):
        storage.write(td)


def test_write_without_batch_dim() -> None:
    with pytest.raises(ValueError, match=r"batch size \[N\] or \[B, T\], got batch size \[\]"):
        TensorStorage(4).write(items(0, 1)[0])


def test_write_not_a_tensordict() -> None:
    with pytest.raises(ValueError, match=r"expected a TensorDict .* got dict"):
        TensorStorage(4).write({"x": torch.zeros(2)})  # type: ignore[arg-type]


def test_write_more_than_capacity() -> None:
    storage = TensorStorage(4)
    with pytest.raises(ValueError, match=r"a batch of 5 items does not fit a storage of capacity 4"):
        storage.write(items(0, 5))
    assert len(storage) == 0 and not storage.is_allocated


def test_write_non_tensor_entry() -> None:
    td = items(0, 2)
    td["name"] = "cartpole"  # a non-tensor leaf
    with pytest.raises(ValueError, match=r"entry 'name' is a .*expected a tensor"):
        TensorStorage(4).write(td)


def test_get_before_write() -> None:
    with pytest.raises(ValueError, match="the storage is empty"):
        TensorStorage(4).get(torch.tensor([0]))
    with pytest.raises(ValueError, match="not allocated"):
        TensorStorage(4).data


def test_column_missing_key() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    with pytest.raises(KeyError, match=r"no entry 'trajectory' in the storage; it holds"):
        storage.column("trajectory")


def test_load_state_dict_capacity_mismatch() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    with pytest.raises(ValueError, match=r"the state has capacity 4, this storage 5"):
        TensorStorage(5).load_state_dict(storage.state_dict())


def test_load_state_dict_spec_mismatch() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 1))
    other = TensorStorage(4)
    other.write(TensorDict({"x": torch.zeros(1)}, batch_size=[1]))
    with pytest.raises(ValueError, match=r"the state holds \{'id'.*this storage holds \{'x'"):
        other.load_state_dict(storage.state_dict())
    with pytest.raises(ValueError, match=r"the state holds no items, but this storage is allocated"):
        other.load_state_dict(TensorStorage(4).state_dict())


def test_memmap_reopen_with_other_capacity(tmp_path) -> None:
    MemmapStorage(4, tmp_path / "buf").write(items(0, 1))
    with pytest.raises(ValueError, match=r"has capacity 4, got capacity=8"):
        MemmapStorage(8, tmp_path / "buf")


def test_memmap_path_not_a_storage(tmp_path) -> None:
    (tmp_path / "other.txt").write_text("not a buffer")
    with pytest.raises(ValueError, match=r"non-empty directory without rl4py_storage.json"):
        MemmapStorage(4, tmp_path)


def test_load_state_dict_refuses_inconsistent_counters_and_rows() -> None:
    storage = TensorStorage(4)
    storage.write(items(0, 2))
    state = storage.state_dict()
    with pytest.raises(ValueError, match=r"size 9 and cursor 2; expected 0 <= size <= 4"):
        TensorStorage(4).load_state_dict({**state, "size": 9})
    with pytest.raises(ValueError, match=r"size 3 but the entries hold \{'id': 2, "):
        TensorStorage(4).load_state_dict({**state, "size": 3})  # would broadcast row 0 over row 2
