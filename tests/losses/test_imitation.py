from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import set_interaction_type

from rl4py import CartPole, ProbabilisticActor, SyncCollector, make_discrete_actor_critic, total_loss
from rl4py.losses.imitation import (
    TEACHER_LOGITS,
    BCLoss,
    PolicyDistillationLoss,
    bc_loss_discrete,
    bc_loss_multi_head,
    categorical_kl,
    policy_distillation_loss,
    value_distillation_loss,
)
from rl4py.testing import shift_seed
from rl4py.trainers import PPOConfig, gradient_step, train_ppo

# ---------------------------------------------------------------------------------------------
# bc_loss_discrete


@pytest.mark.parametrize("k", [2, 5, 11])
def test_uniform_policy_loss_is_ln_k(k):
    actions = torch.arange(40) % k
    loss = bc_loss_discrete(torch.zeros(40, k), actions)
    assert loss.item() == pytest.approx(math.log(k), abs=1e-6)
    # a constant shift of the logits is still uniform
    assert bc_loss_discrete(torch.full((40, k), 3.7), actions).item() == pytest.approx(math.log(k), abs=1e-6)


def test_bc_loss_discrete_by_hand():
    # probabilities [1/4, 3/4] and [1/2, 1/2]
    logits = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    assert bc_loss_discrete(logits, torch.tensor([1, 0])).item() == pytest.approx(expected, rel=1e-6)
    expected = (-math.log(0.25) - math.log(0.5)) / 2
    assert bc_loss_discrete(logits, torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-6)


def test_bc_loss_discrete_matches_torch_cross_entropy_and_its_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, 4, generator=g, requires_grad=True)  # [B, T, K]
    actions = torch.randint(0, 4, (6, 5), generator=g)
    ours = bc_loss_discrete(logits, actions)
    ref = torch.nn.functional.cross_entropy(logits.detach().reshape(-1, 4), actions.reshape(-1))
    torch.testing.assert_close(ours, ref)
    ours.backward()
    # d/dlogits of the mean cross-entropy: (softmax - onehot) / N
    expected = (logits.detach().softmax(-1) - torch.nn.functional.one_hot(actions, 4)) / actions.numel()
    torch.testing.assert_close(logits.grad, expected)


def test_perfect_and_wrong_logits():
    logits = torch.tensor([[0.0, 20.0, 0.0]]).expand(8, 3)
    assert bc_loss_discrete(logits, torch.full((8,), 1)).item() < 1e-6
    assert bc_loss_discrete(logits, torch.full((8,), 2)).item() == pytest.approx(20.0, rel=1e-4)


@pytest.mark.parametrize(
    "logits, actions, error, match",
    [
        (torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long), ValueError, r"expert_actions.*\(4,\).*got \(4, 1\)"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), ValueError, r"expert_actions.*\(4,\).*got \(5,\)"),
        (torch.zeros(4, 3), torch.zeros(4), TypeError, r"expert_actions.*integer.*float32"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), ValueError, r"expert_actions.*\[0, 2\].*\[0, 3\]"),
        (torch.zeros(4, 3), torch.tensor([0, -1, 2, 1]), ValueError, r"expert_actions.*\[0, 2\].*\[-1, 2\]"),
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), ValueError, r"expert_actions is empty"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), ValueError, r"logits.*floating"),
    ],
)
def test_bc_loss_discrete_bad_inputs(logits, actions, error, match):
    with pytest.raises(error, match=match):
        bc_loss_discrete(logits, actions)


# ---------------------------------------------------------------------------------------------
# bc_loss_multi_head


def test_multi_head_uniform_is_sum_of_ln_k():
    sizes = [11, 30, 8]
    actions = torch.stack([torch.arange(16) % k for k in sizes], dim=-1)
    loss = bc_loss_multi_head(torch.zeros(16, sum(sizes)), actions, sizes)
    assert loss.item() == pytest.approx(sum(math.log(k) for k in sizes), rel=1e-6)


