from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import rl4py


def test_stable_names_are_reexported():
    from rl4py import GAE, CartPole, PPOLoss, SyncCollector  # noqa: F401

    for name in rl4py.__all__:
        assert getattr(rl4py, name) is not None, name


def test_no_logger_shares_its_name_with_a_lightning_logger():
    # the recipes configure lightning.pytorch.loggers.TensorBoardLogger; rl4py's plain-loop one is
    # TensorBoardWriter, so a name means one thing
    import lightning.pytorch.loggers as lightning_loggers

    import rl4py.loggers

    assert hasattr(rl4py, "TensorBoardWriter") and rl4py.TensorBoardWriter is rl4py.loggers.TensorBoardWriter
    assert not hasattr(rl4py, "TensorBoardLogger") and not hasattr(rl4py.loggers, "TensorBoardLogger")
    shared = set(rl4py.loggers.__all__) & set(lightning_loggers.__all__)
    # Logger, each package's abstract base class, is the one shared name left
    assert shared <= {"Logger"}, shared


def test_subpackages_import_without_lightning():
    # a fresh interpreter: importing every subpackage must not pull lightning in (only trainers may)
    names = [
        "rl4py.keys",
        "rl4py.envs",
        "rl4py.collectors",
        "rl4py.values",
        "rl4py.losses",
        "rl4py.modules",
        "rl4py.data",
        "rl4py.loggers",
    ]
    code = (
        f"import sys; import {', '.join(names)}, rl4py.testing, rl4py.trainers; assert 'lightning' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# which rl4py subpackages each layer may import (besides itself); see docs/architecture.md
ALLOWED = {
    "envs": {"keys"},
    "data": {"keys"},
    "values": {"keys"},
    "modules": {"keys"},
    "losses": {"keys", "modules"},
    "collectors": {"keys", "envs"},
    "testing": {"keys", "envs"},
    "distributed": set(),
    "loggers": {"keys"},
}


def _rl4py_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rl4py"):
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "rl4py"]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("rl4py")]
        for name in names:
            parts = name.split(".")
            if len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_dependencies_point_down(layer):
    root = Path(rl4py.__file__).parent / layer
    for path in root.rglob("*.py"):
        bad = _rl4py_imports(path) - ALLOWED[layer] - {layer}
        assert not bad, f"{path.relative_to(root.parent)} imports rl4py.{sorted(bad)}; {layer} may use {ALLOWED[layer]}"
