"""Runs every ```python block of README.md and docs/**/*.md, as a reader would.

The blocks of one page run in order in one namespace (a later block may use what an earlier one
on the same page defined), in a scratch directory (files the examples write land there).

    PYTHONPATH=$PWD python docs/check_examples.py                 # every page
    PYTHONPATH=$PWD python docs/check_examples.py docs/guide/dqn.md   # some pages

Prints one line per block (page, line, seconds, ok/FAILED) and exits 1 if any block failed.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^(\s*)```python\s*$")


def blocks(path: Path) -> list[tuple[int, str]]:
    """The ``(first line, source)`` of each ```python block of ``path``."""
    found, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, start, body = len(match.group(1)), i + 2, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:])
            i += 1
        found.append((start, "\n".join(body) + "\n"))
        i += 1
    return found


def run_page(path: Path) -> int:
    failures = 0
    namespace: dict = {"__name__": "__main__"}
    for line, source in blocks(path):
        start = time.perf_counter()
        try:
            exec(compile(source, f"{path.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception:  # noqa: BLE001 -- report every failing block
            failures += 1
            print(f"{path.relative_to(ROOT)}:{line}  FAILED ({time.perf_counter() - start:.1f} s)", flush=True)
            traceback.print_exc(limit=-3)
        else:
            print(f"{path.relative_to(ROOT)}:{line}  ok ({time.perf_counter() - start:.1f} s)", flush=True)
    return failures


def main(argv: list[str]) -> int:
    pages = [Path(a).resolve() for a in argv] or [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    failures = 0
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        for page in pages:
            failures += run_page(page)
    print(f"{failures} failed block(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