def test_multi_head_is_sum_of_per_head_cross_entropies():
    g = torch.Generator().manual_seed(1)
    sizes = (3, 4, 2)
    logits = torch.randn(5, 7, 9, generator=g)  # [B, T, sum K]
    actions = torch.stack([torch.randint(0, k, (5, 7), generator=g) for k in sizes], dim=-1)
    expected = (
        torch.nn.functional.cross_entropy(logits[..., 0:3].reshape(-1, 3), actions[..., 0].reshape(-1))
        + torch.nn.functional.cross_entropy(logits[..., 3:7].reshape(-1, 4), actions[..., 1].reshape(-1))
        + torch.nn.functional.cross_entropy(logits[..., 7:9].reshape(-1, 2), actions[..., 2].reshape(-1))
    )
    torch.testing.assert_close(bc_loss_multi_head(logits, actions, sizes), expected)
    # one head is the single-head loss
    torch.testing.assert_close(
        bc_loss_multi_head(logits[..., :3], actions[..., :1], [3]), bc_loss_discrete(logits[..., :3], actions[..., 0])
    )


def test_multi_head_gradient_reaches_each_head_only_through_its_columns():
    logits = torch.zeros(4, 5, requires_grad=True)
    actions = torch.tensor([[0, 1], [1, 2], [0, 0], [1, 1]])
    bc_loss_multi_head(logits, actions, [2, 3]).backward()
    # each head's columns get (softmax - onehot) / B of that head alone
    expected_head0 = (torch.full((4, 2), 0.5) - torch.nn.functional.one_hot(actions[:, 0], 2)) / 4
    expected_head1 = (torch.full((4, 3), 1 / 3) - torch.nn.functional.one_hot(actions[:, 1], 3)) / 4
    torch.testing.assert_close(logits.grad, torch.cat([expected_head0, expected_head1], dim=-1))


@pytest.mark.parametrize(
    "logits, actions, sizes, match",
    [
        (torch.zeros(4, 7), torch.zeros(4, 2, dtype=torch.long), [3, 3], r"sum\(head_sizes\) = 6.*\(4, 7\)"),
        (torch.zeros(4, 7), torch.zeros(4, 3, dtype=torch.long), [3, 4], r"expert_actions.*\(4, 2\).*got \(4, 3\)"),
        (torch.zeros(4, 7), torch.zeros(4, dtype=torch.long), [3, 4], r"expert_actions.*\(4, 2\).*got \(4,\)"),
        (torch.zeros(4, 7), torch.zeros(4, 2, dtype=torch.long), [7, 0], r"head_sizes.*>= 1.*\[7, 0\]"),
        (torch.zeros(4, 7), torch.zeros(4, 0, dtype=torch.long), [], r"head_sizes.*non-empty"),
        (torch.zeros(4, 7), torch.tensor([[3, 0]] * 4), [3, 4], r"expert_actions\[\.\.\., 0\].*\[0, 2\].*\[3, 3\]"),
    ],
)
def test_multi_head_bad_inputs(logits, actions, sizes, match):
    with pytest.raises(ValueError, match=match):
        bc_loss_multi_head(logits, actions, sizes)


def test_multi_head_checks_each_head_against_its_own_size():
    logits = torch.zeros(4, 7)
    loss = bc_loss_multi_head(logits, torch.tensor([[0, 3]] * 4), [3, 4])  # 3 is valid in the 4-way head
    assert loss.item() == pytest.approx(math.log(3) + math.log(4), rel=1e-6)
    with pytest.raises(ValueError, match=r"expert_actions\[\.\.\., 1\].*\[0, 3\].*\[4, 4\]"):
        bc_loss_multi_head(logits, torch.tensor([[0, 4]] * 4), [3, 4])


# ---------------------------------------------------------------------------------------------
# categorical_kl


def test_categorical_kl_by_hand():
    p = torch.tensor([[0.7, 0.1, 0.1, 0.1]]).log()
    q = torch.zeros(1, 4)  # uniform
    expected = 0.7 * math.log(0.7 / 0.25) + 3 * 0.1 * math.log(0.1 / 0.25)
    assert categorical_kl(p, q).item() == pytest.approx(expected, rel=1e-5)
    assert categorical_kl(p, p).item() == pytest.approx(0.0, abs=1e-7)


