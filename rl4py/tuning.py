"""Hyperparameter search over a trainer's config with optuna: ``rl4py tune``.

    rl4py tune --algo ppo --env Acrobot --space recipes/tune/ppo_space.yaml --trials 20 --jobs 2 \\
        --storage sqlite:///tune.db --frames 100000 --seeds 2

A search space is YAML (or a mapping) from config fields to distributions; a plain value fixes
the field for every trial::

    lr: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    epochs: {type: int, low: 2, high: 10}
    num_minibatches: {type: categorical, choices: [1, 2, 4, 8]}
    num_cells: {type: categorical, choices: [[64, 64], [128, 128]]}
    anneal_lr: false

Each trial trains with the plain loop (:func:`~rl4py.trainers.train_ppo` /
:func:`~rl4py.trainers.train_dqn`) once per run (``seeds`` seeds, optionally times a list of
sub-env counts), evaluates the policy ``n_evaluations`` times per run
(:func:`~rl4py.trainers.evaluate_policy`), reports each evaluation to the trial for the median
pruner, and scores the mean over runs of the mean of each run's last ``final_evaluations``
evaluations. The sampler, pruner and their defaults follow rl-baselines3-zoo's ``--optimize``
(TPE with ``n_startup_trials=10``, multivariate; ``MedianPruner(n_startup_trials,
n_warmup_steps=n_evaluations // 3)``). With an SQLite storage a study resumes where it stopped and
``jobs`` worker processes share it.

optuna is an optional dependency: ``pip install "rl4py[tune]"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from rl4py.envs.action_masks import has_action_mask
from rl4py.envs.base import EnvBase
from rl4py.envs.factory import make_env
from rl4py.trainers.actor_critic import make_networks
from rl4py.trainers.config import TrainConfig
from rl4py.trainers.dqn import DQNConfig, train_dqn
from rl4py.trainers.evaluation import evaluate_policy
from rl4py.trainers.ppo import PPOConfig, train_ppo
from rl4py.trainers.updates import NonFiniteLossError

if TYPE_CHECKING:
    import optuna

__all__ = [
    "ALGOS",
    "Objective",
    "Param",
    "best_config_yaml",
    "create_study",
    "load_space",
    "main",
    "parse_space",
    "tune",
]

PARAM_TYPES = ("float", "int", "categorical")
#: fields the tuner sets itself (the budget and the run seeds), so a space may not name them
RESERVED_FIELDS = ("total_frames", "seed")


def require_optuna() -> Any:
    """Imports optuna, or raises ``ImportError`` naming the extra that installs it."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError(
            'rl4py tune needs optuna, which is not installed: pip install "rl4py[tune]" (or pip install optuna)'
        ) from err
    return optuna


@dataclass(frozen=True)
class Param:
    """One searched config field.

    Attributes:
        name: the config field.
        type: ``"float"``, ``"int"`` or ``"categorical"``.
        low, high: the inclusive range (``float`` / ``int``).
        log: sample on a log scale (``float`` / ``int``, ``low > 0``).
        step: the grid step of an ``int`` (or ``float``) range.
        choices: the values of a ``categorical`` (lists are allowed: optuna sees them as JSON strings).
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    @property
    def encoded(self) -> bool:
        """The choices are lists or mappings, given to optuna as their JSON text."""
        return any(isinstance(c, (list, tuple, dict)) for c in self.choices)

    def suggest(self, trial: optuna.Trial) -> Any:
        """The trial's value of this field (decoded: a list choice comes back as a list)."""
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        if self.encoded:
            return json.loads(trial.suggest_categorical(self.name, [json.dumps(c) for c in self.choices]))
        return trial.suggest_categorical(self.name, list(self.choices))

    def decode(self, value: Any) -> Any:
        """A value as optuna stores it (``trial.params``) -> the config value."""
        return json.loads(value) if self.encoded else value

    def encode(self, value: Any) -> Any | None:
        """A config value -> optuna's value, or ``None`` when the value is outside this space."""
        if self.type == "categorical":
            for choice in self.choices:
                if _same(choice, value):
                    return json.dumps(choice) if self.encoded else choice
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return None
        return int(value) if self.type == "int" else float(value)


