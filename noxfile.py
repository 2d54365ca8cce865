"""nox sessions: tests, lint, docs, bench, lowest, torchrl (``nox -s tests``)."""

from __future__ import annotations

import os
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.options.sessions = ["lint", "tests"]
TORCH = "torch==2.13.0"  # the CPU wheel CI uses; a bare "torch" may pull a multi-GB CUDA build
PYPROJECT = nox.project.load_toml("pyproject.toml")


def lower_bounds(extras: tuple[str, ...] = ("test",)) -> dict[str, str]:
    """``{name: lowest allowed version}`` of rl4py's dependencies and of ``extras``, from pyproject.toml.

    Every requirement there has a ``>=`` bound; one without is an error, so none goes untested.
    """
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    bounds = {}
    for line in lines:
        requirement = Requirement(line)
        lowest = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lowest) != 1:
            raise ValueError(f"pyproject.toml: {line!r} has no single '>=' lower bound")
        bounds[requirement.name] = lowest[0]
    return bounds


@nox.session
def tests(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "2", *session.posargs)


@nox.session
def lowest(session: nox.Session) -> None:
    """The fast suite with every direct dependency at the lowest version pyproject.toml allows.

    The dependencies of those dependencies resolve to their newest compatible releases. torch is
    installed first at its lower bound: on Linux x86_64 PyPI only has CUDA builds of torch (about
    3 GB to download), so ``RL4PY_LOWEST_TORCH=2.13.0`` takes the CPU wheel instead and tests all
    the other lower bounds (CI does this). Positional arguments replace ``-m "not slow"``.
    """
    bounds = lower_bounds()
    torch = os.environ.get("RL4PY_LOWEST_TORCH", bounds.pop("torch"))
    bounds.pop("torch", None)
    constraints = Path(session.create_tmp()) / "lowest-constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in bounds.items()) + f"torch=={torch}\n")
    session.install(f"torch=={torch}")
    session.install("-c", str(constraints), "-e", ".[test]")
    session.run("python", "-m", "pip", "list")
    session.run("pytest", "-n", "2", *(session.posargs or ["-m", "not slow"]))


@nox.session
def torchrl(session: nox.Session) -> None:
    """The whole suite beside the ``bench`` extra: TorchRL and Stable-Baselines3 in the same environment."""
    session.install(TORCH)
    session.install("-e", ".[test,bench]")
    session.run("python", "-c", "import rl4py, torchrl, stable_baselines3; print('rl4py, torchrl, sb3 import')")
    session.run("pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """The docs site, built strictly (a warning fails): the ``docs`` extra only, since mkdocstrings reads
    rl4py's docstrings from the source tree without importing it (no torch needed)."""
    session.install(*PYPROJECT["project"]["optional-dependencies"]["docs"])
    session.run("mkdocs", "build", "--strict", *session.posargs)  # into site/


@nox.session
def bench(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[bench]")
    session.run("python", "bench/ppo_cartpole.py", *session.posargs)