def test_categorical_kl_matches_torch_distributions_and_keeps_both_gradients():
    g = torch.Generator().manual_seed(2)
    p = (torch.randn(3, 5, 6, generator=g) * 2).requires_grad_()
    q = (torch.randn(3, 5, 6, generator=g) * 2).requires_grad_()
    ours = categorical_kl(p, q)
    assert ours.shape == (3, 5)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=p.detach()), torch.distributions.Categorical(logits=q.detach())
    )
    torch.testing.assert_close(ours, ref)
    assert (ours >= 0).all()
    ours.sum().backward()
    assert p.grad.abs().sum() > 0 and q.grad.abs().sum() > 0


def test_categorical_kl_with_masked_actions_is_finite_with_finite_gradients():
    """-inf logits (a masked categorical) contribute nothing, as in torch.distributions."""
    mask = torch.tensor([[True, False, True, True], [True, True, False, False]])
    g = torch.Generator().manual_seed(4)
    p = torch.randn(2, 4, generator=g).masked_fill(~mask, float("-inf")).requires_grad_()
    q = torch.randn(2, 4, generator=g).masked_fill(~mask, float("-inf")).requires_grad_()
    ours = categorical_kl(p, q)
    ref = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=p.detach()), torch.distributions.Categorical(logits=q.detach())
    )
    torch.testing.assert_close(ours, ref)
    assert torch.isfinite(ours).all()
    ours.sum().backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()
    assert (p.grad[~mask] == 0).all() and (q.grad[~mask] == 0).all()
    # p takes an action q rules out: infinite divergence
    assert categorical_kl(torch.zeros(1, 2), torch.tensor([[0.0, float("-inf")]])).item() == float("inf")
    # masked policies distill and clone with finite losses
    loss = policy_distillation_loss(p.detach(), q, temperature=2.0, hard_weight=1.0)
    assert torch.isfinite(loss)


def test_categorical_kl_shape_mismatch():
    with pytest.raises(ValueError, match=r"q_logits.*\(2, 3\).*got \(2, 4\)"):
        categorical_kl(torch.zeros(2, 3), torch.zeros(2, 4))


# ---------------------------------------------------------------------------------------------
# policy_distillation_loss


def _logit_pair(seed: int = 3, shape: tuple[int, ...] = (16, 5)) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * 2, torch.randn(*shape, generator=g)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
@pytest.mark.parametrize("t_squared_scaling", [True, False])
def test_soft_term_matches_torch_kl_div(temperature, t_squared_scaling):
    teacher, student = _logit_pair()
    ours = policy_distillation_loss(teacher, student, temperature=temperature, t_squared_scaling=t_squared_scaling)
    ref = torch.nn.functional.kl_div(
        torch.log_softmax(student / temperature, -1),
        torch.softmax(teacher / temperature, -1),
        reduction="batchmean",
    )
    scale = temperature**2 if t_squared_scaling else 1.0
    torch.testing.assert_close(ours, scale * ref)


def test_hard_term_is_cross_entropy_to_teacher_argmax_at_temperature_one():
    teacher, student = _logit_pair(shape=(4, 6, 5))
    hard = policy_distillation_loss(teacher, student, temperature=3.0, soft_weight=0.0, hard_weight=1.0)
    ref = torch.nn.functional.cross_entropy(student.reshape(-1, 5), teacher.argmax(-1).reshape(-1))
    torch.testing.assert_close(hard, ref)
    both = policy_distillation_loss(teacher, student, temperature=3.0, soft_weight=0.5, hard_weight=2.0)
    soft = policy_distillation_loss(teacher, student, temperature=3.0)
    torch.testing.assert_close(both, 0.5 * soft + 2.0 * ref)


def test_distillation_is_zero_for_identical_logits_and_positive_otherwise():
    teacher, student = _logit_pair()
    assert policy_distillation_loss(teacher, teacher.clone(), temperature=2.0).item() == pytest.approx(0, abs=1e-6)
    assert policy_distillation_loss(teacher, student).item() > 0.1


