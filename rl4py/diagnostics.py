"""Training-health checks: read an update's diagnostics and say in words when one leaves its
healthy range (policy moving too fast, critic not learning, entropy collapsing, gradients exploding).

    health = TrainingHealth()
    result = train_ppo(env, config, on_update=health.update)   # warnings go to the console as they happen
    print(health.report())

The checks read the fields the losses and :func:`~rl4py.trainers.minibatch_update` already return
(``approx_kl``, ``clip_fraction``, ``entropy``, ``explained_variance``, ``loss_critic``,
``grad_norm``, ``skipped_steps``), with or without a ``losses/`` prefix and under their logged
names too (``losses/clipfrac``, ``losses/value_loss``: :mod:`rl4py.loggers.names`); a check whose field is
missing (DQN has no ``approx_kl``) is skipped. A figure warns once it has been out of range for
``patience`` consecutive updates, and not again until it has been back in range for ``recovery``
updates: one warning per episode of badness, not one per update.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from statistics import median
from typing import TYPE_CHECKING, NamedTuple, Union

import torch
from tensordict import TensorDictBase

from rl4py.loggers.names import STAT_NAMES

if TYPE_CHECKING:
    from rl4py.loggers.base import Logger

__all__ = ["HealthThresholds", "HealthWarning", "TrainingHealth", "WARNINGS_KEY"]

_log = logging.getLogger("rl4py.diagnostics")

#: the key of the warning count (scalar) and of the warnings (text) in a logger
WARNINGS_KEY = "diagnostics/warnings"
#: logged (CleanRL) name -> rl4py stats field: ``losses/clipfrac`` is read as ``clip_fraction``
_FIELDS = {logged: field for field, logged in STAT_NAMES.items()}

Metrics = Union[Mapping[str, Union[float, torch.Tensor]], TensorDictBase]


@dataclass(frozen=True)
class HealthThresholds:
    """The healthy ranges (defaults: rules of thumb for PPO-style updates; sources per field).

    The defaults sit well outside what rl4py's PPO on CartPole shows with CleanRL's settings
    (``approx_kl`` < 0.02, ``clip_fraction`` < 0.2 after the first updates; see
    docs/guide/diagnostics.md), so a healthy run stays quiet.
    """

    approx_kl_max: float = 0.05
    """``approx_kl`` above this: the policy moves too far per update. Spinning Up's PPO stops an
    update's epochs early at 1.5 x ``target_kl`` = 0.015; SB3 and CleanRL offer the same early
    stop (``target_kl``, off by default); 0.05 is ~3x that stop."""
    clip_fraction_max: float = 0.3
    """``clip_fraction`` above this: most samples hit the clip, the surrogate stops giving a
    gradient (CleanRL's and SB3's PPO log it as ``clipfrac`` / ``clip_fraction``)."""
    explained_variance_min: float = -0.1
    """``explained_variance`` below this: the critic predicts the returns worse than a constant
    would (SB3's logger docs: "ev<0 [is] worse than just predicting zero"). 0 is the textbook line;
    a fresh critic hovers at 0 +- 0.05 for tens of updates (rl4py's PPO on CartPole), hence the margin."""
    explained_variance_patience: int = 10
    """Consecutive updates below ``explained_variance_min`` before a warning: a fresh critic starts
    near 0, so this check waits longer than the others."""
    entropy_collapse_fraction: float = 0.1
    """``entropy`` below this fraction of its highest value so far: the policy became
    near-deterministic. Checked only while that value is positive (a Gaussian policy's differential entropy may
    start below 0) and, when the run's length is known, only in the first ``early_fraction`` of it.
    Andrychowicz et al. 2021 ("What matters in on-policy RL", ICLR) find the initial policy's
    spread matters; a premature collapse stops exploration."""
    early_fraction: float = 0.25
    """Share of ``total_steps`` counted as early for the entropy check."""
    grad_norm_factor: float = 10.0
    """``grad_norm`` (before clipping) above this many times its median over the first
    ``baseline_updates`` updates: exploding gradients."""
    value_loss_factor: float = 100.0
    """``loss_critic`` above this many times its lowest value so far: the critic diverges. Returns
    that grow 10x grow a squared error 100x, so legitimate growth of the returns stays under it."""
    baseline_updates: int = 10
    """Updates that set the gradient-norm baseline (and before which the value-loss check waits)."""
    patience: int = 3
    """Consecutive out-of-range updates before a warning (the checks other than explained variance
    and non-finite values, which warn at once)."""
    severe_factor: float = 10.0
    """``approx_kl`` or ``grad_norm`` beyond this many times its limit warns at once (a learning
    rate of 1.0 makes the policy deterministic in one update: the KL spikes once, then reads 0)."""
    recovery: int = 3
    """Consecutive in-range updates before a check may warn again."""

    def __post_init__(self) -> None:
        for name in ("explained_variance_patience", "baseline_updates", "patience", "recovery"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"HealthThresholds: {name} must be an int >= 1, got {value!r}")
        if not self.severe_factor >= 1:
            raise ValueError(f"HealthThresholds: severe_factor must be >= 1, got {self.severe_factor!r}")
        for name in ("approx_kl_max", "clip_fraction_max", "grad_norm_factor", "value_loss_factor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"HealthThresholds: {name} must be > 0, got {getattr(self, name)!r}")
        for name in ("entropy_collapse_fraction", "early_fraction"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"HealthThresholds: {name} must be in (0, 1], got {getattr(self, name)!r}")


class HealthWarning(NamedTuple):
    """One warning :class:`TrainingHealth` gave."""

    step: int
    """The step (env frames) of the update that raised it."""
    check: str
    """The check: ``"approx_kl"``, ``"clip_fraction"``, ``"explained_variance"``, ``"entropy"``,
    ``"grad_norm"``, ``"value_loss"``, ``"skipped_steps"`` or ``"nonfinite_<field>"``."""
    message: str
    """The warning in words, with the advice."""


@dataclass
class _Check:
    """The hysteresis state of one check."""

    bad: int = 0  # consecutive out-of-range updates
    good: int = 0  # consecutive in-range updates since the last warning
    warned: bool = False  # inside an episode of badness that already warned


class TrainingHealth:
    """Watches an on-policy update's diagnostics and warns in words when one leaves its range.

    Call :meth:`update` after each update with its stats (the ``TensorDict`` of averaged loss
    outputs :func:`~rl4py.trainers.actor_critic_update` returns, or a mapping such as Lightning's
    logged ``losses/*`` metrics). New warnings go to ``echo`` (the ``rl4py.diagnostics`` Python
    logger by default), and, with a ``logger``, the number of problems currently active is logged
    each update as the scalar ``diagnostics/warnings`` and new warnings as text under the same key.

    Checks (field: condition -> advice):

    - any ``loss_*`` or ``grad_norm`` not finite, ``skipped_steps`` > 0: at once.
    - ``approx_kl`` > ``approx_kl_max``: policy moving too fast (at once beyond ``severe_factor`` x).
    - ``clip_fraction`` > ``clip_fraction_max``: most samples clipped.
    - ``explained_variance`` < ``explained_variance_min`` for ``explained_variance_patience`` updates:
      critic not learning.
    - ``entropy`` < ``entropy_collapse_fraction`` x its highest value, early in training: exploration collapsed.
    - ``grad_norm`` > ``grad_norm_factor`` x its early median: gradients exploding (at once beyond
      ``severe_factor`` x).
    - ``loss_critic`` > ``value_loss_factor`` x its minimum so far: value loss growing.

    Args:
        thresholds: the ranges (:class:`HealthThresholds` defaults if ``None``).
        total_steps: the run's length in the units of ``step`` (env frames), for "early"; ``None``:
            the entropy check runs throughout.
        logger: an rl4py :class:`~rl4py.loggers.Logger` for the count and the text.
        echo: called with each new warning; ``None`` logs it with ``logging.warning`` on the
            ``rl4py.diagnostics`` logger (shown on stderr unless logging is configured otherwise).

    Examples:
        >>> health = TrainingHealth(echo=lambda message: None)
        >>> for step in range(1, 5):
        ...     new = health.update({"approx_kl": 0.2, "clip_fraction": 0.1}, step=step * 1000)
        ...     print(step, [w.split(":")[0] for w in new])
        1 []
        2 []
        3 ['step 3000']
        4 []
        >>> health.active
        ['approx_kl']
    """

    def __init__(
        self,
        thresholds: HealthThresholds | None = None,
        *,
        total_steps: int | None = None,
        logger: Logger | None = None,
        echo: Callable[[str], object] | None = None,
    ) -> None:
        if thresholds is not None and not isinstance(thresholds, HealthThresholds):
            raise TypeError(f"TrainingHealth: thresholds must be a HealthThresholds, got {type(thresholds).__name__}")
        if total_steps is not None and (not isinstance(total_steps, int) or total_steps < 1):
            raise ValueError(f"TrainingHealth: total_steps must be a positive int or None, got {total_steps!r}")
        self.thresholds = thresholds or HealthThresholds()
        self.total_steps = total_steps
        self.logger = logger
        self.echo = echo if echo is not None else _log.warning
        self.updates = 0
        self.history: list[HealthWarning] = []
        """Every warning given, in order."""
        self._checks: dict[str, _Check] = {}
        self._peak_entropy: float | None = None
        self._early_grad_norms: list[float] = []
        self._min_value_loss = math.inf

    # ------------------------------------------------------------------------------ public
    @property
    def active(self) -> list[str]:
        """The checks that warned and have not recovered yet (sorted names)."""
        return sorted(name for name, check in self._checks.items() if check.warned)

    @property
    def warnings(self) -> list[str]:
        """Every warning given, in order."""
        return [warning.message for warning in self.history]

    def update(self, metrics: Metrics, step: int) -> list[str]:
        """Checks one update's figures.

        Args:
            metrics: field name (bare or ``prefix/name``) to a number or a one-element tensor; a
                ``TensorDict`` of scalars is read with one device-to-host copy.
            step: the x-axis value (env frames so far), named in the warnings.

        Returns:
            The warnings this update raised (usually none).
        """
        values = _read(metrics)
        self.updates += 1
        t = self.thresholds
        new: list[tuple[str, str]] = []

        def check(name: str, bad: bool | None, message: str, patience: int = t.patience, severe: bool = False) -> None:
            """``bad=None``: the figure is missing or not usable this update; the check waits.
            ``severe``: warn without waiting for ``patience``."""
            if bad is None:
                return
            state = self._checks.setdefault(name, _Check())
            if bad:
                state.bad += 1
                state.good = 0
                if (state.bad >= patience or severe) and not state.warned:
                    state.warned = True
                    new.append((name, f"step {step}: {message}"))
            else:
                state.bad = 0
                state.good += 1
                if state.warned and state.good >= t.recovery:
                    state.warned = False

        # non-finite losses or gradients: at once
        for name, value in values.items():
            if name.startswith("loss_") or name == "grad_norm":
                check(
                    f"nonfinite_{name}",
                    not math.isfinite(value),
                    f"{name} is {value}: the update produced non-finite values; check observations and rewards "
                    "for NaN/inf, lower the learning rate, keep max_grad_norm",
                    patience=1,
                )
        skipped = values.get("skipped_steps")
        if skipped is not None:
            check(
                "skipped_steps",
                skipped > 0,
                f"{skipped:g} optimizer step(s) skipped for non-finite loss or gradients "
                "(check inputs for NaN/inf, lower the learning rate)",
                patience=1,
            )

        kl = _finite(values.get("approx_kl"))
        check(
            "approx_kl",
            None if kl is None else kl > t.approx_kl_max,
            f"approx_kl = {kl:.3g} > {t.approx_kl_max:g}: the policy is moving too fast; lower the learning rate "
            "or the clip range, use fewer epochs, or stop epochs early at a target KL"
            if kl is not None
            else "",
            severe=kl is not None and kl > t.severe_factor * t.approx_kl_max,
        )
        clip = _finite(values.get("clip_fraction"))
        check(
            "clip_fraction",
            None if clip is None else clip > t.clip_fraction_max,
            f"clip_fraction = {clip:.3g} > {t.clip_fraction_max:g}: most samples hit "
            "the clip and give no gradient; lower the learning rate or the number of epochs"
            if clip is not None
            else "",
        )
        ev = _finite(values.get("explained_variance"))
        check(
            "explained_variance",
            None if ev is None else ev < t.explained_variance_min,
            f"explained_variance = {ev:.3g} < {t.explained_variance_min:g} for {t.explained_variance_patience} "
            "updates: the critic is not learning (it predicts returns worse than a constant); check the critic's "
            "learning rate and critic_coeff, normalize rewards, or give the critic more capacity"
            if ev is not None
            else "",
            patience=t.explained_variance_patience,
        )

        entropy = _finite(values.get("entropy"))
        early = self.total_steps is None or step <= t.early_fraction * self.total_steps
        if entropy is not None and early:
            self._peak_entropy = entropy if self._peak_entropy is None else max(self._peak_entropy, entropy)
        peak = self._peak_entropy
        usable = entropy is not None and peak is not None and peak > 0 and early
        check(
            "entropy",
            (entropy < t.entropy_collapse_fraction * peak) if usable else None,
            f"entropy = {entropy:.3g} fell below {t.entropy_collapse_fraction:g} x its highest value {peak:.3g} "
            "early in training: the policy stopped exploring; raise entropy_coeff or lower the learning rate"
            if usable
            else "",
        )

        grad = _finite(values.get("grad_norm"))
        if grad is not None and len(self._early_grad_norms) < t.baseline_updates:
            self._early_grad_norms.append(grad)
            grad = None  # still measuring the baseline
        if grad is not None:
            base = median(self._early_grad_norms)
            check(
                "grad_norm",
                grad > t.grad_norm_factor * base,
                f"grad_norm = {grad:.3g} is over {t.grad_norm_factor:g} x its early median {base:.3g}: gradients "
                "exploding; lower the learning rate, check the reward scale, keep max_grad_norm",
                severe=grad > t.severe_factor * t.grad_norm_factor * base,
            )

        value_loss = _finite(values.get("loss_critic"))
        if value_loss is not None:
            lowest = self._min_value_loss
            self._min_value_loss = min(lowest, value_loss)
            usable = self.updates > t.baseline_updates and lowest > 0 and math.isfinite(lowest)
            check(
                "value_loss",
                value_loss > t.value_loss_factor * lowest if usable else None,
                f"value loss = {value_loss:.3g} is over {t.value_loss_factor:g} x its lowest {lowest:.3g}: the critic "
                "diverges (unless the returns grew as much); lower the learning rate, normalize rewards or clip values"
                if usable
                else "",
            )

        messages = [message for _, message in new]
        for name, message in new:
            self.history.append(HealthWarning(step, name, message))
            self.echo(message)
        if self.logger is not None:
            self.logger.log_scalar(WARNINGS_KEY, float(len(self.active)), step)
            if messages:
                self.logger.log_text(WARNINGS_KEY, "\n\n".join(messages), step)
        return messages

    def report(self) -> str:
        """A summary: the warnings given, or that every figure stayed in range."""
        if not self.history:
            return f"training health: no warnings over {self.updates} updates"
        lines = [f"training health: {len(self.history)} warning(s) over {self.updates} updates"]
        lines += [f"  {message}" for message in self.warnings]
        if self.active:
            lines.append(f"  still out of range at the end: {', '.join(self.active)}")
        return "\n".join(lines)

    def state_dict(self) -> dict:
        """The checks' state (for a resumed run)."""
        return {
            "updates": self.updates,
            "history": [tuple(warning) for warning in self.history],
            "checks": {name: (c.bad, c.good, c.warned) for name, c in self._checks.items()},
            "peak_entropy": self._peak_entropy,
            "early_grad_norms": list(self._early_grad_norms),
            "min_value_loss": self._min_value_loss,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`."""
        self.updates = int(state["updates"])
        self.history = [HealthWarning(int(s), str(c), str(m)) for s, c, m in state["history"]]
        self._checks = {name: _Check(*values) for name, values in state["checks"].items()}
        self._peak_entropy = state["peak_entropy"]
        self._early_grad_norms = list(state["early_grad_norms"])
        self._min_value_loss = float(state["min_value_loss"])

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self.thresholds, f.name)
            for f in fields(HealthThresholds)
            if getattr(self.thresholds, f.name) != f.default
        }
        return f"TrainingHealth(updates={self.updates}, warnings={len(self.history)}, thresholds={changed})"


def _read(metrics: Metrics) -> dict[str, float]:
    """rl4py field name (the last ``/`` part, a logged CleanRL name mapped back) -> float; tensors read
    with one host copy."""
    if isinstance(metrics, TensorDictBase):
        items = [
            (k if isinstance(k, str) else k[-1], v) for k, v in metrics.items(include_nested=True, leaves_only=True)
        ]
    elif isinstance(metrics, Mapping):
        items = list(metrics.items())
    else:
        kind = type(metrics).__name__
        raise TypeError(f"TrainingHealth.update: metrics must be a mapping or a TensorDict, got {kind}")
    names: list[str] = []
    tensors: list[torch.Tensor] = []
    values: dict[str, float] = {}
    for key, value in items:
        if not isinstance(key, str):
            raise TypeError(f"TrainingHealth.update: metric names must be str, got {key!r}")
        name = key.rsplit("/", 1)[-1]
        name = _FIELDS.get(name, name)
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"TrainingHealth.update: {key!r} has shape {tuple(value.shape)}; every metric must be a scalar"
                )
            names.append(name)
            tensors.append(value.detach().reshape(1).to(torch.float64))
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            values[name] = float(value)
        else:
            raise TypeError(
                f"TrainingHealth.update: {key!r} must be a number or a one-element tensor, got {type(value).__name__}"
            )
    if tensors:
        host = torch.cat([t.to(tensors[0].device) for t in tensors]).tolist()
        values.update(zip(names, host))
    return values


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