def _same(choice: Any, value: Any) -> bool:
    if isinstance(choice, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(choice) == list(value)
    return type(choice) is type(value) and choice == value


def parse_space(space: Mapping[str, Any], config_cls: type[TrainConfig] | None = None) -> tuple[dict[str, Param], dict]:
    """Splits a search-space mapping into searched :class:`Param` s and fixed values.

    Args:
        space: field -> ``{type: float|int|categorical, ...}`` (searched) or a plain value (fixed).
        config_cls: when given, every field must be one of its dataclass fields.

    Returns:
        ``(params, fixed)``.

    Raises:
        ValueError: a field is unknown or reserved (``total_frames``, ``seed``), a type is not one
            of ``float``/``int``/``categorical``, a range is missing, empty or not positive for
            ``log``, a categorical has no choices, or a distribution has keys its type does not take.
    """
    if not isinstance(space, Mapping):
        raise ValueError(f"search space: expected a mapping of config fields, got {type(space).__name__}")
    names = {f.name for f in dataclasses.fields(config_cls)} if config_cls is not None else None
    params: dict[str, Param] = {}
    fixed: dict[str, Any] = {}
    for name, spec in space.items():
        if name in RESERVED_FIELDS:
            raise ValueError(f"search space: {name!r} is set by the tuner (--frames, --seeds), not by the space")
        if names is not None and name not in names:
            raise ValueError(
                f"search space: {config_cls.__name__} has no field {name!r}; its fields are {sorted(names)}"
            )
        if isinstance(spec, Mapping) and "type" in spec:
            params[name] = _parse_param(name, spec)
        elif isinstance(spec, Mapping):
            raise ValueError(
                f"search space: {name!r} is a mapping without 'type'; a searched field needs "
                f"type: one of {list(PARAM_TYPES)}, a fixed field a plain value"
            )
        else:
            fixed[name] = tuple(spec) if isinstance(spec, list) else spec
    if not params:
        raise ValueError("search space: no searched field (a field with a 'type')")
    return params, fixed


_KEYS = {"float": {"low", "high", "log", "step"}, "int": {"low", "high", "log", "step"}, "categorical": {"choices"}}


def _parse_param(name: str, spec: Mapping[str, Any]) -> Param:
    kind = spec["type"]
    if kind not in PARAM_TYPES:
        raise ValueError(f"search space: {name!r} has type {kind!r}; expected one of {list(PARAM_TYPES)}")
    extra = set(spec) - _KEYS[kind] - {"type"}
    if extra:
        raise ValueError(f"search space: {name!r} ({kind}) takes {sorted(_KEYS[kind])}, not {sorted(extra)}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ValueError(f"search space: {name!r} (categorical) needs a non-empty list 'choices', got {choices!r}")
        return Param(name, kind, choices=tuple(choices))
    for bound in ("low", "high"):
        value = spec.get(bound)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"search space: {name!r} ({kind}) needs a number '{bound}', got {value!r}")
        if kind == "int" and int(value) != value:
            raise ValueError(f"search space: {name!r} (int) needs an integer '{bound}', got {value!r}")
    low, high, log, step = spec["low"], spec["high"], bool(spec.get("log", False)), spec.get("step")
    if not low <= high:
        raise ValueError(f"search space: {name!r} has low={low} > high={high}")
    if log and low <= 0:
        raise ValueError(f"search space: {name!r} has log: true and low={low}; a log range needs low > 0")
    if step is not None and (log or not step > 0):
        raise ValueError(f"search space: {name!r} has step={step!r}; a step must be > 0 and without log")
    return Param(name, kind, low=low, high=high, log=log, step=step)


def load_space(path: str | Path, config_cls: type[TrainConfig] | None = None) -> tuple[dict[str, Param], dict]:
    """:func:`parse_space` of a YAML file."""
    import yaml

    with open(path) as f:
        return parse_space(yaml.safe_load(f), config_cls)


# ---------------------------------------------------------------------------------------------- training


def _train_with_policy(
    algo: str, env: EnvBase, config: TrainConfig, progress: Callable[[dict], None], policy_seen: list
) -> Any:
    """Trains with the algorithm's plain loop, handing ``progress`` every iteration. The greedy
    policy under training goes into ``policy_seen`` before the first iteration: it is built here,
    from the config and seed exactly as the trainer builds it, and passed in as a component."""
    masked = has_action_mask(env)
    torch.manual_seed(config.seed)  # the trainer's network init
    if algo == "ppo":
        actor, _ = make_networks(env.single_observation_space, env.single_action_space, config, masked=masked)
        policy_seen.append(actor)
        # only the actor is given: the trainer still builds the critic from num_cells/activation
        return train_ppo(env, config, progress, progress_every=1, actor=actor)
    from rl4py import keys
    from rl4py.modules.qvalue import make_q_network

    q_network = make_q_network(
        env.single_observation_space.shape[0],
        int(env.single_action_space.n),
        config.num_cells,
        config.activation,
        keys.ACTION_MASK if masked else None,
    )
    policy_seen.append(q_network)
    # the network fields are spent on the network built above; the rest of the config is the trial's
    defaults = DQNConfig()
    config = config.replace(num_cells=defaults.num_cells, activation=defaults.activation)
    return train_dqn(env, config, progress, progress_every=1, q_network=q_network)


ALGOS: dict[str, tuple[type[TrainConfig], str]] = {
    "ppo": (PPOConfig, "rl4py.trainers.PPOModule"),
    "dqn": (DQNConfig, "rl4py.trainers.DQNModule"),
}
"""The tunable algorithms: config class and the LightningModule a best-config snippet names."""


class TrialPrunedError(Exception):
    """Raised inside a run to stop it (turned into ``optuna.TrialPruned`` by the objective)."""


@dataclass(frozen=True)
class Objective:
    """Scores a trial: trains one run per seed (and per sub-env count in ``num_envs``) and returns
    the mean over runs of each run's last ``final_evaluations`` evaluation returns.

    Attributes:
        algo: ``"ppo"`` or ``"dqn"``.
        env: a native env name or a gymnasium id (:func:`~rl4py.envs.make_env`).
        params: the searched fields.
        fixed: fields set for every trial.
        frames: env steps per run (the config's ``total_frames``).
        seeds: runs per sub-env count; run ``k`` of a trial uses seed ``seed + k``.
        num_envs: sub-env counts to run each trial on (robustness to the count); empty: the
            config's ``num_envs`` (searched, fixed or default).
        n_evaluations: evaluations per run, evenly spaced over ``frames`` (the last at the end).
        final_evaluations: the evaluations at the end of a run that score it.
        eval_episodes: episodes per evaluation (one per sub-env of the evaluation env).
        deterministic: evaluate the policy's mode (greedy), not samples.
        seed: the first run seed.
        eval_max_steps: step limit of an evaluation episode.
    """

    algo: str
    env: str
    params: dict[str, Param]
    fixed: dict = field(default_factory=dict)
    frames: int = 100_000
    seeds: int = 1
    num_envs: tuple[int, ...] = ()
    n_evaluations: int = 10
    final_evaluations: int = 3
    eval_episodes: int = 8
    deterministic: bool = True
    seed: int = 0
    eval_max_steps: int = 10_000

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"Objective: unknown algo {self.algo!r}; expected one of {sorted(ALGOS)}")
        for name in ("frames", "seeds", "n_evaluations", "final_evaluations", "eval_episodes", "eval_max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"Objective: {name} must be >= 1, got {getattr(self, name)}")
        if self.final_evaluations > self.n_evaluations:
            raise ValueError(
                f"Objective: final_evaluations={self.final_evaluations} exceeds n_evaluations={self.n_evaluations}"
            )
        if any(n < 1 for n in self.num_envs):
            raise ValueError(f"Objective: num_envs must all be >= 1, got {list(self.num_envs)}")
        if self.num_envs and "num_envs" in self.params:
            raise ValueError("Objective: num_envs is both searched (in the space) and given as a list to run on")
        self.config_cls(**self.fixed)  # fixed values are checked before any trial

    @property
    def config_cls(self) -> type[TrainConfig]:
        return ALGOS[self.algo][0]

    @property
    def runs(self) -> list[tuple[int | None, int]]:
        """``(num_envs or None, seed)`` of each run of a trial."""
        counts = self.num_envs or (None,)
        return [(n, self.seed + k) for k, n in enumerate(n for n in counts for _ in range(self.seeds))]

    def config(self, values: Mapping[str, Any], num_envs: int | None = None, seed: int | None = None) -> TrainConfig:
        """The config of a run: defaults, then ``fixed``, then the trial's decoded ``values``."""
        changes = {**self.fixed, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}}
        if num_envs is not None:
            changes["num_envs"] = num_envs
        return self.config_cls(**changes, total_frames=self.frames, seed=self.seed if seed is None else seed)

    def run(
        self, config: TrainConfig, report: Callable[[float, int], None] | None = None, step_offset: int = 0
    ) -> dict:
        """Trains one run with ``config`` and evaluates it ``n_evaluations`` times.

        Args:
            config: the run's config (its ``num_envs``, ``total_frames`` and ``seed`` are used).
            report: called with ``(mean evaluation return, step)`` after each evaluation, the step
                counting from ``step_offset``; it may raise to stop the run.
            step_offset: the first evaluation's step.

        Returns:
            ``{"score", "evaluations" [(frames, mean return)], "frames", "seconds"}``.
        """
        env = make_env(self.env, num_envs=config.num_envs)
        eval_env = make_env(self.env, num_envs=self.eval_episodes)
        policies: list = []
        evaluations: list[tuple[int, float]] = []
        every = self.frames / self.n_evaluations

        def evaluate(frames: int) -> None:
            with torch.random.fork_rng(devices=[]):
                returns = evaluate_policy(
                    eval_env,
                    policies[0],
                    max_steps=self.eval_max_steps,
                    deterministic=self.deterministic,
                    seed=1_000_003 + config.seed,
                )
            value = float(returns.float().mean())
            evaluations.append((frames, value))
            if report is not None:
                report(value, step_offset + len(evaluations) - 1)

        def progress(line: dict) -> None:
            frames = int(line["frames"])
            while len(evaluations) < self.n_evaluations and frames >= (len(evaluations) + 1) * every - 1e-9:
                evaluate(frames)

        start = time.perf_counter()
        result = _train_with_policy(self.algo, env, config, progress, policies)
        while len(evaluations) < self.n_evaluations:  # stopped early (target_return): the final policy
            evaluate(result.frames)
        env.close()
        eval_env.close()
        final = [value for _, value in evaluations[-self.final_evaluations :]]
        return {
            "score": sum(final) / len(final),
            "evaluations": evaluations,
            "frames": result.frames,
            "seconds": time.perf_counter() - start,
        }

    def __call__(self, trial: optuna.Trial) -> float:
        optuna = require_optuna()
        values = {name: param.suggest(trial) for name, param in self.params.items()}
        scores = []
        try:
            for k, (num_envs, seed) in enumerate(self.runs):
                config = self.config(values, num_envs, seed)

                def report(value: float, step: int) -> None:
                    trial.report(value, step)
                    if trial.should_prune():
                        raise TrialPrunedError(f"pruned at step {step} (evaluation return {value:.2f})")

                out = self.run(config, report, step_offset=k * self.n_evaluations)
                scores.append(out["score"])
                run = {"num_envs": config.num_envs, "seed": seed, "score": out["score"], "frames": out["frames"]}
                trial.set_user_attr(f"run{k:03d}", run)
        except TrialPrunedError as err:
            trial.set_user_attr("reason", str(err))
            raise optuna.TrialPruned(str(err)) from None
        except (ValueError, NonFiniteLossError) as err:  # an invalid combination or a diverging run
            trial.set_user_attr("reason", f"{type(err).__name__}: {err}")
            raise optuna.TrialPruned(str(err)) from None
        return sum(scores) / len(scores)

    def decode(self, params: Mapping[str, Any]) -> dict:
        """optuna's ``trial.params`` -> config values."""
        return {name: self.params[name].decode(value) for name, value in params.items() if name in self.params}

    def baseline(self) -> dict:
        """optuna params for today's defaults (with ``fixed``), for the fields whose default lies in the space."""
        defaults = self.config_cls(**self.fixed)
        encoded = {name: param.encode(getattr(defaults, name)) for name, param in self.params.items()}
        return {name: value for name, value in encoded.items() if value is not None}