def test_t_squared_scaling_keeps_the_gradient_size_at_high_temperature():
    """Hinton et al.: the soft gradients scale as 1/T^2; the T^2 factor undoes it."""
    teacher, student = _logit_pair(shape=(64, 5))
    teacher, student = teacher - teacher.mean(-1, keepdim=True), student - student.mean(-1, keepdim=True)
    # high-T limit of the scaled gradient for zero-mean logits: (z_s - z_t) / (K B) (logit matching)
    limit = (student - teacher) / (5 * 64)

    def grad(temperature: float, scaling: bool) -> torch.Tensor:
        z = student.clone().requires_grad_()
        policy_distillation_loss(teacher, z, temperature=temperature, t_squared_scaling=scaling).backward()
        return z.grad

    assert ((grad(100.0, True) - limit).norm() / limit.norm()).item() < 0.02
    for temperature in (5.0, 20.0):
        assert grad(temperature, True).norm().item() == pytest.approx(limit.norm().item(), rel=0.01)
        torch.testing.assert_close(grad(temperature, False) * temperature**2, grad(temperature, True))


def test_no_gradient_reaches_the_teacher():
    teacher, student = _logit_pair()
    teacher.requires_grad_()
    student.requires_grad_()
    policy_distillation_loss(teacher, student, soft_weight=1.0, hard_weight=1.0).backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, r"temperature.*> 0.*got 0\.0"),
        ({"temperature": float("inf")}, r"temperature.*got inf"),
        ({"soft_weight": -1.0}, r"soft_weight and hard_weight.*>= 0.*got -1\.0"),
        ({"hard_weight": -0.5}, r"soft_weight and hard_weight.*>= 0.*-0\.5"),
        ({"soft_weight": 0.0, "hard_weight": 0.0}, r"both 0"),
    ],
)
def test_distillation_bad_arguments(kwargs, match):
    teacher, student = _logit_pair()
    with pytest.raises(ValueError, match=match):
        policy_distillation_loss(teacher, student, **kwargs)
    actor, _ = make_discrete_actor_critic(4, 5)
    with pytest.raises(ValueError, match=match):
        PolicyDistillationLoss(actor, **kwargs)


def test_distillation_shape_mismatch():
    with pytest.raises(ValueError, match=r"student_logits.*\(3, 4\).*got \(3, 5\)"):
        policy_distillation_loss(torch.zeros(3, 4), torch.zeros(3, 5))


# ---------------------------------------------------------------------------------------------
# value_distillation_loss


def test_value_distillation_by_hand_and_teacher_gets_no_gradient():
    teacher = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    student = torch.zeros(3, requires_grad=True)
    loss = value_distillation_loss(teacher, student)
    assert loss.item() == pytest.approx(14.0 / 3.0)
    loss.backward()
    assert teacher.grad is None
    torch.testing.assert_close(student.grad, torch.tensor([-2.0, -4.0, -6.0]) / 3)


def test_value_distillation_does_not_broadcast():
    with pytest.raises(ValueError, match=r"student_values.*\(8, 1\).*got \(8,\)"):
        value_distillation_loss(torch.zeros(8, 1), torch.zeros(8))


# ---------------------------------------------------------------------------------------------
# BCLoss and one gradient step with it


def _demos(n: int = 32, seed: int = 0, t: int | None = None) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    shape = (n,) if t is None else (n, t)
    return TensorDict(
        {"observation": torch.randn(*shape, 4, generator=g), "action": torch.randint(0, 3, shape, generator=g)},
        batch_size=shape,
    )


def test_bc_loss_module_terms_diagnostics_and_gradients():
    actor, _ = make_discrete_actor_critic(4, 3)
    with torch.no_grad():
        actor.module[-1].weight.mul_(100.0)  # a non-uniform policy
    td = _demos(t=5)  # [B, T] demonstrations, unflattened
    out = BCLoss(actor)(td)
    assert set(out.keys()) == {"loss_bc", "accuracy", "entropy"}
    logits = actor.module(td["observation"])
    torch.testing.assert_close(
        out["loss_bc"], torch.nn.functional.cross_entropy(logits.flatten(0, 1).detach(), td["action"].flatten())
    )
    expected_accuracy = (logits.argmax(-1) == td["action"]).float().mean()
    torch.testing.assert_close(out["accuracy"], expected_accuracy)
    assert 0.0 < out["accuracy"].item() < 1.0
    expected_entropy = torch.distributions.Categorical(logits=logits.detach()).entropy().mean()
    torch.testing.assert_close(out["entropy"], expected_entropy)
    assert not out["accuracy"].requires_grad and not out["entropy"].requires_grad
    total_loss(out).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in actor.parameters())


