"""Replay buffer throughput: rl4py's ReplayBuffer (uniform, prioritized) beside a plain Python-list buffer.

Same data for every buffer: CartPole-shaped transitions (observation [4] float32, action int64,
next observation [4], reward [1], terminated [1], done [1]), capacity 100_000. Measures:

- ``extend_per_second``: transitions written per second, in batches of ``extend_batch``
  transitions (1: one env step of one env; 256: one step of 256 envs, or a rollout chunk);
- ``sample_per_second``: transitions sampled per second in batches of 256, from a full buffer;
- for prioritized replay also ``sample_update_per_second``: a batch drawn and its 256
  priorities updated, as one PER training step does.

The Python-list buffer is what a hand-written DQN keeps: a ``collections.deque(maxlen=capacity)``
of per-transition dicts of tensors, ``random.sample`` and one ``torch.stack`` per key.

Then the prioritized sampler's two methods, the sum tree and ``torch.multinomial`` over the
priority vector, at capacities from 1e3 to 1e6: microseconds per draw of 256 and per update of
256 priorities (variant ``prioritized_sampler_scaling``; ``method="auto"`` picks by capacity).

Then sequence replay (DreamerV3's batch: 16 slices of 64 steps) with rl4py's ``SliceSampler`` beside
TorchRL's ``SliceSampler`` in the same process, on the same transitions (episodes end with probability
1/200 per step, so most 64-step windows lie inside one episode), capacity 100_000:

- variant ``slice_sample``: slices per second drawn from a full buffer (no writes in between);
  TorchRL by default (trajectories recomputed at each draw) and with ``cache_values=True``;
- variant ``slice_extend_sample``: one write of 16 transitions (one step of 16 sub-envs) then one
  draw of 16 slices, as a Dreamer loop at train ratio 64 does (every write invalidates the starts).

Prints one JSON line per measurement::

    python bench/replay_buffer.py
    python bench/replay_buffer.py --quick   # fewer repetitions
    python bench/replay_buffer.py --part slices
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import deque
from collections.abc import Callable

import torch
from tensordict import TensorDict

from rl4py.data import PrioritizedSampler, ReplayBuffer, SliceSampler
from rl4py.data.samplers import MULTINOMIAL_MAX_CAPACITY

CAPACITY = 100_000
SAMPLE_BATCH = 256
KEYS = ("observation", "action", "next_observation", "reward", "terminated", "done")


def emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def make_transitions(n: int, seed: int = 0) -> TensorDict:
    """``n`` CartPole-shaped transitions as a ``TensorDict[n]`` in rl4py's layout."""
    g = torch.Generator().manual_seed(seed)
    done = torch.rand(n, 1, generator=g) < 0.02
    return TensorDict(
        {
            "observation": torch.randn(n, 4, generator=g),
            "action": torch.randint(2, (n,), generator=g),
            "next": {
                "observation": torch.randn(n, 4, generator=g),
                "reward": torch.ones(n, 1),
                "terminated": done,
                "done": done.clone(),
            },
        },
        batch_size=[n],
    )


def as_dicts(td: TensorDict) -> list[dict[str, torch.Tensor]]:
    """The same transitions as per-transition dicts of tensors (what a Python-list buffer holds)."""
    columns = [td["observation"], td["action"], td["next", "observation"], td["next", "reward"]]
    columns += [td["next", "terminated"], td["next", "done"]]
    rows = [c.unbind(0) for c in columns]
    return [dict(zip(KEYS, values)) for values in zip(*rows)]


class ListBuffer:
    """The baseline: a deque of per-transition dicts, ``random.sample`` and ``torch.stack``."""

    def __init__(self, capacity: int, seed: int) -> None:
        self.items: deque[dict[str, torch.Tensor]] = deque(maxlen=capacity)
        self.rng = random.Random(seed)

    def extend(self, transitions: list[dict[str, torch.Tensor]]) -> None:
        self.items.extend(transitions)

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        batch = self.rng.sample(self.items, batch_size)
        return {key: torch.stack([t[key] for t in batch]) for key in KEYS}