# ---------------------------------------------------------------------------------------------- study


def create_study(
    storage: str | None,
    study_name: str,
    *,
    n_startup_trials: int = 10,
    n_evaluations: int = 10,
    seed: int = 0,
    worker: int = 0,
) -> optuna.Study:
    """Creates or loads (``load_if_exists``) a maximizing study with rl-zoo's sampler and pruner:
    ``TPESampler(n_startup_trials, multivariate=True)`` and ``MedianPruner(n_startup_trials,
    n_warmup_steps=n_evaluations // 3)``.

    The sampler's seed mixes ``seed``, the trials already in the study and ``worker``, so a
    resumed study and parallel workers do not draw the same random start-up trials again.
    An ``sqlite:///`` storage waits up to 60 s for a lock (parallel workers write to it), and its
    running trials beat every 60 s: one silent for 180 s (its worker was killed) is marked FAIL
    when the study next runs.
    """
    optuna = require_optuna()
    import numpy as np

    if storage is not None and storage.startswith("sqlite"):
        # heartbeats: the trials of a killed worker are marked FAIL when the study resumes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(
                storage, engine_kwargs={"connect_args": {"timeout": 60}}, heartbeat_interval=60, grace_period=180
            )
    existing = 0
    if storage is not None:
        study = optuna.create_study(storage=storage, study_name=study_name, load_if_exists=True, direction="maximize")
        existing = len(study.trials)
    sampler_seed = int(np.random.SeedSequence([seed, existing, worker]).generate_state(1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate TPE
        sampler = optuna.samplers.TPESampler(n_startup_trials=n_startup_trials, seed=sampler_seed, multivariate=True)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials, n_warmup_steps=n_evaluations // 3)
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        load_if_exists=True,
        direction="maximize",
        sampler=sampler,
        pruner=pruner,
    )


def trial_line(trial: optuna.trial.FrozenTrial) -> dict:
    """A finished trial as one JSON-able dict: number, state, value, params, runs, reason, seconds."""
    seconds = (
        (trial.datetime_complete - trial.datetime_start).total_seconds()
        if trial.datetime_complete and trial.datetime_start
        else None
    )
    line = {
        "trial": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "seconds": round(seconds, 2) if seconds is not None else None,
        "runs": [trial.user_attrs[k] for k in sorted(trial.user_attrs) if k.startswith("run")],
    }
    if trial.intermediate_values:
        line["last_step"] = trial.last_step
        line["last_report"] = trial.intermediate_values[trial.last_step]
    if "reason" in trial.user_attrs:
        line["reason"] = trial.user_attrs["reason"]
    return line


def _print_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    print(json.dumps(trial_line(trial)), flush=True)


def _optimize(
    objective: Objective, storage: str | None, study_name: str, trials: int, options: dict, worker: int
) -> None:
    """One worker: its share of the trials on the shared study."""
    torch.set_num_threads(options.pop("threads"))
    require_optuna().logging.set_verbosity(options.pop("verbosity"))
    study = create_study(storage, study_name, worker=worker, n_evaluations=objective.n_evaluations, **options)
    study.optimize(objective, n_trials=trials, callbacks=[_print_trial])


def tune(
    objective: Objective,
    trials: int,
    *,
    storage: str | None = None,
    study_name: str | None = None,
    jobs: int = 1,
    n_startup_trials: int = 10,
    seed: int = 0,
    baseline: bool = True,
    threads: int | None = 1,
) -> optuna.Study:
    """Adds ``trials`` trials of ``objective`` to a study (created, or resumed from ``storage``)
    and returns it; prints one JSON line per finished trial.

    Args:
        objective: what a trial trains and scores.
        trials: trials this call adds (over all workers).
        storage: an optuna storage URL (``sqlite:///tune.db``); ``None``: in memory.
        study_name: the study's name in the storage (default ``"<algo>-<env>"``).
        jobs: worker processes sharing ``storage`` (> 1 needs a storage).
        n_startup_trials: random trials before TPE samples, and completed trials before pruning.
        seed: the sampler's seed.
        baseline: a new study's first trial is today's defaults (the fields inside the space).
        threads: torch threads of each worker (``None``: unchanged in this process).

    Raises:
        ValueError: ``trials`` or ``jobs`` < 1, or ``jobs`` > 1 without a storage.
    """
    optuna = require_optuna()
    if trials < 1 or jobs < 1:
        raise ValueError(f"tune: trials and jobs must be >= 1, got trials={trials}, jobs={jobs}")
    if jobs > 1 and storage is None:
        raise ValueError("tune: jobs > 1 runs worker processes that share a storage; pass storage='sqlite:///FILE.db'")
    study_name = study_name or f"{objective.algo}-{objective.env}"
    options = {"n_startup_trials": n_startup_trials, "seed": seed}
    study = create_study(storage, study_name, n_evaluations=objective.n_evaluations, **options)
    if baseline and not study.trials:
        study.enqueue_trial(objective.baseline())
    shares = [trials // jobs + (w < trials % jobs) for w in range(jobs)]
    if jobs == 1:
        with _threads(threads):
            study.optimize(objective, n_trials=trials, callbacks=[_print_trial])
        return study
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    worker_options = {**options, "threads": threads or 1, "verbosity": optuna.logging.get_verbosity()}
    workers = [
        context.Process(
            target=_optimize,
            args=(objective, storage, study_name, share, worker_options, w),
        )
        for w, share in enumerate(shares)
        if share
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    failed = [w.exitcode for w in workers if w.exitcode]
    if failed:
        raise RuntimeError(f"tune: {len(failed)} worker process(es) failed (exit codes {failed}); see their output")
    return create_study(storage, study_name, n_evaluations=objective.n_evaluations, **options)


class _threads:
    """Sets torch's thread count inside the block (``None``: unchanged)."""

    def __init__(self, n: int | None) -> None:
        self.n = n

    def __enter__(self) -> None:
        self.saved = torch.get_num_threads()
        if self.n is not None:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


def best_config(study: optuna.Study, objective: Objective) -> dict:
    """The best completed trial's config fields: ``fixed`` then the trial's params."""
    return {**objective.fixed, **objective.decode(study.best_trial.params)}


def best_config_yaml(study: optuna.Study, objective: Objective) -> str:
    """The best trial as a recipe snippet (``model: {class_path, init_args: {env, config}}``) for
    ``rl4py fit --config``; the header comment names the study, the trial and its score.

    Raises:
        ValueError: the study has no completed trial.
    """
    import yaml

    optuna = require_optuna()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name!r} has no completed trial yet")
    best = study.best_trial
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in best_config(study, objective).items()}
    snippet = {"model": {"class_path": ALGOS[objective.algo][1], "init_args": {"env": objective.env, "config": config}}}
    header = (
        f"# rl4py tune: study {study.study_name!r}, best of {len(complete)} completed trials: trial {best.number}, "
        f"mean evaluation return {best.value:.2f}\n"
        f"# ({len(objective.runs)} run(s) x {objective.frames} frames"
        + (f", num_envs {list(objective.num_envs)}" if objective.num_envs else "")
        + ")\n"
    )
    return header + yaml.safe_dump(snippet, sort_keys=False)


# ---------------------------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rl4py tune",
        description="Search a trainer's hyperparameters with optuna (TPE sampler, median pruner); "
        "prints a JSON line per trial and the best config as a recipe snippet.",
    )
    p.add_argument("--algo", choices=sorted(ALGOS), default="ppo", help="the trainer (default ppo)")
    p.add_argument("--env", required=True, help="a native env (Acrobot, CartPole, ...) or a gymnasium id")
    p.add_argument("--space", required=True, help="the search space, a YAML file (see rl4py.tuning)")
    p.add_argument("--trials", type=int, default=20, help="trials this call adds to the study (default 20)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes sharing --storage (default 1)")
    p.add_argument("--storage", default=None, help="optuna storage URL, e.g. sqlite:///tune.db (resumable)")
    p.add_argument("--study-name", default=None, help="study name in the storage (default <algo>-<env>)")
    p.add_argument("--frames", type=int, default=100_000, help="env steps per run (default 100000)")
    p.add_argument("--seeds", type=int, default=1, help="runs per trial (per sub-env count), seeds 0..N-1")
    p.add_argument(
        "--num-envs", type=int, nargs="+", default=(), help="run every trial on each of these sub-env counts"
    )
    p.add_argument("--n-evaluations", type=int, default=10, help="evaluations per run (default 10)")
    p.add_argument("--final-evaluations", type=int, default=3, help="last evaluations that score a run (default 3)")
    p.add_argument("--eval-episodes", type=int, default=8, help="episodes per evaluation (default 8)")
    p.add_argument("--stochastic-eval", action="store_true", help="evaluate sampled actions, not the greedy ones")
    p.add_argument("--startup-trials", type=int, default=10, help="random trials before TPE and pruning (default 10)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed and first run seed (default 0)")
    p.add_argument("--no-baseline", action="store_true", help="do not start a new study with today's defaults")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker (default 1)")
    p.add_argument("--best-out", default=None, help="also write the best config snippet to this YAML file")
    return p