def test_bc_loss_module_missing_keys_and_bad_actions():
    actor, _ = make_discrete_actor_critic(4, 3)
    with pytest.raises(KeyError, match=r"'action'.*expert"):
        BCLoss(actor)(_demos().exclude("action"))
    with pytest.raises(KeyError, match=r"'observation'.*demonstrations"):
        BCLoss(actor)(_demos().exclude("observation"))
    td = _demos()
    td["action"] = td["action"].unsqueeze(-1)  # [B, 1] instead of [B]
    with pytest.raises(ValueError, match=r"'action'.*\(32,\).*got \(32, 1\)"):
        BCLoss(actor)(td)
    with pytest.raises(TypeError, match="get_dist"):
        BCLoss(torch.nn.Linear(4, 3))


def test_bc_loss_module_reads_overridden_key():
    actor, _ = make_discrete_actor_critic(4, 3)
    td = _demos()
    moved = td.clone().rename_key_("action", "expert_action")
    torch.testing.assert_close(
        BCLoss(actor)(td)["loss_bc"], BCLoss(actor, action_key="expert_action")(moved)["loss_bc"]
    )


def _step(*args, **kwargs):
    """One update of a loss module (the trainers' gradient step), its detached outputs."""
    return gradient_step(*args, **kwargs)[0]


def test_a_gradient_step_of_bc_loss_equals_a_manual_update():
    actor, _ = make_discrete_actor_critic(4, 3)
    twin = copy.deepcopy(actor.module)
    td = _demos()
    out = _step(BCLoss(actor), torch.optim.SGD(actor.parameters(), lr=0.5), td)
    assert set(out.keys()) == {"loss_bc", "accuracy", "entropy", "grad_norm"} and not out["loss_bc"].requires_grad
    # by hand: cross-entropy, backward, one SGD step
    loss = torch.nn.functional.cross_entropy(twin(td["observation"]), td["action"])
    torch.testing.assert_close(out["loss_bc"], loss.detach())
    loss.backward()
    with torch.no_grad():
        for p_twin, p in zip(twin.parameters(), actor.parameters()):
            torch.testing.assert_close(p, p_twin - 0.5 * p_twin.grad)


def test_a_gradient_step_of_bc_loss_clips_the_global_gradient_norm():
    actor, _ = make_discrete_actor_critic(4, 3)
    before = [p.detach().clone() for p in actor.parameters()]
    out = _step(BCLoss(actor), torch.optim.SGD(actor.parameters(), lr=1.0), _demos(), max_grad_norm=1e-3)
    assert out["grad_norm"].item() > 1e-3  # the unclipped norm is reported
    step = torch.cat([(p.detach() - b).flatten() for p, b in zip(actor.parameters(), before)])
    assert step.norm().item() == pytest.approx(1e-3, rel=1e-3)  # SGD lr 1 moved by the clipped gradient
    with pytest.raises(ValueError, match=r"max_grad_norm.*> 0.*got 0"):
        _step(BCLoss(actor), torch.optim.SGD(actor.parameters(), lr=1.0), _demos(), max_grad_norm=0)


# ---------------------------------------------------------------------------------------------
# PolicyDistillationLoss


