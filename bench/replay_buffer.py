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

Prints one JSON line per measurement::

    python bench/replay_buffer.py
    python bench/replay_buffer.py --quick   # fewer repetitions
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

from rl4py.data import PrioritizedSampler, ReplayBuffer
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.3 s per measurement instead of 1.5 s")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seconds = 0.3 if args.quick else 1.5
    bench_buffers(seconds)
    bench_sampler_scaling(seconds)


if __name__ == "__main__":
    main()
