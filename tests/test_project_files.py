"""Repository files that make claims: LICENSE matches pyproject, and the status tables name only what exists."""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: md5 of the Apache License 2.0 text as apache.org publishes it (LICENSE-2.0.txt)
APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"


def test_license_file_is_the_apache_2_text_pyproject_declares() -> None:
    # tomllib is Python >= 3.11; the package supports 3.10
    assert re.search(r'^license = "Apache-2.0"$', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == APACHE_2_MD5
    assert b"Apache License\n                           Version 2.0, January 2004" in text


def status_rows(path: Path) -> dict[str, tuple[str, str]]:
    """The ``## Status`` table of a markdown file: ``{row: (exists, coming)}``."""
    text = path.read_text()
    section = text.split("## Status", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] and not set(cells[0]) <= {"-"}:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


@pytest.mark.parametrize("path", ["README.md", "docs/index.md"])
def test_status_table_names_only_what_the_package_has(path: str) -> None:
    rows = status_rows(ROOT / path)
    assert set(rows) == {"algorithms", "training", "components"}
    namespaces = [importlib.import_module(m) for m in ("rl4py", "rl4py.trainers", "rl4py.distributed")]
    named = [name for exists, _ in rows.values() for name in re.findall(r"`([A-Za-z_][\w]*)`", exists)]
    assert "train_ppo" in named and "PPOModule" in named  # the parse found the names
    missing = [name for name in named if not any(hasattr(ns, name) for ns in namespaces)]
    assert not missing, f"{path} claims {missing}, which rl4py does not export"
    exists = " ".join(exists for exists, _ in rows.values())
    for family in (
        "DreamerV3",
        "R2-Dreamer",
        "MCTS",
        "PFSP",
        "self-play",
        "actor-learner",
        "OpenSpiel",
        "multi-agent",
        "MAPPO",
        "CSPL",
        "PettingZoo",
        "VMAS",
    ):
        assert family in exists


def test_readme_keeps_its_two_first_command_lines() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[3:5] == [
        "pip install torch==2.13.0 && pip install -e . && python recipes/quickstart.py",
        'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest -n 2',
    ]
    assert "every algorithm" not in (ROOT / "README.md").read_text()