def test_distillation_module_with_teacher_or_stored_logits():
    torch.manual_seed(0)
    teacher, _ = make_discrete_actor_critic(4, 3)
    student, _ = make_discrete_actor_critic(4, 3)
    with torch.no_grad():
        teacher.module[-1].weight.mul_(200.0)
    td = _demos(t=4)
    with_module = PolicyDistillationLoss(student, teacher, temperature=2.0, hard_weight=0.5)
    out = with_module(td)
    assert set(out.keys()) == {"loss_distillation", "kl", "agreement"}
    teacher_logits = teacher.module(td["observation"]).detach()
    student_logits = student.module(td["observation"])
    expected = policy_distillation_loss(teacher_logits, student_logits, temperature=2.0, hard_weight=0.5)
    torch.testing.assert_close(out["loss_distillation"], expected)
    torch.testing.assert_close(out["kl"], categorical_kl(teacher_logits, student_logits).mean().detach())
    expected_agreement = (teacher_logits.argmax(-1) == student_logits.argmax(-1)).float().mean()
    torch.testing.assert_close(out["agreement"], expected_agreement)
    assert not out["kl"].requires_grad and not out["agreement"].requires_grad
    # the same from logits stored in the batch
    td[TEACHER_LOGITS] = teacher_logits
    stored = PolicyDistillationLoss(student, temperature=2.0, hard_weight=0.5)(td)
    torch.testing.assert_close(stored["loss_distillation"], out["loss_distillation"])
    # gradients reach the student only
    total_loss(out).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_distillation_module_with_multi_discrete_policies_sums_the_heads():
    import gymnasium as gym

    from rl4py.modules import make_actor_critic

    torch.manual_seed(0)
    obs_space, action_space = gym.spaces.Box(-1, 1, (4,)), gym.spaces.MultiDiscrete([3, 2])
    teacher, _ = make_actor_critic(obs_space, action_space, (8,))
    student, _ = make_actor_critic(obs_space, action_space, (8,))
    with torch.no_grad():
        teacher.module[-1].weight.mul_(200.0)
    td = TensorDict({"observation": torch.randn(16, 4)}, [16])
    out = PolicyDistillationLoss(student, teacher, temperature=2.0, hard_weight=0.5)(td)
    teacher_logits = teacher.module(td["observation"]).detach()
    student_logits = student.module(td["observation"])
    heads = list(zip(teacher_logits.split([3, 2], -1), student_logits.split([3, 2], -1)))
    expected = sum(policy_distillation_loss(t, s, temperature=2.0, hard_weight=0.5) for t, s in heads)
    torch.testing.assert_close(out["loss_distillation"], expected)
    torch.testing.assert_close(out["kl"], sum(categorical_kl(t, s) for t, s in heads).mean().detach())
    both = (heads[0][0].argmax(-1) == heads[0][1].argmax(-1)) & (heads[1][0].argmax(-1) == heads[1][1].argmax(-1))
    torch.testing.assert_close(out["agreement"], both.float().mean())
    assert out["agreement"] < (heads[0][0].argmax(-1) == heads[0][1].argmax(-1)).float().mean()  # not per head
    td[TEACHER_LOGITS] = teacher_logits  # the heads side by side, as the teacher's network writes them
    stored = PolicyDistillationLoss(student, temperature=2.0, hard_weight=0.5)(td)
    torch.testing.assert_close(stored["loss_distillation"], out["loss_distillation"])
    td[TEACHER_LOGITS] = teacher_logits[:, :4]
    with pytest.raises(ValueError, match="teacher logits"):
        PolicyDistillationLoss(student)(td)


def test_distillation_module_missing_teacher_logits():
    student, _ = make_discrete_actor_critic(4, 3)
    with pytest.raises(KeyError, match=r"'teacher_logits'.*teacher"):
        PolicyDistillationLoss(student)(_demos())
    with pytest.raises(TypeError, match="teacher must have a get_dist"):
        PolicyDistillationLoss(student, torch.nn.Linear(4, 3))


# ---------------------------------------------------------------------------------------------
# learning: a PPO teacher on CartPole, a BC student and a distilled student

# the benchmark's configuration at half its learning rate (steadier), as tests/integration/test_ppo_cartpole.py
TEACHER_CONFIG = PPOConfig(
    num_envs=32,
    rollout_length=32,
    lr=1e-2,
    anneal_lr=False,
    num_minibatches=1,
    epochs=6,
    entropy_coeff=0.0,
    clip_value=False,
    target_return=475,
    total_frames=250_000,
)
#: the teacher's evaluation (:func:`_evaluate`) must reach this
TEACHER_BAR = 475.0


@dataclass
class Teacher:
    actor: ProbabilisticActor
    evaluation: float
    """:func:`_evaluate` of ``actor`` (at least :data:`TEACHER_BAR`)."""