def main(args: Sequence[str] | None = None) -> optuna.Study:
    """``rl4py tune``: runs (or resumes) a study and prints the best config as YAML; returns the study."""
    parser = _parser()
    options = parser.parse_args(sys.argv[1:] if args is None else list(args))
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the JSON lines report each trial
    config_cls = ALGOS[options.algo][0]
    try:
        params, fixed = load_space(options.space, config_cls)
        objective = Objective(
            options.algo,
            options.env,
            params,
            fixed,
            frames=options.frames,
            seeds=options.seeds,
            num_envs=tuple(options.num_envs),
            n_evaluations=options.n_evaluations,
            final_evaluations=options.final_evaluations,
            eval_episodes=options.eval_episodes,
            deterministic=not options.stochastic_eval,
            seed=options.seed,
        )
        study = tune(
            objective,
            options.trials,
            storage=options.storage,
            study_name=options.study_name,
            jobs=options.jobs,
            n_startup_trials=options.startup_trials,
            seed=options.seed,
            baseline=not options.no_baseline,
            threads=options.threads,
        )
    except (ValueError, OSError) as err:
        parser.error(str(err))
    try:
        snippet = best_config_yaml(study, objective)
    except ValueError as err:
        print(f"# {err}")
        return study
    print(snippet, end="")
    if options.best_out:
        Path(options.best_out).write_text(snippet)
    return study


if __name__ == "__main__":
    main()
