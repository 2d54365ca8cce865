"""rl4py.data samplers: uniform and proportional prioritized sampling, the sum/min tree, importance weights."""

from __future__ import annotations

import math

import pytest
import torch

from rl4py.data import PrioritizedSampler, RandomSampler, Sampler
from rl4py.data.samplers import MULTINOMIAL_MAX_CAPACITY, SumMinTree

# Chi-square critical values at p = 0.001 (scipy is not a dependency). Each equals the x with
# P(chi2_df > x) = 0.001; test_critical_values checks them with torch.special.gammaincc, the
# regularized upper incomplete gamma function: P(chi2_df > x) = Q(df / 2, x / 2).
CHI2_CRITICAL_P001 = {4: 18.467, 9: 27.877, 19: 43.820}


def chi_square(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
    """Pearson's statistic sum((observed - expected)^2 / expected) of ``counts`` under ``probabilities``."""
    expected = probabilities.double() * counts.sum()
    return float(((counts.double() - expected) ** 2 / expected).sum())


def test_critical_values() -> None:
    for df, critical in CHI2_CRITICAL_P001.items():
        tail = torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64), torch.tensor(critical / 2))
        assert math.isclose(float(tail), 0.001, rel_tol=1e-3), (df, float(tail))


def test_samplers_follow_the_protocol() -> None:
    assert isinstance(RandomSampler(), Sampler)
    assert isinstance(PrioritizedSampler(), Sampler)


# ---------------------------------------------------------------------- uniform


def test_random_sampler_is_uniform() -> None:
    generator = torch.Generator().manual_seed(0)
    indices, extras = RandomSampler().sample(10, 20_000, generator)
    assert extras == {} and indices.dtype == torch.int64
    assert int(indices.min()) >= 0 and int(indices.max()) < 10
    counts = torch.bincount(indices, minlength=10)
    assert chi_square(counts, torch.full((10,), 0.1)) < CHI2_CRITICAL_P001[9]


def test_random_sampler_is_reproducible() -> None:
    a = RandomSampler().sample(100, 64, torch.Generator().manual_seed(3))[0]
    b = RandomSampler().sample(100, 64, torch.Generator().manual_seed(3))[0]
    assert torch.equal(a, b)


def test_random_sampler_has_no_priorities() -> None:
    with pytest.raises(ValueError, match=r"uniform sampling has no priorities; build the buffer with sampler="):
        RandomSampler().update_priority(torch.tensor([0]), torch.tensor([1.0]))


# ---------------------------------------------------------------------- sum/min tree


@pytest.mark.parametrize(("size", "block_size"), [(1, None), (5, 2), (37, 4), (1000, None), (3000, 16), (70_000, None)])
def test_tree_find_matches_prefix_sums(size: int, block_size: int | None) -> None:
    generator = torch.Generator().manual_seed(size)
    tree = SumMinTree(size, block_size)
    leaves = torch.rand(size, dtype=torch.float64, generator=generator)
    leaves[torch.rand(size, generator=generator) < 0.2] = 0.0  # some empty leaves
    leaves[0] = 0.5
    tree.set(torch.arange(size), leaves)
    assert math.isclose(tree.total, float(leaves.sum()), rel_tol=1e-12)
    assert tree.min == float(leaves.min())  # over the leaves that were set; unset ones are inf
    uniform = torch.rand(500, dtype=torch.float64, generator=generator)
    found = tree.find(uniform)
    # the found leaf's prefix interval holds the mass (up to round-off at interval boundaries)
    cumulative = torch.cumsum(leaves, 0)
    mass = uniform * cumulative[-1]
    low, high = cumulative[found] - leaves[found], cumulative[found]
    assert bool(((mass >= low - 1e-9) & (mass < high + 1e-9)).all())
    assert bool((leaves[found] > 0).all())
    reference = torch.searchsorted(cumulative, mass, right=True)
    assert (found == reference).float().mean() > 0.99


def test_default_block_size_grows_with_the_size() -> None:
    assert SumMinTree(1000).block_size == 16
    assert SumMinTree(100_000).block_size == 32
    assert SumMinTree(1_000_000).block_size == 64


