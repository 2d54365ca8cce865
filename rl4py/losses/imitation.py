"""Imitation: behavioral cloning from demonstrations and policy / value distillation from a teacher.

The math is in plain functions on tensors (:func:`bc_loss_discrete`, :func:`bc_loss_multi_head`,
:func:`categorical_kl`, :func:`policy_distillation_loss`, :func:`value_distillation_loss`); the
loss modules (:class:`BCLoss`, :class:`PolicyDistillationLoss`) read a TensorDict and return
``loss_*`` terms plus detached diagnostics, as every :class:`~rl4py.losses.LossModule`.
Training with them is :func:`rl4py.trainers.train_bc` (one update step: :func:`rl4py.trainers.gradient_step`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from tensordict import TensorDict, TensorDictBase
from torch import distributions as D

from rl4py import keys
from rl4py.keys import NestedKey
from rl4py.losses.common import LossModule
from rl4py.modules.actors import ProbabilisticActor

__all__ = [
    "TEACHER_LOGITS",
    "BCLoss",
    "PolicyDistillationLoss",
    "bc_loss_discrete",
    "bc_loss_multi_head",
    "categorical_kl",
    "policy_distillation_loss",
    "value_distillation_loss",
]

#: default key of the teacher's logits read by :class:`PolicyDistillationLoss` without a teacher module
TEACHER_LOGITS = keys.TEACHER_LOGITS


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_same_shape(fn: str, name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{fn}: {name_b} must have the shape of {name_a} {tuple(a.shape)}, got {tuple(b.shape)} "
            "(nothing is broadcast)"
        )


def _check_not_empty(fn: str, name: str, x: torch.Tensor) -> None:
    if x.numel() == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {tuple(x.shape)}); expected at least one sample")


def _check_logits(fn: str, name: str, logits: torch.Tensor) -> None:
    if logits.dim() < 1 or not logits.is_floating_point():
        raise ValueError(
            f"{fn}: {name} must be a floating-point tensor [*B, K], got shape {tuple(logits.shape)} "
            f"and dtype {logits.dtype}"
        )


def _cross_entropy(fn: str, logits: torch.Tensor, actions: torch.Tensor, name: str) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` [*B, K] with integer ``actions`` [*B], checked."""
    _check_logits(fn, "logits", logits)
    if actions.is_floating_point() or actions.is_complex() or actions.dtype == torch.bool:
        raise TypeError(f"{fn}: {name} must hold integer action indices, got dtype {actions.dtype}")
    if actions.shape != logits.shape[:-1]:
        raise ValueError(
            f"{fn}: {name} must have the batch shape {tuple(logits.shape[:-1])} of logits {tuple(logits.shape)}, "
            f"got {tuple(actions.shape)}"
        )
    _check_not_empty(fn, name, actions)
    n = logits.shape[-1]
    # one fused reduction; out of range, cross_entropy would stop on a device-side assert on GPU
    low, high = torch.stack(torch.aminmax(actions)).tolist()  # one sync
    if low < 0 or high >= n:
        raise ValueError(f"{fn}: {name} must lie in [0, {n - 1}] ({n} logits), got values in [{low}, {high}]")
    return torch.nn.functional.cross_entropy(logits.reshape(-1, n), actions.reshape(-1).long())


def _check_distillation_args(fn: str, temperature: float, soft_weight: float, hard_weight: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"{fn}: temperature must be a finite number > 0, got {temperature}")
    if not (soft_weight >= 0 and hard_weight >= 0):
        raise ValueError(f"{fn}: soft_weight and hard_weight must be >= 0, got {soft_weight} and {hard_weight}")
    if soft_weight == 0 and hard_weight == 0:
        raise ValueError(f"{fn}: soft_weight and hard_weight are both 0; the loss would be identically 0")


