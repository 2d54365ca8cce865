"""The documentation site builds strictly: formulas reach MathJax, the API reference covers the public names,
every page is in the nav, and the changelog page shows CHANGELOG.md.

One ``mkdocs build --strict`` (about 5 s of CPU) into a temporary directory, shared by the tests of this module.
mkdocs-material and mkdocstrings are in the ``test`` extra, so CI builds the site rather than skipping.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("material")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = "javascripts/mathjax/tex-mml-chtml.js"

#: the public namespaces whose names the API reference must document
PUBLIC = (
    "rl4py",
    "rl4py.envs",
    "rl4py.collectors",
    "rl4py.data",
    "rl4py.values",
    "rl4py.values.functional",
    "rl4py.losses",
    "rl4py.losses.functional",
    "rl4py.modules",
    "rl4py.planning",
    "rl4py.games",
    "rl4py.multiagent",
    "rl4py.trainers",
    "rl4py.loggers",
    "rl4py.export",
    "rl4py.distributed",
    "rl4py.actor_learner",
    "rl4py.cloud",
    "rl4py.testing",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``(site directory, build log)`` of ``mkdocs build --strict``."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{log[-5000:]}"
    return out, log


def page(site: tuple[Path, str], name: str) -> str:
    return (site[0] / name / "index.html").read_text()


def test_build_is_strict_clean_and_every_page_is_in_the_nav(site: tuple[Path, str]) -> None:
    _, log = site
    assert "WARNING" not in log, log
    # mkdocs lists pages that exist but are missing from the nav at INFO level
    assert "not included in the" not in log, log


@pytest.mark.parametrize("name", ["guide/gae", "guide/vtrace"])
def test_formula_pages_load_mathjax_on_arithmatex_wrapped_math(site: tuple[Path, str], name: str) -> None:
    html = page(site, name)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    config = [s for s in scripts if s.endswith("javascripts/mathjax.js")]
    bundle = [s for s in scripts if s.endswith(MATHJAX)]
    assert config and bundle, scripts
    assert scripts.index(config[0]) < scripts.index(bundle[0]), "the MathJax config must load before MathJax"
    # arithmatex's generic mode: inline \( \) in a span, display \[ \] in a div, for MathJax to typeset
    assert re.search(r'<span class="arithmatex">\\\(.+?\\\)</span>', html)
    assert re.search(r'<div class="arithmatex">\\\[.+?\\\]</div>', html, re.DOTALL)
    text = re.sub(r"<(pre|code)\b.*?</\1>", "", html, flags=re.DOTALL)
    assert "$$" not in text, "display math left unconverted"


def test_mathjax_is_served_from_the_site_with_its_fonts(site: tuple[Path, str]) -> None:
    out, _ = site
    bundle = out / MATHJAX
    assert bundle.stat().st_size > 500_000
    assert 'VERSION="3.' in bundle.read_text()
    # the CHTML output loads its fonts relative to the script
    fonts = out / "javascripts/mathjax/output/chtml/fonts/woff-v2"
    for font in ("MathJax_Main-Regular.woff", "MathJax_Math-Italic.woff", "MathJax_Size1-Regular.woff"):
        assert (fonts / font).stat().st_size > 1000
    config = (out / "javascripts/mathjax.js").read_text()
    assert 'processHtmlClass: "arithmatex"' in config


def test_api_reference_documents_every_public_name(site: tuple[Path, str]) -> None:
    out, _ = site
    api = {path: path.read_text() for path in (out / "api").rglob("index.html")}
    assert len(api) >= 14
    anchors = {anchor for html in api.values() for anchor in re.findall(r'id="(rl4py[\w.]*)"', html)}
    text = "\n".join(api.values())
    missing = []
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        names = [*module.__all__, *getattr(module, "_LIGHTNING", {})]  # rl4py.trainers' lazy Lightning names
        for name in names:
            if not any(anchor.endswith("." + name) for anchor in anchors) and f"<code>{name}</code>" not in text:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"not in the API reference: {missing}"
    # the docstrings' Sphinx roles are rendered as code, not left as ':class:' text
    assert not re.search(r":(class|func|meth|mod|attr|data):", re.sub(r"<pre\b.*?</pre>", "", text, flags=re.DOTALL))


def test_changelog_page_shows_the_changelog(site: tuple[Path, str]) -> None:
    html = page(site, "changelog")
    headings = re.findall(r"^#+ (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert len(headings) > 5
    for heading in headings:
        assert heading.split("]")[0].strip("[") in html, heading


def test_troubleshooting_names_errors_the_package_raises() -> None:
    """The error messages quoted on the troubleshooting page are ones the code still writes."""
    text = (ROOT / "docs/troubleshooting.md").read_text()
    source = "\n".join(path.read_text() for path in (ROOT / "rl4py").rglob("*.py"))
    fragments = [
        "non-finite values in the update",
        "skip_nonfinite=True skips such steps and counts them instead",
        "outside the action space",
        "which hides the true final observation",
        "pass an env id or a",
        "space, which GymEnv",
        "would be ignored: a given",
        "does not split into num_minibatches",
        "Lightning runs are seeded by",
        "holds pickled objects that are not tensors",
        "was saved from another architecture than",
        "is not a checkpoint written by an rl4py LightningModule",
        "resume with the same number of processes",
        "were started with different settings",
        "start every node with the same --trainer.num_nodes",
        "needs a flat Box observation space",
        "observation holds NaN or inf values",
        "some row of action_mask allows no action",
    ]
    for fragment in fragments:
        assert fragment in text, f"troubleshooting.md no longer quotes {fragment!r}"
        assert fragment in source, f"rl4py no longer raises {fragment!r}: update docs/troubleshooting.md"