def test_tree_set_and_fill_recompute_blocks() -> None:
    tree = SumMinTree(100, 8)
    tree.fill(0, 100, 1.0)
    tree.set(torch.tensor([3, 3, 50]), torch.tensor([5.0, 5.0, 0.25], dtype=torch.float64))  # duplicates
    tree.fill(96, 100, 2.0)  # the last, partial block
    assert tree.total == 100 - 2 + 5.0 + 0.25 + 4
    assert tree.min == 0.25
    assert torch.equal(tree.block_sums, tree.sum_leaves.view(-1, 8).sum(1))
    assert torch.equal(tree.block_mins, tree.min_leaves.view(-1, 8).amin(1))
    assert tree.sum_leaves[100:].tolist() == [0.0] * 4  # padding stays empty


def test_tree_find_at_the_total_stays_in_range() -> None:
    tree = SumMinTree(40, 4)
    tree.set(torch.arange(10), torch.ones(10, dtype=torch.float64))  # leaves 10..39 are empty
    almost_one = torch.tensor([1.0 - 2**-53], dtype=torch.float64)
    assert 0 <= int(tree.find(almost_one)) < 10
    assert 0 <= int(tree.find(torch.tensor([1.0], dtype=torch.float64))) < 40  # u == total: the round-off edge


def test_sampler_redraws_a_round_off_miss(monkeypatch) -> None:
    sampler = PrioritizedSampler(method="tree")
    sampler.reset(8)
    sampler.add(torch.arange(3))
    monkeypatch.setattr(sampler._tree, "find", lambda uniform: torch.full(uniform.shape, 6))  # an empty row
    indices, extras = sampler.sample(3, 16, torch.Generator().manual_seed(0))
    assert bool((indices < 3).all())
    assert torch.equal(extras["weight"], torch.ones(16, 1))


# ---------------------------------------------------------------------- prioritized


METHODS = pytest.mark.parametrize("method", ["tree", "multinomial"])


def test_auto_method_picks_by_capacity() -> None:
    sampler = PrioritizedSampler()
    sampler.reset(MULTINOMIAL_MAX_CAPACITY)
    assert not sampler.uses_tree
    sampler.reset(MULTINOMIAL_MAX_CAPACITY + 1)
    assert sampler.uses_tree
    forced = PrioritizedSampler(method="tree")
    forced.reset(4)
    assert forced.uses_tree


def filled_sampler(
    priorities: list[float], alpha: float = 0.6, beta: float = 0.4, capacity: int = 16, method: str = "tree"
) -> PrioritizedSampler:
    sampler = PrioritizedSampler(alpha=alpha, beta=beta, method=method)
    sampler.reset(capacity)
    n = len(priorities)
    sampler.add(torch.arange(n))
    sampler.update_priority(torch.arange(n), torch.tensor(priorities))
    return sampler


@METHODS
def test_new_items_get_max_priority(method: str) -> None:
    sampler = PrioritizedSampler(eps=1e-6, method=method)
    sampler.reset(8)
    sampler.add(torch.arange(2))
    assert sampler.priorities[:2].tolist() == [1.0, 1.0]  # before any update: 1
    sampler.update_priority(torch.tensor([0, 1]), torch.tensor([3.0, 0.5]))
    sampler.add(torch.tensor([2]))
    assert sampler.priorities[:3].tolist() == pytest.approx([3.0 + 1e-6, 0.5 + 1e-6, 3.0 + 1e-6], abs=0)
    assert sampler.priorities[3:].tolist() == [0.0] * 5
    sampler.update_priority(torch.tensor([0]), torch.tensor([0.1]))  # the max seen stays the max
    sampler.add(torch.tensor([3]))
    assert sampler.priorities[3].item() == 3.0 + 1e-6