def rate(items_per_call: int, fn: Callable[[], object], seconds: float) -> float:
    """Items per second of ``fn`` (each call handles ``items_per_call``), over ~``seconds``."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return items_per_call * calls / elapsed


def extend_rate(extend: Callable[[object], object], chunks: list, seconds: float) -> float:
    """Transitions per second written by ``extend`` over the prepared ``chunks`` (cycled)."""
    n_per_chunk = len(chunks[0])
    i, calls, start = 0, 0, time.perf_counter()
    while True:
        extend(chunks[i])
        i = (i + 1) % len(chunks)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n_per_chunk * calls / elapsed


def bench_buffers(seconds: float) -> None:
    data = make_transitions(CAPACITY + 4096)
    dicts = as_dicts(data)
    for extend_batch in (1, 256):
        n_chunks = 4096 // extend_batch
        td_chunks = [data[i * extend_batch : (i + 1) * extend_batch] for i in range(n_chunks)]
        dict_chunks = [dicts[i * extend_batch : (i + 1) * extend_batch] for i in range(n_chunks)]
        for library, variant in (("rl4py", "uniform"), ("rl4py", "prioritized"), ("python_list", "uniform")):
            if library == "rl4py":
                sampler = PrioritizedSampler(alpha=0.6, beta=0.4) if variant == "prioritized" else None
                buffer = ReplayBuffer(CAPACITY, sampler=sampler, seed=0)
                buffer.extend(data[:CAPACITY])  # full: sampling and wrap-around writes at steady state
                extend = extend_rate(buffer.extend, td_chunks, seconds)
                sample = rate(SAMPLE_BATCH, lambda b=buffer: b.sample(SAMPLE_BATCH), seconds)
            else:
                buffer = ListBuffer(CAPACITY, seed=0)
                buffer.extend(dicts[:CAPACITY])
                extend = extend_rate(buffer.extend, dict_chunks, seconds)
                sample = rate(SAMPLE_BATCH, lambda b=buffer: b.sample(SAMPLE_BATCH), seconds)
            record = {
                "bench": "replay_buffer",
                "library": library,
                "variant": variant,
                "capacity": CAPACITY,
                "extend_batch": extend_batch,
                "sample_batch": SAMPLE_BATCH,
                "extend_per_second": round(extend),
                "sample_per_second": round(sample),
            }
            if variant == "prioritized":
                priority = torch.rand(SAMPLE_BATCH, generator=torch.Generator().manual_seed(1))

                def step(b: ReplayBuffer = buffer, p: torch.Tensor = priority) -> None:
                    b.update_priority(b.sample(SAMPLE_BATCH)["index"], p)

                record["sample_update_per_second"] = round(rate(SAMPLE_BATCH, step, seconds))
            emit(record)


def us_per_call(fn: Callable[[], object], seconds: float) -> float:
    """Microseconds per call of ``fn``, over ~``seconds``."""
    return 1e6 / rate(1, fn, seconds)


def bench_sampler_scaling(seconds: float) -> None:
    g = torch.Generator().manual_seed(0)
    for capacity in (1_000, 10_000, 100_000, 1_000_000):
        priorities = torch.rand(capacity, dtype=torch.float64, generator=g) + 0.01
        index = torch.randint(capacity, (SAMPLE_BATCH,), generator=g)
        new = torch.rand(SAMPLE_BATCH, generator=g)
        record = {
            "bench": "replay_buffer",
            "library": "rl4py",
            "variant": "prioritized_sampler_scaling",
            "capacity": capacity,
            "batch": SAMPLE_BATCH,
            "auto_uses": "tree" if capacity > MULTINOMIAL_MAX_CAPACITY else "multinomial",
        }
        for method in ("tree", "multinomial"):
            sampler = PrioritizedSampler(method=method)
            sampler.reset(capacity)
            sampler.add(torch.arange(capacity))
            sampler.update_priority(torch.arange(capacity), priorities)

            def draw(s: PrioritizedSampler = sampler, n: int = capacity) -> None:
                s.sample(n, SAMPLE_BATCH, g)

            def update(s: PrioritizedSampler = sampler, i: torch.Tensor = index, p: torch.Tensor = new) -> None:
                s.update_priority(i, p)

            record[f"{method}_sample_us"] = round(us_per_call(draw, seconds))
            record[f"{method}_update_us"] = round(us_per_call(update, seconds))
        emit(record)


SLICES, SLICE_LEN, SLICE_ENVS = 16, 64, 16


def make_episodes(n: int, seed: int = 0) -> TensorDict:
    """``n`` transitions whose episodes end with probability 1/200 per step (plus a ``truncated`` flag)."""
    data = make_transitions(n, seed)
    done = torch.rand(n, 1, generator=torch.Generator().manual_seed(seed + 1)) < 1 / 200
    data["next", "done"], data["next", "terminated"] = done, done.clone()
    data["next", "truncated"] = torch.zeros_like(done)
    return data


def bench_slices(seconds: float) -> None:
    import logging

    from torchrl.data import LazyTensorStorage
    from torchrl.data import ReplayBuffer as TorchRLBuffer
    from torchrl.data import SliceSampler as TorchRLSliceSampler

    logging.getLogger("torchrl").setLevel(logging.WARNING)
    data = make_episodes(CAPACITY + 4096)
    chunks = [data[i * SLICE_ENVS : (i + 1) * SLICE_ENVS] for i in range(4096 // SLICE_ENVS)]
    base = {"bench": "replay_buffer", "capacity": CAPACITY, "slices": SLICES, "slice_len": SLICE_LEN}

    def rl4py_buffer(num_envs: int) -> ReplayBuffer:
        buffer = ReplayBuffer(CAPACITY, sampler=SliceSampler(SLICE_LEN, num_envs=num_envs), seed=0)
        buffer.extend(data[:CAPACITY])  # full: [k * num_envs] items, time-major
        return buffer

    def torchrl_buffer(cache_values: bool) -> TorchRLBuffer:
        sampler = TorchRLSliceSampler(slice_len=SLICE_LEN, end_key=("next", "done"), cache_values=cache_values)
        buffer = TorchRLBuffer(storage=LazyTensorStorage(CAPACITY), sampler=sampler, batch_size=SLICES * SLICE_LEN)
        buffer.extend(data[:CAPACITY])
        return buffer

    def record(library: str, variant: str, per_second: float, **extra: object) -> None:
        emit({**base, "library": library, "variant": variant, **extra, "slices_per_second": round(per_second, 1)})

    # draws only, from a full buffer
    buffer = rl4py_buffer(1)
    record("rl4py", "slice_sample", rate(SLICES, lambda: buffer.sample(SLICES), seconds), num_envs=1)
    for cache in (False, True):
        trb = torchrl_buffer(cache)
        record("torchrl", "slice_sample", rate(SLICES, trb.sample, seconds), num_envs=1, cache_values=cache)

    # one write of 16 transitions, then one draw (the starts are recomputed after every write)
    def extend_sample(buffer: object, state: list[int]) -> None:
        buffer.extend(chunks[state[0]])
        state[0] = (state[0] + 1) % len(chunks)
        buffer.sample(SLICES) if isinstance(buffer, ReplayBuffer) else buffer.sample()

    for num_envs in (1, SLICE_ENVS):  # 16 steps of one env, or one step of 16 sub-envs: same rows
        buffer, state = rl4py_buffer(num_envs), [0]
        per_second = rate(SLICES, lambda b=buffer, s=state: extend_sample(b, s), seconds)
        record("rl4py", "slice_extend_sample", per_second, num_envs=num_envs, extend_batch=SLICE_ENVS)
    trb, state = torchrl_buffer(False), [0]
    per_second = rate(SLICES, lambda: extend_sample(trb, state), seconds)
    record("torchrl", "slice_extend_sample", per_second, num_envs=1, extend_batch=SLICE_ENVS, cache_values=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.3 s per measurement instead of 1.5 s")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--part", choices=("all", "buffers", "scaling", "slices"), default="all")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = 0.3 if args.quick else 1.5
    if args.part in ("all", "buffers"):
        bench_buffers(seconds)
    if args.part in ("all", "scaling"):
        bench_sampler_scaling(seconds)
    if args.part in ("all", "slices"):
        bench_slices(seconds)


if __name__ == "__main__":
    main()
