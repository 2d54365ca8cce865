from __future__ import annotations

import ast
import re
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
        "rl4py.planning",
        "rl4py.multiagent",
        "rl4py.data",
        "rl4py.loggers",
        "rl4py.actor_learner",
        "rl4py.cloud",
        "rl4py.exploration",
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
    "planning": {"keys", "modules", "values"},
    "multiagent": set(),
    "games": {"keys", "envs", "planning"},
    "collectors": {"keys", "envs"},
    "testing": {"keys", "envs"},
    "distributed": set(),
    # the actor-learner's Ray side: workers run envs through a collector; the learner loop that needs
    # losses, values and trainers is rl4py.trainers.impala_ray
    "actor_learner": {"keys", "envs", "collectors"},
    "loggers": {"keys"},
    "cloud": set(),
    "exploration": {"keys", "envs", "modules"},
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


def test_value_functional_has_one_public_function_per_estimator():
    # the loops the fast forms are tested against live in rl4py.testing, not as a second public API
    from rl4py import testing
    from rl4py.values import functional

    assert sorted(functional.__all__) == [
        "VTraceReturns",
        "generalized_advantage_estimate",
        "multi_head_generalized_advantage_estimate",
        "multi_head_value_loss",
        "td0_advantage",
        "td_lambda_return_estimate",
        "upgo_advantage_estimate",
        "vtrace",
        "vtrace_advantage_estimate",
    ]
    assert not [name for name in dir(functional) if name.startswith("vec_")]
    references = [name for name in testing.__all__ if name.endswith("_reference")]
    assert sorted(references) == [
        "gae_reference",
        "multi_head_gae_reference",
        "td_lambda_reference",
        "upgo_reference",
        "vtrace_reference",
    ]


def _required_import_names() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((Path(rl4py.__file__).parent.parent / "pyproject.toml").read_text())["project"]
    names = {re.match(r"[A-Za-z0-9_.-]+", dep).group(0).replace("-", "_").lower() for dep in project["dependencies"]}
    return names | {"rl4py"}


def test_module_level_imports_are_stdlib_or_required_dependencies():
    # pytest imports every module of rl4py to collect its doctests (--doctest-modules in CI): an
    # optional extra (safetensors, Pillow, imageio-ffmpeg, ...) imported at module level would break
    # that collection wherever the extra is not installed, so extras are imported inside functions
    allowed = _required_import_names() | set(sys.stdlib_module_names)
    root = Path(rl4py.__file__).parent
    bad = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module]
            else:
                continue
            bad += [f"{path.relative_to(root.parent)}: {m}" for m in modules if m.split(".")[0].lower() not in allowed]
    assert not bad, f"module-level imports of packages outside [project].dependencies: {bad}"