@METHODS
def test_prioritized_frequencies_follow_p_alpha(method: str) -> None:
    priorities = [1.0, 2.0, 3.0, 4.0, 5.0]
    sampler = filled_sampler(priorities, alpha=0.6, method=method)
    p_alpha = (torch.tensor(priorities, dtype=torch.float64) + 1e-6) ** 0.6
    expected = p_alpha / p_alpha.sum()
    assert torch.allclose(sampler.probabilities()[:5], expected)
    indices, _ = sampler.sample(5, 20_000, torch.Generator().manual_seed(1))
    counts = torch.bincount(indices, minlength=5)
    assert counts.numel() == 5  # only stored rows are drawn
    assert chi_square(counts, expected) < CHI2_CRITICAL_P001[4]
    # and it is not uniform: the statistic under uniform probabilities is far above the critical value
    assert chi_square(counts, torch.full((5,), 0.2)) > 10 * CHI2_CRITICAL_P001[4]


@METHODS
def test_importance_weights_match_hand_computation(method: str) -> None:
    priorities, alpha, beta, eps = [0.5, 1.0, 2.0, 8.0], 0.7, 0.5, 1e-6
    sampler = filled_sampler(priorities, alpha=alpha, beta=beta, method=method)
    indices, extras = sampler.sample(4, 256, torch.Generator().manual_seed(2))
    weights = extras["weight"]
    assert weights.shape == (256, 1) and weights.dtype == torch.float32
    # by hand: P(i) = p_i^a / sum p^a, w_i = (N P(i))^-b / max_j (N P(j))^-b
    n = len(priorities)
    p_alpha = [(p + eps) ** alpha for p in priorities]
    probs = [x / sum(p_alpha) for x in p_alpha]
    raw = [(n * q) ** -beta for q in probs]
    hand = torch.tensor([raw[i] / max(raw) for i in indices.tolist()], dtype=torch.float32).unsqueeze(-1)
    assert torch.allclose(weights, hand, rtol=1e-6, atol=0)
    assert set(indices.tolist()) == {0, 1, 2, 3}
    assert weights[indices == 0].max().item() == 1.0  # the least likely item gets weight 1


@METHODS
def test_weights_are_one_with_beta_zero_or_equal_priorities(method: str) -> None:
    _, extras = filled_sampler([1.0, 5.0], beta=0.0, method=method).sample(2, 32, torch.Generator().manual_seed(0))
    assert torch.equal(extras["weight"], torch.ones(32, 1))
    _, extras = filled_sampler([2.0, 2.0, 2.0], method=method).sample(3, 32, torch.Generator().manual_seed(0))
    assert torch.equal(extras["weight"], torch.ones(32, 1))


@METHODS
def test_alpha_zero_is_uniform(method: str) -> None:
    sampler = filled_sampler([0.1, 1.0, 10.0, 100.0], alpha=0.0, method=method)
    assert torch.allclose(sampler.probabilities()[:4], torch.full((4,), 0.25, dtype=torch.float64))


@METHODS
def test_priority_updates_change_frequencies(method: str) -> None:
    sampler = filled_sampler([1.0] * 10, alpha=1.0, method=method)
    generator = torch.Generator().manual_seed(4)
    before = torch.bincount(sampler.sample(10, 20_000, generator)[0], minlength=10)
    assert chi_square(before, torch.full((10,), 0.1)) < CHI2_CRITICAL_P001[9]
    sampler.update_priority(torch.tensor([0, 9]), torch.tensor([[10.0], [0.0]]))  # [K, 1] like a TD error
    p = torch.tensor([10.0] + [1.0] * 8 + [0.0], dtype=torch.float64) + 1e-6
    after = torch.bincount(sampler.sample(10, 20_000, generator)[0], minlength=10)
    assert chi_square(after, p / p.sum()) < CHI2_CRITICAL_P001[9]
    assert after[0] > 5 * before[0] and after[9] <= 1


@pytest.mark.parametrize("rows", [[2, 3, 0], [3, 0, 2]])  # a wrapped ring write; any rows
@METHODS
def test_priorities_follow_the_index_not_the_position(rows: list[int], method: str) -> None:
    sampler = PrioritizedSampler(alpha=1.0, method=method)
    sampler.reset(4)
    sampler.add(torch.tensor(rows))
    assert sampler.priorities.tolist() == [1.0, 0.0, 1.0, 1.0]
    sampler.update_priority(torch.tensor([3]), torch.tensor([0.0]))
    indices, _ = sampler.sample(4, 2000, torch.Generator().manual_seed(0))
    assert set(indices.tolist()) <= {0, 2, 3} and 1 not in indices.tolist()
    assert (indices == 3).sum() < 5


