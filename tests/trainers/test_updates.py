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


def _fused_adam(loss):
    return torch.optim.Adam(loss.parameters(), lr=1e-3, fused=True)


@pytest.fixture(params=[False, True], ids=["read-each-step", "sync-free"])
def defer(request, monkeypatch):
    """Both finiteness checks of a fused optimizer: the per-step read (CPU's) and the sync-free one."""
    import rl4py.trainers.updates as updates

    monkeypatch.setattr(updates, "_DEFER_ON_CPU", request.param)
    return request.param


def test_fused_optimizer_update_matches_the_eager_checked_one(defer):
    # a fused optimizer takes the sync-free path (found_inf, one read at the end); same steps, same stats
    loss_a, td = _setup()
    loss_b, _ = _setup()
    opt_a, opt_b = _fused_adam(loss_a), _fused_adam(loss_b)
    stats = minibatch_update(loss_a, opt_a, td, epochs=2, num_minibatches=4, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    flat = td.reshape(-1)
    outs, norms = [], []
    for _ in range(2):
        order = torch.randperm(128, generator=g)
        for i in range(4):
            out = loss_b(flat[order[i * 32 : (i + 1) * 32]])
            opt_b.zero_grad()
            total_loss(out).backward()
            norms.append(torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), 0.5))
            opt_b.step()
            outs.append(out.detach())
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0)
    expected = torch.stack(outs).mean(0)
    for key in ("loss_objective", "loss_critic", "approx_kl", "clip_fraction", "explained_variance"):
        torch.testing.assert_close(stats[key], expected[key], atol=0, rtol=0)
    torch.testing.assert_close(stats["grad_norm"], torch.stack(norms).mean(), atol=0, rtol=0)
    assert "found_inf" not in vars(opt_a)


def test_fused_optimizer_a_nan_step_raises_and_no_step_from_it_on_is_taken(defer):
    from rl4py.trainers import NonFiniteLossError

    loss_a, td = _setup()
    loss_b, _ = _setup()
    opt_a, opt_b = _fused_adam(loss_a), _fused_adam(loss_b)
    g = torch.Generator().manual_seed(5)
    order = torch.randperm(128, generator=torch.Generator().manual_seed(5))
    bad = int(order[70])  # in the third minibatch (samples 64..95) of the first pass
    td.reshape(-1)["advantage"][bad] = float("nan")
    with pytest.raises(NonFiniteLossError, match="loss_objective=nan.*grad_norm=nan.*optimizer step was not taken"):
        minibatch_update(loss_a, opt_a, td, epochs=2, num_minibatches=4, generator=g)
    # the reference: the two good steps before the bad one, nothing after
    flat = td.reshape(-1)
    for i in range(2):
        out = loss_b(flat[order[i * 32 : (i + 1) * 32]])
        opt_b.zero_grad()
        total_loss(out).backward()
        torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), 0.5)
        opt_b.step()
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        assert torch.equal(pa, pb)
    assert all(opt_a.state[p]["step"].item() == 2 for p in loss_a.parameters())


def test_fused_optimizer_skip_nonfinite_skips_only_the_bad_steps(defer):
    loss_a, td = _setup()
    loss_b, _ = _setup()
    opt_a, opt_b = _fused_adam(loss_a), _fused_adam(loss_b)
    td.reshape(-1)["advantage"][0] = float("inf")  # one minibatch per pass holds sample 0
    stats = minibatch_update(
        loss_a, opt_a, td, epochs=2, num_minibatches=4, generator=torch.Generator().manual_seed(0), skip_nonfinite=True
    )
    g = torch.Generator().manual_seed(0)
    flat = td.reshape(-1)
    kept = []
    for _ in range(2):
        order = torch.randperm(128, generator=g)
        for i in range(4):
            idx = order[i * 32 : (i + 1) * 32]
            out = loss_b(flat[idx])
            opt_b.zero_grad()
            total_loss(out).backward()
            torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), 0.5)
            if bool((idx == 0).any()):
                continue
            opt_b.step()
            kept.append(out["loss_objective"].detach())
    assert stats["skipped_steps"].item() == 2 and len(kept) == 6
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        assert torch.equal(pa, pb)
    torch.testing.assert_close(stats["loss_objective"], torch.stack(kept).mean(), atol=0, rtol=0)
    assert all(opt_a.state[p]["step"].item() == 6 for p in loss_a.parameters())


def test_fused_optimizer_every_step_skipped_gives_nan_stats(defer):
    loss, td = _setup()
    td["advantage"][0, 0] = float("nan")
    opt = _fused_adam(loss)
    before = [p.detach().clone() for p in loss.parameters()]
    stats = minibatch_update(loss, opt, td, epochs=2, num_minibatches=1, skip_nonfinite=True)
    assert stats["skipped_steps"].item() == 2 and torch.isnan(stats["loss_critic"]) and torch.isnan(stats["grad_norm"])
    assert all(torch.equal(a, b) for a, b in zip(before, loss.parameters()))


@pytest.mark.parametrize("max_norm", [1e-3, 0.5, None])
def test_gradient_step_clips_as_torch_clip_grad_norm(max_norm):
    from rl4py.trainers import gradient_step

    loss_a, td = _setup()
    loss_b, _ = _setup()
    batch = td.reshape(-1)
    opt_a = torch.optim.SGD(loss_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(loss_b.parameters(), lr=0.1)
    out, stepped = gradient_step(loss_a, opt_a, batch, max_grad_norm=max_norm)
    opt_b.zero_grad()
    total_loss(loss_b(batch)).backward()
    norm = torch.nn.utils.clip_grad_norm_(list(loss_b.parameters()), max_norm or float("inf"), foreach=True)
    opt_b.step()
    assert stepped and torch.equal(out["grad_norm"], norm)
    for pa, pb in zip(loss_a.parameters(), loss_b.parameters()):
        assert torch.equal(pa.grad, pb.grad) and torch.equal(pa, pb)
