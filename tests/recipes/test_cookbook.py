"""The cookbook: every recipe script runs its ``--smoke`` budget, and the README's table lists them all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
RECIPES = ROOT / "recipes"

#: recipe -> (extra arguments, a line its smoke run must print)
SMOKE_RUNS = {
    "quickstart.py": ([], r"^not solved within 2048 env steps \(mean return [0-9.]+\)$"),
    "ppo_annotated.py": ([], r"^stopped after 2048 env steps \(mean return [0-9.]+\)$"),
    "config_driven.py": ([], r"^stopped: mean return [0-9.]+ after 2048 env steps"),
    "custom_env.py": ([], r"^gymnasium LineWalk-v0 \(GymEnv\) +greedy return +-?[0-9.]+"),
    "ppo_continuous.py": ([], r"^(solved|not solved): mean return -?[0-9.]+ after \d+ env steps"),
    "ppo_multi_discrete.py": ([], r"^a random policy that respects the mask scores 4\.21$"),
    "action_masking.py": ([], r"^optimal 0\.855 +masked -?[0-9.]+ +unmasked -?[0-9.]+$"),
    "curriculum.py": ([], r"^phase student: 768 env steps(.|\n)*^CSPL: 5976 env steps in all$"),
    "reward_shaping.py": ([], r"^count bonus +task return +-?[0-9.]+"),
    "intrinsic_reward.py": ([], r"^count bonus +(solved|not solved) +after +\d+ env steps +mean task return"),
    "lstm_policy.py": ([], r"^not solved within 2048 env steps"),
    "dqn_cartpole.py": ([], r"^not solved within 2048 env steps"),
    "impala_cartpole.py": ([], r"^not solved: mean return [0-9.]+ after 4096 env steps"),
    # Ray on this machine (ray.init() inside train_impala_ray), 2 workers: the code a cluster runs
    "impala_ray.py": ([], r"^not solved: mean return [0-9.]+ after 4096 env steps(.|\n)*worker restarts 0"),
}
#: recipes whose smoke run has a test module of its own (it checks more than that it runs)
OWN_TESTS = {
    "deploy_policy.py": "test_deploy_policy.py",
    "diagnostics.py": "test_diagnostics_recipe.py",
    "hyperparameter_tuning.py": "test_tuning_recipe.py",
}


@pytest.mark.parametrize("recipe", sorted(SMOKE_RUNS))
def test_recipe_smoke_run(recipe, tmp_path):
    extra, expected = SMOKE_RUNS[recipe]
    out = subprocess.run(
        [sys.executable, str(RECIPES / recipe), "--smoke", *extra],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # a recipe writes nothing into the checkout
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(expected, out.stdout, re.MULTILINE), out.stdout[-3000:]
    assert list(tmp_path.iterdir()) == [], "a smoke run left files in the working directory"


def test_every_recipe_script_is_smoke_tested():
    scripts = {p.name for p in RECIPES.glob("*.py")}
    untested = scripts - set(SMOKE_RUNS) - set(OWN_TESTS)
    assert not untested, f"recipes without a smoke test: {sorted(untested)}"
    for recipe, test in OWN_TESTS.items():
        if recipe in scripts:
            assert (Path(__file__).parent / test).is_file(), f"{recipe}: its test {test} is missing"
            assert "--smoke" in (Path(__file__).parent / test).read_text()
    for recipe in scripts:
        assert "--smoke" in (RECIPES / recipe).read_text(), f"{recipe} has no --smoke budget"


def test_readme_cookbook_table_lists_every_recipe():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Cookbook", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`recipes/([\w./]+)`", table))
    scripts = {p.name for p in RECIPES.glob("*.py")}
    assert scripts <= listed, f"README's cookbook table lacks {sorted(scripts - listed)}"
    for name in listed:
        assert (RECIPES / name).exists(), f"README's cookbook table names a missing recipes/{name}"
