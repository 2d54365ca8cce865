from __future__ import annotations

import pytest
import torch

from rl4py import GAE, CartPole, PPOLoss, SyncCollector, make_discrete_actor_critic, total_loss
from rl4py.trainers import minibatch_update


def _setup(seed=0):
    torch.manual_seed(seed)
    actor, critic = make_discrete_actor_critic(4, 2)
    loss = PPOLoss(actor, critic)
    td = SyncCollector(CartPole(num_envs=8), actor, rollout_length=16, seed=seed).rollout()
    GAE(value_network=critic)(td)
    return loss, td


def test_minibatch_update_equals_manual_loop():
    loss_a, td = _setup()
    loss_b, _ = _setup()
    opt_a = torch.optim.Adam(loss_a.parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(loss_b.parameters(), lr=1e-3)
    stats = minibatch_update(
        loss_a, opt_a, td, epochs=2, num_minibatches=4, max_grad_norm=0.5, generator=torch.Generator().manual_seed(7)
    )
    # the same steps written out
    g = torch.Generator().manual_seed(7)
    flat = td.reshape(-1)
    outs = []
    for _ in range(2):
        order = torch.randperm(128, generator=g)
        for i in range(4):
            out = loss_b(flat[order[i * 32 : (i + 1) * 32]])
            opt_b.zero_grad()
            total_loss(out).backward()
            torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), 0.5)
            opt_b.step()
            outs.append(out["loss_objective"].detach())
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        torch.testing.assert_close(pa, pb)
    torch.testing.assert_close(stats["loss_objective"], torch.stack(outs).mean())


def test_minibatch_update_rejects_uneven_split():
    loss, td = _setup()
    opt = torch.optim.Adam(loss.parameters())
    with pytest.raises(ValueError, match="equal minibatches"):
        minibatch_update(loss, opt, td, num_minibatches=3)


def test_num_threads_sets_and_restores():
    from rl4py.trainers import num_threads

    before = torch.get_num_threads()
    with num_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with num_threads(None):
        assert torch.get_num_threads() == before


def test_single_minibatch_skips_shuffle_but_matches_shuffled_full_batch():
    # with one minibatch the gradient is a mean over all samples, so the order cannot matter
    loss_a, td = _setup()
    loss_b, _ = _setup()
    opt_a = torch.optim.Adam(loss_a.parameters(), lr=1e-3)
    opt_b = torch.optim.Adam(loss_b.parameters(), lr=1e-3)
    minibatch_update(loss_a, opt_a, td, epochs=1, num_minibatches=1)
    out = loss_b(td.reshape(-1)[torch.randperm(128)])
    opt_b.zero_grad()
    total_loss(out).backward()
    torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), 0.5)
    opt_b.step()
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        torch.testing.assert_close(pa, pb, atol=1e-6, rtol=1e-5)


def test_progress_reporter_reports_every_n_iterations_with_stats_and_extras():
    import time

    from tensordict import TensorDict

    from rl4py.trainers import ProgressReporter

    lines = []
    reporter = ProgressReporter(lines.append, every=2, start=time.perf_counter())
    stats = TensorDict({"loss_x": torch.tensor(0.5)}, batch_size=[])
    for iteration in range(1, 6):
        reporter.maybe_report(iteration, frames=100 * iteration, mean_return=float(iteration), stats=stats, epsilon=0.1)
    assert [line["frames"] for line in lines] == [200, 400] and reporter.history == lines
    assert lines[0]["loss_x"] == 0.5 and lines[0]["epsilon"] == 0.1 and lines[1]["mean_return"] == 4.0
    assert lines[0]["steps_per_second"] > 0
    silent = ProgressReporter(None, every=1, start=0.0)
    silent.maybe_report(1, 10, 0.0)
    assert silent.history == []
    with pytest.raises(ValueError, match="progress_every must be >= 1"):
        ProgressReporter(print, every=0, start=0.0)


def test_a_nan_advantage_stops_the_update_naming_the_term_and_leaves_the_parameters():
    from rl4py.trainers import NonFiniteLossError

    loss, td = _setup()
    td["advantage"][3, 5] = float("nan")
    before = [p.detach().clone() for p in loss.parameters()]
    opt = torch.optim.Adam(loss.parameters(), lr=1e-3)
    with pytest.raises(NonFiniteLossError, match="loss_objective=nan.*optimizer step was not taken"):
        minibatch_update(loss, opt, td, epochs=1, num_minibatches=1)
    assert all(torch.equal(a, b) for a, b in zip(before, loss.parameters()))


def test_skip_nonfinite_skips_and_counts_the_bad_steps():
    loss, td = _setup()
    td["advantage"][0, 0] = float("inf")  # every minibatch holding sample 0 is non-finite
    opt = torch.optim.SGD(loss.parameters(), lr=1e-2)
    stats = minibatch_update(
        loss, opt, td, epochs=2, num_minibatches=4, generator=torch.Generator().manual_seed(0), skip_nonfinite=True
    )
    assert stats["skipped_steps"].item() == 2  # one minibatch per epoch holds sample 0
    assert torch.isfinite(stats["loss_objective"]) and all(torch.isfinite(p).all() for p in loss.parameters())


def test_gradient_step_reports_the_norm_before_clipping_and_clips():
    from rl4py.trainers import gradient_step

    loss, td = _setup()
    opt = torch.optim.SGD(loss.parameters(), lr=0.0)
    out, stepped = gradient_step(loss, opt, td.reshape(-1), max_grad_norm=1e-3)
    params = [p for p in loss.parameters() if p.grad is not None]
    clipped = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    assert stepped and out["grad_norm"].item() > 1e-3
    assert clipped.item() == pytest.approx(1e-3, rel=1e-4)
    with pytest.raises(ValueError, match="max_grad_norm must be > 0"):
        gradient_step(loss, opt, td.reshape(-1), max_grad_norm=0.0)


def test_minibatch_size_takes_whole_minibatches_of_a_fresh_shuffle():
    loss, td = _setup()  # 128 samples
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, batch):
            seen.append(batch.shape[0])
            return self.inner(batch)

    opt = torch.optim.SGD(loss.parameters(), lr=1e-3)
    minibatch_update(Spy(loss), opt, td, epochs=2, num_minibatches=None, minibatch_size=48)
    assert seen == [48, 48, 48, 48]  # 128 // 48 = 2 per pass, the remainder left out
    with pytest.raises(ValueError, match="exactly one of num_minibatches and minibatch_size"):
        minibatch_update(loss, opt, td, num_minibatches=2, minibatch_size=4)