def _evaluate(actor: ProbabilisticActor, num_episodes: int = 32, seed: int = 1000) -> float:
    """Mean return of the first episode of each of ``num_episodes`` sub-envs, actions sampled.

    One rollout of 500 steps, CartPole's time limit, so every sub-env finishes its first episode.
    The env and the sampling are seeded by ``shift_seed(seed)``: the same actor gets the same score.
    """
    env = CartPole(num_envs=num_episodes)
    with torch.random.fork_rng():
        torch.manual_seed(shift_seed(seed))
        rollout = SyncCollector(env, actor, rollout_length=env.max_episode_steps, seed=shift_seed(seed)).rollout()
    done = rollout["next", "done"].squeeze(-1)
    assert done.any(-1).all()
    first_end = done.int().argmax(-1)
    returns = rollout["next", "episode_return"].squeeze(-1)[torch.arange(num_episodes), first_end]
    return returns.mean().item()


@pytest.fixture(scope="module")
def teacher() -> Teacher:
    """The first of at most 4 PPO teachers (one seed each) whose evaluation reaches 475.

    Training stops on the mean return of its last 20 episodes, a noisier and more lenient measure
    than :func:`_evaluate`. Measured (seeds 0-31, 2-core CPU): every run stops after 34k-80k
    frames (1-3 s) and 29 of 32 evaluate at 475 or more (the others 326-469), so 4 seeds all miss
    with probability ~1e-4.
    """
    misses = []
    for seed in map(shift_seed, range(4)):
        result = train_ppo(CartPole(num_envs=TEACHER_CONFIG.num_envs), replace(TEACHER_CONFIG, seed=seed))
        evaluation = _evaluate(result.actor)
        if evaluation >= TEACHER_BAR:
            return Teacher(result.actor, evaluation)
        misses.append(f"seed {seed}: {evaluation:.1f} after {result.frames} frames")
    pytest.fail(f"no teacher evaluates at {TEACHER_BAR}: {'; '.join(misses)}")


def _teacher_states(teacher: ProbabilisticActor, seed: int, deterministic: bool = False) -> TensorDict:
    """4096 transitions of the teacher, flattened (the rollout keeps the teacher's "logits")."""
    collector = SyncCollector(CartPole(num_envs=32), teacher, rollout_length=128, seed=shift_seed(seed))
    with set_interaction_type("deterministic" if deterministic else "random"):
        return collector.rollout().reshape(-1)


