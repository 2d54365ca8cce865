"""rl4py.data.SliceSampler: slices [B, T] of one sub-env's stream, never across a done or the write head."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tensordict import TensorDict

from rl4py.collectors import SyncCollector
from rl4py.data import MemmapStorage, ReplayBuffer, SliceSampler
from rl4py.envs import CartPole

DONE = ("next", "done")


class Streams:
    """Writes steps of ``num_envs`` sub-envs with given episode lengths and keeps a list model of them.

    Each item holds ``"env"``, ``"step"`` (a per-env counter, never reset) and ``("next", "done")``.
    """

    def __init__(self, num_envs: int, episode_lengths: list[list[int]]) -> None:
        self.num_envs = num_envs
        # per env, the done flag of every step: an episode of length L ends at its L-th step
        self.flags = []
        for lengths in episode_lengths:
            flags = []
            for length in lengths:
                flags += [False] * (length - 1) + [True]
            self.flags.append(flags)
        self.written = 0  # steps written per env

    def step_td(self, k: int) -> TensorDict:
        """The next ``k`` steps of all envs, time-major ``[k * num_envs]``."""
        n_env, t0 = self.num_envs, self.written
        steps = torch.arange(t0, t0 + k).repeat_interleave(n_env)
        envs = torch.arange(n_env).repeat(k)
        done = torch.tensor([self.flags[e][t % len(self.flags[e])] for t, e in zip(steps.tolist(), envs.tolist())])
        self.written += k
        return TensorDict({"env": envs, "step": steps, "next": {"done": done.unsqueeze(-1)}}, batch_size=[k * n_env])

    def done(self, env: int, step: int) -> bool:
        return self.flags[env][step % len(self.flags[env])]

    def valid_starts(self, capacity: int, slice_len: int, cross: bool) -> set[tuple[int, int]]:
        """Brute force: ``(env, step)`` of every valid slice start in a buffer of ``capacity``."""
        kept = min(self.written, capacity // self.num_envs)
        first = self.written - kept
        out = set()
        for env in range(self.num_envs):
            for start in range(first, self.written - slice_len + 1):
                if cross or not any(self.done(env, t) for t in range(start, start + slice_len - 1)):
                    out.add((env, start))
        return out


def check_slices(batch: TensorDict, streams: Streams, slice_len: int, cross: bool) -> None:
    b = batch.batch_size[0]
    assert batch.batch_size == (b, slice_len)
    env, step, done = batch["env"], batch["step"], batch["next", "done"][..., 0]
    assert bool((env == env[:, :1]).all()), "a slice mixes sub-envs"
    assert bool((step[:, 1:] - step[:, :-1] == 1).all()), "a slice is not contiguous in its stream"
    is_init = batch["is_init"][..., 0]
    assert batch["is_init"].shape == (b, slice_len, 1) and batch["is_init"].dtype == torch.bool
    assert bool(is_init[:, 0].all())
    if cross:
        assert torch.equal(is_init[:, 1:], done[:, :-1])
    else:
        assert not bool(done[:, :-1].any()), "a slice crosses an episode end"
        assert not bool(is_init[:, 1:].any())


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    num_envs=st.integers(1, 3),
    slots=st.integers(1, 12),
    slice_len=st.integers(1, 6),
    cross=st.booleans(),
    lengths=st.lists(st.lists(st.integers(1, 8), min_size=1, max_size=4), min_size=3, max_size=3),
    writes=st.lists(st.integers(1, 5), min_size=1, max_size=10),
)
def test_slices_match_a_brute_force_model(num_envs, slots, slice_len, cross, lengths, writes) -> None:
    # random episode lengths, write sizes and wrap-arounds: every drawn slice is valid, and the
    # sampler's starts are exactly the valid ones (so none is missed and none spans the write head)
    capacity = slots * num_envs
    streams = Streams(num_envs, lengths[:num_envs])
    buffer = ReplayBuffer(capacity, sampler=SliceSampler(slice_len, num_envs, cross_episodes=cross), seed=0)
    for k in writes:
        buffer.extend(streams.step_td(min(k, slots)))
        expected = streams.valid_starts(capacity, slice_len, cross)
        stored = buffer.storage.get(buffer.sampler.valid_starts())
        got = set(zip(stored["env"].tolist(), stored["step"].tolist()))
        assert got == expected and buffer.sampler._count == len(expected)
        if expected:
            check_slices(buffer.sample(8), streams, slice_len, cross)
        else:
            with pytest.raises(ValueError, match="no slice of slice_len"):
                buffer.sample(8)


def test_starts_are_uniform_over_valid_windows() -> None:
    # 2 envs x 6 steps, no done, T = 3: 2 x 4 windows, each drawn with probability 1/8 (8 of 12
    # rows start a slice: drawn by rejection)
    streams = Streams(2, [[100], [100]])
    buffer = ReplayBuffer(12, sampler=SliceSampler(3, num_envs=2), seed=0)
    buffer.extend(streams.step_td(6))
    batch = buffer.sample(16_000)
    keys = (batch["env"][:, 0] * 10 + batch["step"][:, 0]).tolist()
    counts = {k: keys.count(k) for k in set(keys)}
    assert sorted(counts) == [0, 1, 2, 3, 10, 11, 12, 13]
    assert all(abs(c - 2000) < 200 for c in counts.values()), counts  # ~4.5 standard deviations
    # episodes of 5 steps, T = 5: 8 of 40 rows start a slice (drawn from the listed starts)
    buffer = ReplayBuffer(40, sampler=SliceSampler(5), seed=0)
    buffer.extend(Streams(1, [[5]]).step_td(40))
    keys = buffer.sample(16_000)["step"][:, 0].tolist()
    counts = {k: keys.count(k) for k in set(keys)}
    assert sorted(counts) == list(range(0, 40, 5))
    assert all(abs(c - 2000) < 200 for c in counts.values()), counts


def test_never_spans_the_write_head_after_wrap_around() -> None:
    # capacity 10, one env, no episode ends: after 13 steps the ring holds steps 3..12 with the
    # write head between step 12 (row 2) and step 3 (row 3): slices run 3..12 in order only
    streams = Streams(1, [[1000]])
    buffer = ReplayBuffer(10, sampler=SliceSampler(4), seed=0)
    for _ in range(13):
        buffer.extend(streams.step_td(1))
    assert buffer.storage.cursor == 3
    batch = buffer.sample(2000)
    starts = batch["step"][:, 0]
    assert set(starts.tolist()) == set(range(3, 10))  # 3 .. 12 - 3
    assert bool((batch["step"][:, 1:] - batch["step"][:, :-1] == 1).all())
    assert set(batch["index"][:, 0].tolist()) == {3, 4, 5, 6, 7, 8, 9}


def test_is_init_marks_slice_and_episode_starts() -> None:
    # one env, episodes of 3 steps: dones at steps 2, 5, 8, ...
    streams = Streams(1, [[3]])
    buffer = ReplayBuffer(32, sampler=SliceSampler(5, cross_episodes=True), seed=1)
    buffer.extend(streams.step_td(20))
    batch = buffer.sample(64)
    episode_start = batch["step"] % 3 == 0
    is_init = batch["is_init"][..., 0]
    assert bool(is_init[:, 0].all())
    assert torch.equal(is_init[:, 1:], episode_start[:, 1:])
    # without crossing, T = 3 fits exactly one episode: every slice is one whole episode
    buffer = ReplayBuffer(32, sampler=SliceSampler(3), seed=1)
    buffer.extend(Streams(1, [[3]]).step_td(20))
    batch = buffer.sample(64)
    assert bool((batch["step"][:, 0] % 3 == 0).all()) and bool(batch["next", "done"][:, -1].all())


def test_rollouts_are_stored_per_env_and_slices_follow_cartpole_dynamics() -> None:
    # a collector rollout [num_envs, T] (time last) goes in as it is; within a slice, each step's
    # observation is the previous step's next observation: the slice is one sub-env's trajectory
    num_envs, t_len = 4, 8
    collector = SyncCollector(CartPole(num_envs=num_envs), None, rollout_length=16, total_frames=512, seed=0)
    buffer = ReplayBuffer(256, sampler=SliceSampler(t_len, num_envs=num_envs), seed=0)
    for rollout in collector:
        assert rollout.batch_size == (num_envs, 16)
        buffer.extend(rollout)
    batch = buffer.sample(64)
    assert batch.batch_size == (64, t_len)
    assert torch.equal(batch["observation"][:, 1:], batch["next", "observation"][:, :-1])
    assert not bool(batch["next", "done"][:, :-1].any())


def test_same_seed_same_slices_and_generator_drives_them() -> None:
    def run(seed: int) -> list[torch.Tensor]:
        streams = Streams(2, [[5, 9], [7]])
        buffer = ReplayBuffer(40, sampler=SliceSampler(4, num_envs=2), seed=seed)
        out = []
        for _ in range(6):
            buffer.extend(streams.step_td(5))
            out.append(buffer.sample(8)["index"])
        return out

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("storage", ["memory", "memmap"])
def test_checkpoint_resume_is_exact(storage: str, tmp_path) -> None:
    streams = Streams(3, [[4, 9], [6], [11, 2]])
    buffer = ReplayBuffer(30, storage=storage, sampler=SliceSampler(3, num_envs=3), seed=7)
    for _ in range(5):  # 15 steps per env into 10 slots: wrapped
        buffer.extend(streams.step_td(3))
    buffer.sample(4)
    blob = io.BytesIO()
    torch.save(buffer.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    restored = ReplayBuffer(30, storage=storage, sampler=SliceSampler(3, num_envs=3), seed=123)
    restored.load_state_dict(state)
    for _ in range(3):  # the same draws, and the same after further writes
        assert torch.equal(buffer.sample(16)["index"], restored.sample(16)["index"])
        td = streams.step_td(2)
        buffer.extend(td)
        restored.extend(td.clone())
    a, b = buffer.sample(16), restored.sample(16)
    assert (a == b).all()


def test_reopened_memmap_storage_rebuilds_the_starts(tmp_path) -> None:
    streams = Streams(2, [[3, 6], [5]])
    path = tmp_path / "replay"
    buffer = ReplayBuffer(20, storage="memmap", path=path, sampler=SliceSampler(3, num_envs=2), seed=0)
    for _ in range(4):
        buffer.extend(streams.step_td(4))  # 16 steps per env into 10 slots
    starts = buffer.sampler.valid_starts().clone()
    del buffer
    reopened = ReplayBuffer(20, storage="memmap", path=path, sampler=SliceSampler(3, num_envs=2), seed=0)
    assert torch.equal(reopened.sampler.valid_starts(), starts)
    check_slices(reopened.sample(32), streams, 3, cross=False)


def test_errors() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="slice_len must be an int >= 1"):
            SliceSampler(bad)
    with pytest.raises(ValueError, match="num_envs must be an int >= 1"):
        SliceSampler(4, num_envs=0)
    with pytest.raises(ValueError, match="capacity must be a multiple of num_envs=3"):
        ReplayBuffer(10, sampler=SliceSampler(4, num_envs=3))

    streams = Streams(2, [[100], [100]])
    buffer = ReplayBuffer(20, sampler=SliceSampler(4, num_envs=2), seed=0)
    buffer.extend(streams.step_td(3))
    with pytest.raises(ValueError, match="each of the 2 sub-env streams holds 3 steps"):
        buffer.sample(1)  # slice_len 4 > 3 stored steps per env
    with pytest.raises(ValueError, match=r"expected batch size \[num_envs\] = \[2\]"):
        buffer.extend(streams.step_td(1)[:1])  # half a step
    with pytest.raises(ValueError, match=r"must be \[num_envs, T\] = \[2, T\]"):
        buffer.extend(streams.step_td(3).reshape(3, 2))  # [T, num_envs] instead of [num_envs, T]
    with pytest.raises(ValueError, match="has no entry"):
        buffer.extend(streams.step_td(1).exclude(DONE))
    wrong = streams.step_td(1)
    wrong[DONE] = wrong[DONE].float()
    with pytest.raises(ValueError, match="must be bool with one flag per step"):
        buffer.extend(wrong)
    assert len(buffer) == 6  # nothing half-written by the rejected batches
    with pytest.raises(ValueError, match="no priorities"):
        buffer.update_priority(torch.tensor([0]), torch.tensor([1.0]))

    short = ReplayBuffer(20, sampler=SliceSampler(4, num_envs=1), seed=0)
    short.extend(Streams(1, [[2]]).step_td(10))  # episodes of 2 steps, slices of 4
    with pytest.raises(ValueError, match="inside one episode.*cross_episodes=True"):
        short.sample(1)

    other = ReplayBuffer(20, sampler=SliceSampler(5, num_envs=2), seed=0)
    with pytest.raises(ValueError, match="slice_len: saved 4, here 5"):
        other.load_state_dict(buffer.state_dict())


def test_a_sampler_used_alone_needs_a_storage() -> None:
    sampler = SliceSampler(2)
    sampler.reset(4)
    with pytest.raises(ValueError, match="bind_storage"):
        sampler.add(torch.arange(2))
    storage = MemmapStorage(4)
    sampler.bind_storage(storage)
    storage.write(Streams(1, [[9]]).step_td(4))
    sampler.add(torch.arange(4))
    rows, extras = sampler.sample(4, 5, torch.Generator().manual_seed(0))
    assert rows.shape == (5, 2) and extras["is_init"].shape == (5, 2, 1)
