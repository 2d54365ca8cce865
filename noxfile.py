"""nox sessions: tests, lint, docs, bench (``nox -s tests``)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
TORCH = "torch==2.13.0"  # the CPU wheel CI uses; a bare "torch" may pull a multi-GB CUDA build


@nox.session
def tests(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[test]")
    session.run("pytest", "-n", "2", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    session.install("mkdocs-material")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[bench]")
    session.run("python", "bench/ppo_cartpole.py", *session.posargs)