@METHODS
def test_update_priority_accepts_other_dtypes_and_empty(method: str) -> None:
    sampler = filled_sampler([1.0, 1.0], method=method)
    sampler.update_priority(torch.tensor([1], dtype=torch.int32), torch.tensor([2.0], dtype=torch.float16))
    assert sampler.priorities[1].item() == pytest.approx(2.0 + 1e-6)
    sampler.update_priority(torch.tensor([], dtype=torch.int64), torch.tensor([]))  # nothing to do


@METHODS
def test_state_dict_round_trip(method: str) -> None:
    sampler = filled_sampler([1.0, 4.0, 0.5, 2.0], alpha=0.8, beta=0.3, method=method)
    restored = PrioritizedSampler()
    restored.reset(16)
    restored.load_state_dict(sampler.state_dict())
    assert torch.equal(restored.priorities, sampler.priorities)
    assert restored.max_priority == sampler.max_priority
    assert (restored.alpha, restored.beta, restored.eps, restored.method) == (0.8, 0.3, 1e-6, method)  # the state's
    a = sampler.sample(4, 64, torch.Generator().manual_seed(5))
    b = restored.sample(4, 64, torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1]["weight"], b[1]["weight"])


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": -0.1}, r"alpha must be finite and >= 0, got -0.1"),
        ({"beta": -1.0}, r"beta must be finite and >= 0, got -1.0"),
        ({"eps": 0.0}, r"eps must be finite and > 0, got 0.0"),
        ({"alpha": math.nan}, r"alpha must be finite and >= 0, got nan"),
        ({"method": "sumtree"}, r"method must be 'auto', 'tree' or 'multinomial', got 'sumtree'"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrioritizedSampler(**kwargs)


def test_reset_bad_capacity() -> None:
    with pytest.raises(ValueError, match=r"capacity must be >= 1, got 0"):
        PrioritizedSampler().reset(0)


def test_use_before_reset() -> None:
    with pytest.raises(ValueError, match=r"the sampler has capacity 0; expected reset\(capacity\) first"):
        PrioritizedSampler().add(torch.tensor([0]))
    with pytest.raises(ValueError, match=r"nothing to sample \(capacity 0, size 1\)"):
        PrioritizedSampler().sample(1, 4, torch.Generator())


BAD_UPDATES = [
    ([0, 1], [1.0], r"priority must have shape \[K\] or \[K, 1\] with K = len\(index\) = 2, got shape \(1,\)"),
    ([[0, 1]], [1.0, 1.0], r"index must be an integer tensor \[K\], got shape \(1, 2\)"),
    ([0.0], [1.0], r"index must be an integer tensor \[K\], got shape \(1,\) torch.float32"),
    ([0], [-1.0], r"priorities must be finite and >= 0, got \[-1.0\] at rows \[0\]"),
    ([1], [math.inf], r"priorities must be finite and >= 0, got \[inf\] at rows \[1\]"),
    ([0], [math.nan], r"priorities must be finite and >= 0, got \[nan\]"),
    ([16], [1.0], r"index must lie in \[0, capacity\) = \[0, 16\), got values in \[16, 16\]"),
    ([-1], [1.0], r"index must lie in \[0, capacity\)"),
    ([5], [1.0], r"rows \[5\] hold no item yet; expected rows written by extend"),
    ([0], [True], r"priority must be a real tensor, got dtype torch.bool"),
]


@pytest.mark.parametrize(("index", "priority", "message"), BAD_UPDATES)
def test_bad_update_priority(index: list, priority: list, message: str) -> None:
    sampler = filled_sampler([1.0, 1.0])
    before = sampler.priorities
    with pytest.raises(ValueError, match=message):
        sampler.update_priority(torch.tensor(index), torch.tensor(priority))
    assert torch.equal(sampler.priorities, before)  # nothing was written


def test_load_state_dict_capacity_mismatch() -> None:
    other = PrioritizedSampler()
    other.reset(8)
    with pytest.raises(ValueError, match=r"the state has capacity 16, this sampler 8"):
        other.load_state_dict(filled_sampler([1.0]).state_dict())
