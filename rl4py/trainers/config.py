"""What every trainer's config shares: the run's budget, stop rule, seed and thread settings.

Each algorithm has one frozen dataclass config (its one defaults table) that extends
:class:`TrainConfig`; the plain loop (``train_*``), the LightningModule (``config=``) and the CLI
(``--model.config.<field>``) all read it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

__all__ = ["TrainConfig", "as_config", "lightning_config"]

C = TypeVar("C", bound="TrainConfig")


@dataclass(frozen=True)
class TrainConfig:
    """The fields every trainer reads. Frames are env steps summed over all sub-envs (and, under
    Lightning, over all ranks)."""

    num_envs: int = 8
    """Sub-envs stepped together (per rank under Lightning; the plain loops use the env's own count)."""
    total_frames: int = 500_000
    """Env steps budget over all sub-envs and ranks; training stops once it is spent."""
    target_return: float | None = None
    """Stop once the mean return of the last ``window`` finished episodes reaches this."""
    window: int = 20
    """Episodes in the running mean compared with ``target_return``."""
    update_threads: int | None = None
    """torch threads during the update (``None``: unchanged); collection keeps the caller's setting."""
    seed: int = 0
    """Seeds the plain loop (networks, sampling, envs, shuffles). Lightning runs are seeded by
    ``seed_everything`` (the CLI's ``--seed_everything``) instead."""
    extra: dict = field(default_factory=dict)
    """Free-form notes carried into the result (for benchmarks)."""

    SHADOWED_BY: ClassVar[dict[tuple[str, ...], tuple[str, ...]]] = {}
    """For each set of components a caller may pass instead of building them, the fields only the
    built ones read (see :meth:`refuse_shadowed`)."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raises ``ValueError`` naming the config and the first field outside its range."""
        for name in ("num_envs", "total_frames", "window"):
            _at_least(self, name, 1)
        if self.update_threads is not None:
            _at_least(self, "update_threads", 1)

    def refuse_shadowed(self, **components: Any) -> None:
        """Raises ``ValueError`` when components are given (not ``None``) and the config also sets,
        away from its default, a field that only the built components would read: that setting
        would be dropped. Example: a ``loss`` given beside ``PPOConfig(entropy_coeff=0.0)``."""
        given = {name for name, value in components.items() if value is not None}
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for names, fields in self.SHADOWED_BY.items():
            if not set(names) <= given:
                continue
            changed = [name for name in fields if getattr(self, name) != defaults[name]]
            if changed:
                what = " and ".join(names)
                settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in changed)
                raise ValueError(
                    f"{type(self).__name__}: {settings} would be ignored: a given {what} (not built from the "
                    f"config) keeps its own settings; set them on it, or leave {', '.join(changed)} at the default"
                )

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes`` applied (checked like a new config)."""
        return dataclasses.replace(self, **changes)


def as_config(value: C | Mapping[str, Any] | None, cls: type[C]) -> C:
    """``value`` as a ``cls``: a ``cls`` as is, a mapping of its fields (e.g. a checkpoint's saved
    hyperparameters, where lists stand for tuples), or ``None`` for the defaults.

    Raises:
        TypeError: ``value`` is another kind of object, or a mapping with fields ``cls`` lacks.
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown fields {unknown}; the fields are {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
    raise TypeError(f"expected a {cls.__name__}, a mapping of its fields or None, got {type(value).__name__}")


def _at_least(config: TrainConfig, name: str, low: float) -> None:
    value = getattr(config, name)
    if value < low:
        raise ValueError(f"{type(config).__name__}: {name} must be >= {low}, got {value}")


def check_range(config: TrainConfig, name: str, low: float | None = None, high: float | None = None) -> None:
    """Raises ``ValueError`` unless ``low <= config.<name> <= high`` (a bound of ``None`` is open)."""
    value = getattr(config, name)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{type(config).__name__}: {name} must be in {bounds}, got {value}")


def lightning_config(value: C | Mapping[str, Any] | None, cls: type[C], owner: str) -> C:
    """:func:`as_config` for a LightningModule, which is seeded by ``seed_everything``: refuses a
    config whose ``seed`` is not the default (it would be silently ignored).

    Raises:
        ValueError: ``seed`` was set, naming ``owner`` and what to do instead.
    """
    config = as_config(value, cls)
    if config.seed != cls.seed:
        raise ValueError(
            f"{owner}: config.seed={config.seed} would be ignored: Lightning runs are seeded by "
            "seed_everything (the CLI's --seed_everything); leave config.seed at its default"
        )
    return config