def _fit_until(loss, data: TensorDict, done: Callable[[], bool], max_steps: int, seed: int) -> int | None:
    """Adam steps on minibatches of 512 of ``data`` until ``done()`` (checked every 50 steps).

    Returns:
        The steps it took, or ``None`` when ``done()`` still failed after ``max_steps``.
    """
    optimizer = torch.optim.Adam(loss.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(shift_seed(seed))
    for step in range(1, max_steps + 1):
        _step(loss, optimizer, data[torch.randint(0, data.shape[0], (512,), generator=g)], max_grad_norm=1.0)
        if step % 50 == 0 and done():
            return step
    return None


@pytest.mark.slow
def test_bc_student_reaches_ninety_percent_of_the_teacher(teacher):
    """Trained until its evaluation reaches 90% of the teacher's, at most 400 steps. Measured (4
    teachers x 3 students, teachers at 500): 100 steps reach 461-500, 150 steps 479-500; an
    untrained student scores 22-25."""
    torch.manual_seed(shift_seed(0))
    # demonstrations: the teacher's most likely action (cleanest labels)
    demos = _teacher_states(teacher.actor, seed=1, deterministic=True)
    student, _ = make_discrete_actor_critic(4, 2)
    bar = 0.9 * teacher.evaluation
    # both evaluated with sampled actions, on initial states unseen in the demonstrations
    assert _evaluate(student) < bar, "the bar must be out of reach of an untrained student"
    steps = _fit_until(BCLoss(student), demos, lambda: _evaluate(student) >= bar, max_steps=400, seed=0)
    assert steps is not None, f"student {_evaluate(student):.1f} < 90% of the teacher's {teacher.evaluation:.1f}"


@pytest.mark.slow
def test_distilled_student_matches_the_teacher_distribution(teacher):
    """Trained until, on held-out states, KL(teacher || student) < 0.05 and the most likely actions
    agree on 95% of them, at most 400 steps. Measured (4 teachers x 3 students): 50 steps give a
    KL of 0.005-0.030 and 94-98% agreement, 100 steps 0.0005-0.0023 and 98-100%, from an initial
    KL of 0.21-0.51."""
    torch.manual_seed(shift_seed(0))
    train = _teacher_states(teacher.actor, seed=2)  # the teacher's own (sampled) behaviour
    held_out = _teacher_states(teacher.actor, seed=3)
    student, _ = make_discrete_actor_critic(4, 2)
    loss = PolicyDistillationLoss(student, teacher_logits_key="logits")  # the logits the teacher stored

    def held_out_fit() -> TensorDict:
        with torch.no_grad():
            return loss(held_out)

    def matches() -> bool:
        out = held_out_fit()
        return out["kl"].item() < 0.05 and out["agreement"].item() > 0.95

    # 0.05 nats is at most half the initial divergence and, by Pinsker's inequality, bounds the mean
    # total-variation distance of the action distributions by sqrt(0.05 / 2) ~ 0.16
    initial_kl = held_out_fit()["kl"].item()
    assert initial_kl > 0.1, f"the bar must be out of reach of an untrained student: initial KL {initial_kl:.3f}"
    steps = _fit_until(loss, train, matches, max_steps=400, seed=1)
    out = held_out_fit()
    assert steps is not None, f"held-out KL {out['kl'].item():.4f}, agreement {out['agreement'].item():.3f}"


def test_distilling_from_a_masked_teachers_stored_logits_is_finite_and_equals_the_live_teacher():
    import gymnasium as gym

    from rl4py.modules import make_actor_critic

    torch.manual_seed(0)
    space_obs, space_act = gym.spaces.Box(-1.0, 1.0, (4,)), gym.spaces.Discrete(3)
    teacher, _ = make_actor_critic(space_obs, space_act, masked=True)
    student, _ = make_actor_critic(space_obs, space_act, masked=True)
    td = TensorDict(
        {"observation": torch.randn(6, 4), "action_mask": torch.tensor([[True, True, False]] * 6)}, batch_size=[6]
    )
    with torch.no_grad():
        teacher(td)  # stores the network's raw "logits" (the mask is the distribution's)
    live = PolicyDistillationLoss(student, teacher=teacher)(td)
    stored = PolicyDistillationLoss(student, teacher_logits_key="logits")(td)
    assert torch.isfinite(stored["loss_distillation"]) and torch.isfinite(stored["kl"])
    torch.testing.assert_close(stored["loss_distillation"], live["loss_distillation"])


def test_teacher_runs_in_eval_mode_and_keeps_its_mode():
    from torch import nn

    torch.manual_seed(0)
    teacher = ProbabilisticActor(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.9), nn.Linear(8, 2)))
    student, _ = make_discrete_actor_critic(4, 2)
    td = TensorDict({"observation": torch.randn(16, 4)}, batch_size=[16])
    loss = PolicyDistillationLoss(student, teacher=teacher)
    teacher.train()
    first, second = loss(td)["loss_distillation"], loss(td)["loss_distillation"]
    assert torch.equal(first, second)  # dropout would make two calls differ
    assert teacher.training


def test_bc_loss_reads_actions_of_a_space_with_an_offset():
    """Discrete(3, start=-1): the expert's action -1 is logit 0 (not a negative class index)."""
    import gymnasium as gym

    from rl4py.modules import make_actor_critic

    actor, _ = make_actor_critic(gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3, start=-1))
    td = TensorDict({"observation": torch.zeros(6, 4), "action": torch.tensor([-1, 0, 1, -1, 0, 1])}, [6])
    out = BCLoss(actor)(td)
    logits = actor.get_dist(td).logits
    expected = torch.nn.functional.cross_entropy(logits, td["action"] + 1)
    torch.testing.assert_close(out["loss_bc"], expected)
