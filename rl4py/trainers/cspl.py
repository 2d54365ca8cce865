"""Curriculum Self-Play Learning (CSPL; Ye et al. 2020, "Towards Playing Full MOBA Games with Deep
Reinforcement Learning", JueWu): specialists on fixed team compositions, distilled into one student,
which then trains on random compositions.

Three phases, each one the library's existing trainer:

1. **specialists**: :func:`~rl4py.trainers.train_ppo` of a small network on each fixed composition;
2. **distillation**: :func:`~rl4py.trainers.train_bc` of one bigger student from a teacher that
   routes each state to the specialist of its composition (:class:`CompositionRouter`), on states
   the specialists visit in their own compositions (:class:`~rl4py.losses.PolicyDistillationLoss`);
3. **student**: :func:`~rl4py.trainers.train_ppo` of the student on random compositions, starting
   from the distilled weights (a fresh critic).

The env is built by a factory called as ``make_env(num_envs=..., compositions=[...], assign=...)``
(:class:`~rl4py.envs.HeroLane` itself, or a ``functools.partial`` of it) whose envs show the
composition in the observation (``observed_composition(observation) -> [*B, k]``).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from tensordict.nn import InteractionType, set_interaction_type
from torch import nn

from rl4py import keys
from rl4py.envs.base import EnvBase
from rl4py.modules.actors import ProbabilisticActor
from rl4py.trainers.bc import BCConfig, collect_demonstrations, train_bc
from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.ppo import PPOConfig, train_ppo
from rl4py.trainers.tracking import Progress

__all__ = [
    "CSPL_PHASES",
    "CSPLConfig",
    "CSPLResult",
    "CompositionRouter",
    "composition_agreement",
    "composition_returns",
    "train_cspl",
]

#: the phases of :func:`train_cspl`, in order
CSPL_PHASES = ("specialists", "distillation", "student")

Composition = tuple[int, ...]
EnvFactory = Callable[..., EnvBase]
"""Builds an env: ``make_env(num_envs=int, compositions=list of compositions, assign="random" | "cycle")``."""


def _default_specialist() -> PPOConfig:
    return PPOConfig(num_envs=16, total_frames=20_000, rollout_length=48, lr=1e-3, num_cells=(32, 32))


def _default_distill() -> BCConfig:
    return BCConfig(num_envs=24, total_frames=12_000, rollout_length=25, epochs=4, batch_size=100, num_cells=(128, 128))


def _default_student() -> PPOConfig:
    # a small step size and clip range: the student starts from good weights and a fresh critic
    return PPOConfig(
        num_envs=16,
        total_frames=30_000,
        rollout_length=48,
        lr=1e-4,
        clip_epsilon=0.1,
        entropy_coeff=0.0,
        num_cells=(128, 128),
    )


@dataclass(frozen=True)
class CSPLConfig:
    """CSPL's three phases' configs (:func:`train_cspl`).

    The defaults fit :class:`~rl4py.envs.HeroLane`'s default task (4 hero types, teams of 2): 20k
    env steps per specialist (32x32 networks), 12k steps of distillation into a 128x128 student,
    30k steps of student PPO on random compositions (learning rate 1e-4, clip 0.1, no entropy bonus:
    a larger step from the distilled weights with a fresh critic loses return at first).
    """

    specialist: PPOConfig = field(default_factory=_default_specialist)
    """Phase 1: PPO of each specialist on its fixed composition (``total_frames`` per specialist)."""
    distill: BCConfig = field(default_factory=_default_distill)
    """Phase 2: distillation into the student (``num_cells``/``activation`` build it; the states
    come from ``num_envs`` sub-envs, sub-env ``i`` playing composition ``i mod C`` with its
    specialist: a multiple of the number of compositions ``C`` weighs them equally)."""
    student: PPOConfig = field(default_factory=_default_student)
    """Phase 3: PPO of the distilled student on random compositions (``num_cells`` builds its critic,
    and must equal ``distill.num_cells``: the actor is the distilled one)."""
    compositions: tuple[Composition, ...] | None = None
    """The compositions with a specialist (``None``: the env's whole pool, ``make_env(...).compositions``)."""
    eval_envs: int = 32
    """Sub-envs (one greedy episode each) per evaluation of a policy on one composition."""
    agreement_frames: int = 2_000
    """Env steps of each specialist's greedy play on which the distilled student's actions are compared."""
    seed: int = 0
    """Seeds every phase: specialist ``i`` trains with ``seed + i``, the distillation and the student
    with ``seed``; leave the nested configs' ``seed`` at 0."""

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raises ``TypeError``/``ValueError`` naming the first field that is wrong."""
        for name, cls in (("specialist", PPOConfig), ("distill", BCConfig), ("student", PPOConfig)):
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise TypeError(f"CSPLConfig: {name} must be a {cls.__name__}, got {type(value).__name__}")
            if value.seed != 0:
                raise ValueError(
                    f"CSPLConfig: {name}.seed={value.seed} would be ignored: CSPLConfig.seed seeds every phase; "
                    f"set CSPLConfig(seed=...) and leave {name}.seed at 0"
                )
        if tuple(self.distill.num_cells) != tuple(self.student.num_cells):
            raise ValueError(
                f"CSPLConfig: distill.num_cells={tuple(self.distill.num_cells)} and student.num_cells="
                f"{tuple(self.student.num_cells)} must be equal: phase 3 trains the distilled network"
            )
        if self.distill.activation != self.student.activation:
            raise ValueError(
                f"CSPLConfig: distill.activation={self.distill.activation!r} and student.activation="
                f"{self.student.activation!r} must be equal: phase 3 trains the distilled network"
            )
        if self.compositions is not None:
            teams = [tuple(team) for team in self.compositions]
            if not teams:
                raise ValueError("CSPLConfig: compositions is empty; give at least one, or None for the env's pool")
            for team in teams:
                if not team or not all(isinstance(t, int) and t >= 0 for t in team):
                    raise ValueError(f"CSPLConfig: each composition must be a tuple of hero ids >= 0, got {team!r}")
            if len(set(teams)) != len(teams):
                raise ValueError(f"CSPLConfig: compositions has duplicates: {teams}")
        for name in ("eval_envs", "agreement_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"CSPLConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ValueError(f"CSPLConfig: seed must be >= 0, got {self.seed}")

    def replace(self, **changes) -> CSPLConfig:
        """A copy with ``changes`` applied (checked like a new config)."""
        return dataclasses.replace(self, **changes)


class CompositionRouter(nn.Module):
    """The distillation teacher: each state's logits from the specialist of the composition it shows.

    Args:
        specialists: ``{composition: actor}``; each actor a :class:`~rl4py.modules.ProbabilisticActor`
            reading ``"observation"`` and producing one logits tensor ``[*B, sum(nvec)]``.
        observed_composition: maps observations ``[N, obs]`` to compositions ``[N, k]``
            (:meth:`rl4py.envs.HeroLane.observed_composition`).

    ``forward(observation [N, obs]) -> logits [N, sum(nvec)]``; wrap it with :meth:`as_actor`.

    Raises:
        ValueError: (forward) a state shows a composition no specialist plays.
    """

    def __init__(
        self,
        specialists: Mapping[Composition, ProbabilisticActor],
        observed_composition: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        super().__init__()
        if not specialists:
            raise ValueError("CompositionRouter: specialists is empty")
        for team, actor in specialists.items():
            if list(getattr(actor, "in_keys", ())) != [keys.OBSERVATION] or len(getattr(actor, "dist_keys", ())) != 1:
                raise TypeError(
                    f"CompositionRouter: specialist {team} must be a ProbabilisticActor reading 'observation' "
                    "with one logits output"
                )
        self.teams = [tuple(team) for team in specialists]
        self.nets = nn.ModuleList(actor.module for actor in specialists.values())
        self.register_buffer("_teams", torch.tensor(self.teams, dtype=torch.int64))
        self.observed_composition = observed_composition
        first = next(iter(specialists.values()))
        self._distribution = (first.distribution_class, dict(first.distribution_kwargs))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        flat = observation.reshape(-1, observation.shape[-1])
        shown = self.observed_composition(flat)  # [N, k]
        match = (shown.unsqueeze(1) == self._teams.unsqueeze(0)).all(-1)  # [N, C]
        unknown = ~match.any(-1)
        if bool(unknown.any()):
            team = tuple(shown[unknown.nonzero()[0, 0]].tolist())
            raise ValueError(f"CompositionRouter: a state shows composition {team}; the specialists play {self.teams}")
        index = match.long().argmax(-1)
        outputs = torch.stack([net(flat) for net in self.nets], 1)  # [N, C, sum(nvec)]
        logits = outputs[torch.arange(len(flat), device=flat.device), index]
        return logits.reshape(*observation.shape[:-1], logits.shape[-1])

    def as_actor(self) -> ProbabilisticActor:
        """A :class:`~rl4py.modules.ProbabilisticActor` over this router with the specialists' distribution."""
        cls, kwargs = self._distribution
        return ProbabilisticActor(self, distribution_class=cls, distribution_kwargs=kwargs)


@dataclass
class CSPLResult:
    """What :func:`train_cspl` trained and measured.

    Attributes:
        specialists: ``{composition: actor}`` (phase 1, or those passed in).
        distilled: the student's actor after phase 2 (a copy; ``None`` if phase 2 did not run nor was given).
        student: the student's actor after phase 3 (``None`` before phase 3).
        critic: the student's critic (phase 3).
        phases: per phase run, its figures: ``frames`` (env steps collected in the phase),
            ``seconds`` (training and evaluation), ``returns`` (``{composition: greedy return}``)
            and ``mean_return`` (their mean: the expected return on a uniformly random composition
            of the pool); the
            distillation adds ``agreement`` (``{composition: fraction of the specialist's greedy
            states where the student picks the same joint action}``).
    """

    specialists: dict[Composition, nn.Module]
    distilled: nn.Module | None = None
    student: nn.Module | None = None
    critic: nn.Module | None = None
    phases: dict[str, dict] = field(default_factory=dict)

    @property
    def total_frames(self) -> int:
        """Env steps collected by the phases this call ran (phase 1 + 2 + 3)."""
        return sum(phase["frames"] for phase in self.phases.values())


def composition_returns(
    make_env: EnvFactory,
    actor: nn.Module,
    compositions: Sequence[Composition],
    *,
    num_envs: int = 32,
    seed: int = 0,
) -> dict[Composition, float]:
    """The greedy return of ``actor`` on each composition: the mean over ``num_envs`` episodes."""
    returns = {}
    for team in compositions:
        env = make_env(num_envs=num_envs, compositions=[tuple(team)], assign="cycle")
        returns[tuple(team)] = float(evaluate_policy(env, actor, seed=seed).mean())
    return returns


def composition_agreement(
    make_env: EnvFactory,
    student: nn.Module,
    specialists: Mapping[Composition, nn.Module],
    *,
    frames: int = 2_000,
    num_envs: int = 16,
    seed: int = 0,
) -> dict[Composition, float]:
    """For each composition, the fraction of the states its specialist visits (greedy play,
    ``frames`` env steps) where ``student``'s greedy joint action equals the specialist's."""
    agreement = {}
    for team, specialist in specialists.items():
        env = make_env(num_envs=num_envs, compositions=[tuple(team)], assign="cycle")
        demos = collect_demonstrations(env, specialist, frames, seed=seed)
        expert = demos[keys.ACTION]
        with torch.no_grad(), set_interaction_type(InteractionType.DETERMINISTIC):
            picked = student(demos.exclude(keys.ACTION, keys.ACTION_LOG_PROB))[keys.ACTION]
        same = picked == expert
        agreement[tuple(team)] = float((same.all(-1) if same.dim() > 1 else same).float().mean())
    return agreement


def _figures(frames: int, start: float, returns: dict[Composition, float], **extra) -> dict:
    mean = sum(returns.values()) / len(returns) if returns else float("nan")
    return {"frames": frames, "seconds": time.perf_counter() - start, "returns": returns, "mean_return": mean, **extra}


def train_cspl(
    make_env: EnvFactory,
    config: CSPLConfig | None = None,
    *,
    specialists: Mapping[Composition, nn.Module] | None = None,
    distilled: nn.Module | None = None,
    stop_after: str | None = None,
    progress: Progress | None = None,
    progress_every: int = 10,
    on_phase: Callable[[str, dict], object] | None = None,
) -> CSPLResult:
    """Runs CSPL's three phases (see the module docstring).

    Each phase's output can be passed back in to skip it: ``specialists`` skips phase 1 for the
    compositions it covers (the others are trained), ``distilled`` skips phases 1 and 2 (the
    specialists, if given, are still evaluated).

    Args:
        make_env: builds the envs: ``make_env(num_envs=..., compositions=[...], assign="random" | "cycle")``.
        config: the phases' configs (defaults: :class:`CSPLConfig`'s).
        specialists: trained specialists ``{composition: actor}``.
        distilled: a distilled student actor (built as ``config.distill`` builds it) to start phase 3 from.
        stop_after: ``"specialists"`` or ``"distillation"`` to stop after that phase (``None``: run all).
        progress, progress_every: passed to each phase's trainer.
        on_phase: called after each phase with its name (:data:`CSPL_PHASES`) and figures.

    Returns:
        A :class:`CSPLResult`.

    Raises:
        ValueError: ``stop_after`` is not a phase, a given specialist plays a composition outside
            ``config.compositions``, or the env's observations do not show the composition.
    """
    config = config or CSPLConfig()
    if stop_after is not None and stop_after not in CSPL_PHASES[:2]:
        raise ValueError(f"train_cspl: stop_after must be None or one of {CSPL_PHASES[:2]}, got {stop_after!r}")
    probe = make_env(num_envs=1)
    if not callable(getattr(probe, "observed_composition", None)):
        raise ValueError(
            f"train_cspl: {type(probe).__name__} has no observed_composition(observation); CSPL's teacher routes "
            "each state to its composition's specialist by it"
        )
    teams = [tuple(t) for t in (config.compositions if config.compositions is not None else probe.compositions)]
    given = {tuple(t): actor for t, actor in (specialists or {}).items()}
    extra = sorted(set(given) - set(teams))
    if extra:
        raise ValueError(f"train_cspl: specialists given for compositions {extra} outside the compositions {teams}")
    result = CSPLResult(specialists=dict(given))

    def finish(name: str, figures: dict) -> None:
        result.phases[name] = figures
        if on_phase is not None:
            on_phase(name, figures)

    def returns_of(actor: nn.Module, which: Sequence[Composition]) -> dict[Composition, float]:
        return composition_returns(make_env, actor, which, num_envs=config.eval_envs, seed=config.seed + 10_000)

    # phase 1: a specialist per composition
    if distilled is None:
        start, frames = time.perf_counter(), 0
        for i, team in enumerate(teams):
            if team in given:
                continue
            env = make_env(num_envs=config.specialist.num_envs, compositions=[team], assign="cycle")
            trained = train_ppo(
                env, config.specialist.replace(seed=config.seed + i), progress=progress, progress_every=progress_every
            )
            result.specialists[team] = trained.actor
            frames += trained.frames
        specialist_returns = {team: returns_of(result.specialists[team], [team])[team] for team in teams}
        finish("specialists", _figures(frames, start, specialist_returns, trained=len(teams) - len(given)))
        if stop_after == "specialists":
            return result

        # phase 2: distil every specialist into one student on its own composition's states
        start = time.perf_counter()
        router = CompositionRouter({team: result.specialists[team] for team in teams}, probe.observed_composition)
        env = make_env(num_envs=config.distill.num_envs, compositions=teams, assign="cycle")
        distillation = train_bc(
            env,
            config.distill.replace(seed=config.seed),
            teacher=router.as_actor(),
            progress=progress,
            progress_every=progress_every,
        )
        distilled = distillation.module("student")
        agreement = composition_agreement(
            make_env,
            distilled,
            {team: result.specialists[team] for team in teams},
            frames=config.agreement_frames,
            seed=config.seed + 20_000,
        )
        finish("distillation", _figures(distillation.frames, start, returns_of(distilled, teams), agreement=agreement))
        result.distilled = distilled
        if stop_after == "distillation":
            return result
    else:
        result.distilled = distilled
        if result.specialists:
            start = time.perf_counter()
            figures = {t: returns_of(a, [t])[t] for t, a in result.specialists.items()}
            finish("specialists", _figures(0, start, figures))

    # phase 3: the student on random compositions, from the distilled weights
    start = time.perf_counter()
    env = make_env(num_envs=config.student.num_envs, compositions=teams, assign="random")
    trained = train_ppo(
        env,
        config.student.replace(seed=config.seed),
        actor=copy.deepcopy(distilled),  # the distilled network stays as it was
        progress=progress,
        progress_every=progress_every,
    )
    result.student, result.critic = trained.actor, trained.critic
    finish("student", _figures(trained.frames, start, returns_of(trained.actor, teams)))
    return result