def _categorical_logits(fn: str, dist: D.Distribution, role: str) -> torch.Tensor:
    logits = getattr(dist, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    heads = getattr(dist, "heads", None)
    if heads is not None:  # independent categorical heads (a MultiCategorical): their logits side by side
        return torch.cat([_categorical_logits(fn, head, role) for head in heads], -1)
    raise TypeError(
        f"{fn}: the {role}'s distribution must be categorical (have .logits, or .heads of categoricals), "
        f"got {type(dist).__name__}"
    )


def _head_sizes(dist: D.Distribution) -> list[int] | None:
    """The sizes of a multi-head distribution's heads (its ``nvec``), or ``None`` for one head."""
    return None if getattr(dist, "heads", None) is None else [int(n) for n in dist.nvec]


def _allowed(dist: D.Distribution) -> torch.Tensor | None:
    """The distribution's action mask (true = allowed), the heads' side by side; ``None`` if unmasked."""
    heads = getattr(dist, "heads", None)
    if heads is None:
        return getattr(dist, "mask", None)
    masks = [getattr(head, "mask", None) for head in heads]
    return None if any(m is None for m in masks) else torch.cat(masks, -1)


# ---------------------------------------------------------------------------------------------
# functions


def bc_loss_discrete(logits: torch.Tensor, expert_actions: torch.Tensor) -> torch.Tensor:
    """Behavioral-cloning loss for one discrete action: cross-entropy with the expert's actions.

    ``-mean_b log softmax(logits_b)[a_b]`` (``torch.nn.functional.cross_entropy``). A uniform
    policy over ``K`` actions scores exactly ``ln K``; an initial loss far above that means the
    logits or the actions are wrong.

    Args:
        logits: the student's unnormalized log-probabilities ``[*B, K]`` (``[B, K]`` usually).
        expert_actions: integer actions ``[*B]`` in ``[0, K)``.

    Returns:
        The mean over the batch, a scalar.

    Raises:
        TypeError: ``expert_actions`` is not an integer tensor.
        ValueError: mismatched shapes, an empty batch, or an action outside ``[0, K)``.

    Examples:
        >>> round(bc_loss_discrete(torch.zeros(8, 4), torch.arange(8) % 4).item(), 4)  # ln 4
        1.3863
    """
    return _cross_entropy("bc_loss_discrete", logits, expert_actions, "expert_actions")


def bc_loss_multi_head(logits: torch.Tensor, expert_actions: torch.Tensor, head_sizes: Sequence[int]) -> torch.Tensor:
    """Behavioral-cloning loss for multi-head (hierarchical or multi-discrete) actions.

    ``logits`` holds the heads side by side; head ``h`` owns the next ``head_sizes[h]`` columns
    and its action is ``expert_actions[..., h]``. The loss is the **sum over heads** of each
    head's mean cross-entropy (as rl4burn's ``bc_loss_multi_head``), i.e. the negative mean
    log-likelihood of the joint action under independent heads; a uniform policy scores
    ``sum_h ln K_h``.

    Args:
        logits: ``[*B, sum(head_sizes)]``.
        expert_actions: integer actions ``[*B, H]``, column ``h`` in ``[0, head_sizes[h])``.
        head_sizes: number of choices per head, ``H`` entries each ``>= 1``.

    Returns:
        A scalar.

    Raises:
        TypeError: ``expert_actions`` is not an integer tensor.
        ValueError: bad ``head_sizes``, mismatched shapes, or an action outside its head.
    """
    fn = "bc_loss_multi_head"
    sizes = [int(s) for s in head_sizes]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{fn}: head_sizes must be a non-empty sequence of sizes >= 1, got {list(head_sizes)}")
    _check_logits(fn, "logits", logits)
    if logits.shape[-1] != sum(sizes):
        raise ValueError(
            f"{fn}: logits must have sum(head_sizes) = {sum(sizes)} columns for head_sizes {sizes}, "
            f"got shape {tuple(logits.shape)}"
        )
    expected = (*logits.shape[:-1], len(sizes))
    if tuple(expert_actions.shape) != expected:
        raise ValueError(
            f"{fn}: expert_actions must have shape {expected} ([*B, H] with H = {len(sizes)} heads), "
            f"got {tuple(expert_actions.shape)}"
        )
    heads = logits.split(sizes, dim=-1)
    terms = [
        _cross_entropy(fn, head, expert_actions[..., h], f"expert_actions[..., {h}]") for h, head in enumerate(heads)
    ]
    return torch.stack(terms).sum()


def categorical_kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """``KL(p || q) = sum_k p_k (log p_k - log q_k)`` between categoricals given by logits.

    Both arguments are unnormalized (softmax over the last dim is applied here). Gradients flow
    into both; detach the one that is a target. Actions with ``-inf`` logits in ``p`` (masked
    out, as :class:`~rl4py.modules.distributions.MaskedCategorical`'s) contribute 0 and get a 0
    gradient, as in ``torch.distributions.kl_divergence``; an action ``p`` takes and ``q`` rules
    out gives ``inf``.

    Args:
        p_logits: ``[*B, K]``.
        q_logits: ``[*B, K]``.

    Returns:
        The per-sample divergence ``[*B]`` (``>= 0``).
    """
    _check_logits("categorical_kl", "p_logits", p_logits)
    _check_same_shape("categorical_kl", "p_logits", p_logits, "q_logits", q_logits)
    log_p = p_logits.log_softmax(-1)
    log_q = q_logits.log_softmax(-1)
    # actions p never takes (-inf logits, as a masked categorical's) contribute 0, with a 0 gradient:
    # both log-probabilities are replaced there before the product, so no 0 * inf reaches autograd
    support = log_p > float("-inf")
    zero = log_p.new_zeros(())
    log_p, log_q = torch.where(support, log_p, zero), torch.where(support, log_q, zero)
    terms = torch.nn.functional.kl_div(log_q, log_p, reduction="none", log_target=True)
    return torch.where(support, terms, zero).sum(-1)


def policy_distillation_loss(
    teacher_logits: torch.Tensor,
    student_logits: torch.Tensor,
    temperature: float = 1.0,
    soft_weight: float = 1.0,
    hard_weight: float = 0.0,
    t_squared_scaling: bool = True,
) -> torch.Tensor:
    """Policy distillation (Hinton et al., 2015): soft targets at temperature ``T`` plus hard targets.

    ``soft_weight * s * mean_b KL(softmax(z_t / T) || softmax(z_s / T))
    + hard_weight * CE(z_s, argmax z_t)`` with ``s = T^2`` when ``t_squared_scaling`` (it keeps
    the soft gradients' size independent of ``T``) else 1. The hard term uses the student's
    logits at temperature 1. The teacher's logits are detached: no gradient reaches the teacher.
    The defaults are rl4burn's ``DistillationConfig::default()``.

    Args:
        teacher_logits: ``[*B, K]``.
        student_logits: ``[*B, K]``.
        temperature: ``T > 0``; higher is softer and exposes the teacher's second choices.
        soft_weight: weight of the soft (KL) term, ``>= 0``.
        hard_weight: weight of the cross-entropy to the teacher's argmax, ``>= 0``.
        t_squared_scaling: multiply the soft term by ``T^2``.

    Returns:
        A scalar.

    Raises:
        ValueError: bad temperature or weights (both 0 included), mismatched shapes, empty batch.
    """
    fn = "policy_distillation_loss"
    _check_distillation_args(fn, temperature, soft_weight, hard_weight)
    _check_logits(fn, "teacher_logits", teacher_logits)
    _check_same_shape(fn, "teacher_logits", teacher_logits, "student_logits", student_logits)
    _check_not_empty(fn, "teacher_logits", teacher_logits)
    teacher_logits = teacher_logits.detach()
    terms = []
    if soft_weight > 0:
        soft = categorical_kl(teacher_logits / temperature, student_logits / temperature).mean()
        if t_squared_scaling:
            soft = soft * temperature**2
        terms.append(soft_weight * soft)
    if hard_weight > 0:
        k = student_logits.shape[-1]
        hard_target = teacher_logits.argmax(-1).reshape(-1)
        terms.append(hard_weight * torch.nn.functional.cross_entropy(student_logits.reshape(-1, k), hard_target))
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def value_distillation_loss(teacher_values: torch.Tensor, student_values: torch.Tensor) -> torch.Tensor:
    """Value distillation: ``mean((V_student - V_teacher)^2)``, the teacher's values detached.

    Args:
        teacher_values: any shape (``[*B, 1]`` or ``[*B]``).
        student_values: the same shape (nothing is broadcast).

    Returns:
        A scalar.
    """
    fn = "value_distillation_loss"
    _check_same_shape(fn, "teacher_values", teacher_values, "student_values", student_values)
    _check_not_empty(fn, "teacher_values", teacher_values)
    return torch.nn.functional.mse_loss(student_values, teacher_values.detach())


# ---------------------------------------------------------------------------------------------
# loss modules


class BCLoss(LossModule):
    """Behavioral cloning of a discrete policy from the expert actions in a batch.

    Terms::

        loss_bc = bc_loss_discrete(student logits, expert action)    # mean cross-entropy

    Diagnostics (detached): ``accuracy`` (fraction of samples where the policy's most likely
    action is the expert's) and ``entropy`` (mean entropy of the policy).

    Reads the actor's in-keys (``"observation"``) and ``"action"``, the expert's action
    ``[*B]`` (any batch shape: a demonstration rollout ``[B, T]`` works unflattened).

    Args:
        actor: a categorical policy; :meth:`ProbabilisticActor.get_dist` gives the distribution.
        action_key: key of the expert's actions.

    Examples:
        >>> from rl4py.modules import make_discrete_actor_critic
        >>> actor, _ = make_discrete_actor_critic(4, 2)
        >>> td = TensorDict({"observation": torch.zeros(8, 4), "action": torch.zeros(8, dtype=torch.long)}, [8])
        >>> sorted(BCLoss(actor)(td).keys())
        ['accuracy', 'entropy', 'loss_bc']
    """

    def __init__(self, actor: ProbabilisticActor, *, action_key: NestedKey = keys.ACTION) -> None:
        super().__init__()
        if not hasattr(actor, "get_dist"):
            raise TypeError(f"BCLoss: actor must have a get_dist(td) method, got {type(actor).__name__}")
        self.actor = actor
        self.action_key = action_key

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the loss on a batch of demonstrations ``td`` (any batch shape)."""
        for key in getattr(self.actor, "in_keys", ()):
            self._require(td, key, "the demonstrations (the states the expert visited)")
        expert = self._require(td, self.action_key, "the demonstrations (the expert's actions)")
        dist = self.actor.get_dist(td)
        logits = _categorical_logits("BCLoss", dist, "actor")
        # a Discrete(K, start=s) space: logit k is action s + k
        start = getattr(dist, "start", 0)
        index = expert - start if start and not expert.is_floating_point() else expert
        loss = _cross_entropy("BCLoss", logits, index, repr(self.action_key))
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == index).float().mean()
            entropy = dist.entropy().mean()
        return TensorDict({"loss_bc": loss, "accuracy": accuracy, "entropy": entropy}, batch_size=[])


class PolicyDistillationLoss(LossModule):
    """Distills a teacher's categorical policy into a student (:func:`policy_distillation_loss`).

    Terms::

        loss_distillation = soft_weight * T^2 * mean KL(teacher_T || student_T)
                            + hard_weight * CE(student, argmax teacher)

    Diagnostics (detached, at temperature 1): ``kl`` (mean ``KL(teacher || student)``) and
    ``agreement`` (fraction of samples where both policies' most likely actions agree).

    Multi-head policies (a :class:`~rl4py.modules.MultiCategorical`, ``MultiDiscrete`` actions)
    are distilled head by head: the loss and ``kl`` are sums over the heads (the joint action's,
    the heads being independent), ``agreement`` counts a sample when every head agrees, and
    stored teacher logits are the heads' side by side ``[*B, sum(nvec)]``.

    The teacher's logits come from ``teacher`` when one is given (run on the batch under
    ``torch.no_grad()``; its parameters are registered but never receive gradients, so build
    the optimizer over ``loss.student.parameters()``), otherwise from the batch entry
    ``teacher_logits_key``, written beforehand: for data the teacher collected, its stored
    ``"logits"`` (pass ``teacher_logits_key="logits"``).

    Args:
        student: the categorical policy being trained.
        teacher: optional teacher policy with ``get_dist``.
        temperature: softmax temperature ``T > 0`` of the soft term (default 1.0).
        soft_weight: weight of the soft (KL) term (default 1.0).
        hard_weight: weight of the cross-entropy to the teacher's argmax (default 0.0).
        t_squared_scaling: scale the soft term by ``T^2`` (default ``True``).
        teacher_logits_key: where the teacher's logits ``[*B, K]`` are read when ``teacher`` is
            ``None``.
    """

    def __init__(
        self,
        student: ProbabilisticActor,
        teacher: ProbabilisticActor | None = None,
        *,
        temperature: float = 1.0,
        soft_weight: float = 1.0,
        hard_weight: float = 0.0,
        t_squared_scaling: bool = True,
        teacher_logits_key: NestedKey = TEACHER_LOGITS,
    ) -> None:
        super().__init__()
        for role, module in (("student", student), ("teacher", teacher)):
            if module is not None and not hasattr(module, "get_dist"):
                raise TypeError(
                    f"PolicyDistillationLoss: {role} must have a get_dist(td) method, got {type(module).__name__}"
                )
        _check_distillation_args("PolicyDistillationLoss", temperature, soft_weight, hard_weight)
        self.student = student
        self.teacher = teacher
        self.temperature = float(temperature)
        self.soft_weight = float(soft_weight)
        self.hard_weight = float(hard_weight)
        self.t_squared_scaling = t_squared_scaling
        self.teacher_logits_key = teacher_logits_key

    def forward(self, td: TensorDictBase) -> TensorDict:
        """Computes the loss on a batch of states ``td`` (any batch shape)."""
        fn = "PolicyDistillationLoss"
        if self.teacher is not None:
            was_training = self.teacher.training
            self.teacher.eval()  # a frozen teacher: no dropout, no batch-norm statistics updates
            try:
                with torch.no_grad():
                    teacher_logits = _categorical_logits(fn, self.teacher.get_dist(td), "teacher")
            finally:
                self.teacher.train(was_training)
        else:
            teacher_logits = self._require(
                td, self.teacher_logits_key, "running the teacher over the batch (or pass teacher= to the loss)"
            )
        student_dist = self.student.get_dist(td)
        student_logits = _categorical_logits(fn, student_dist, "student")
        mask = _allowed(student_dist)
        if mask is not None:
            # stored teacher logits are the network's raw outputs (the mask is applied by the
            # distribution): without the mask they would put mass where the student has none (KL = inf)
            teacher_logits = teacher_logits.masked_fill(~mask, float("-inf"))
        _check_same_shape(fn, "teacher logits", teacher_logits, "student logits", student_logits)
        sizes = _head_sizes(student_dist) or [student_logits.shape[-1]]
        # independent heads: the sum over heads of each head's loss (bc_loss_multi_head's convention)
        pairs = list(zip(teacher_logits.split(sizes, -1), student_logits.split(sizes, -1)))
        loss = sum(
            policy_distillation_loss(
                teacher_head,
                student_head,
                temperature=self.temperature,
                soft_weight=self.soft_weight,
                hard_weight=self.hard_weight,
                t_squared_scaling=self.t_squared_scaling,
            )
            for teacher_head, student_head in pairs
        )
        with torch.no_grad():
            kl = sum(categorical_kl(t, s) for t, s in pairs).mean()
            agree = torch.stack([t.argmax(-1) == s.argmax(-1) for t, s in pairs]).all(0)
            agreement = agree.float().mean()
        return TensorDict({"loss_distillation": loss, "kl": kl, "agreement": agreement}, batch_size=[])
