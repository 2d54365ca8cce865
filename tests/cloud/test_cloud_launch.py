"""``rl4py launch``: the dry run, a real launch against the loopback server, status/stop/terminate,
the errors a user sees, and the start command itself run by bash."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cloud_fakes import KEY, api, runpod_gpu, runpod_pod, vast_instance, vast_offer

from rl4py.cli import main
from rl4py.cloud import RECIPE_ENV, InstanceRequirements, recipe_requirements, training_command

RECIPE = Path(__file__).parents[2] / "recipes" / "ppo_cartpole.yaml"


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", KEY)
    monkeypatch.setenv("RUNPOD_API_KEY", KEY)


def _launch(api, *extra: str, provider: str = "vast") -> list[str]:
    return ["launch", "--provider", provider, "--base-url", api.url, "--recipe", str(RECIPE), *extra]


def _lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_dry_run_prints_the_cheapest_offer_and_the_command_and_rents_nothing(api, capsys):
    api.reply(body={"offers": [vast_offer(2001, "RTX 4090", 0.45), vast_offer(2002, "RTX 4090", 0.38)]})
    main(_launch(api, "--gpu", "RTX_4090", "--max-price", "0.5", "--dry-run"))

    (line,) = _lines(capsys)
    assert line["dry_run"] is True and "instance" not in line
    assert line["offer"]["id"] == "2002" and line["offer"]["price_per_hour"] == 0.38
    assert "pip install rl4py==" in line["command"]
    fit = "rl4py fit --config ppo_cartpole.yaml --trainer.accelerator gpu --trainer.devices 1 2>&1 | tee fit.log"
    assert line["command"].endswith(fit)
    assert [(r.method, r.path) for r in api.requests] == [("POST", "/api/v0/bundles/")]
    assert api.requests[0].body["dph_total"] == {"lte": 0.5}


def test_launch_on_vast_rents_the_cheapest_offer_with_the_recipe_and_fit_args(api, capsys):
    api.reply(body={"offers": [vast_offer(2001, "RTX 4090", 0.45)]})
    api.reply(body={"success": True, "new_contract": 7835610})
    main(_launch(api, "--gpu", "RTX_4090", "--disk", "40", "--install", "git+https://example.org/rl4py@main",
                 "--", "--trainer.max_steps", "500"))  # fmt: skip

    out, err = capsys.readouterr()
    (line,) = [json.loads(text) for text in out.splitlines()]
    assert line["instance"]["id"] == "7835610" and line["instance"]["status"] == "starting"
    assert "instance 7835610 bills about $0.45/h until `rl4py launch terminate --provider vast 7835610`" in err
    search, rent = api.requests
    assert (rent.method, rent.path) == ("PUT", "/api/v0/asks/2001/")
    assert rent.headers["authorization"] == f"Bearer {KEY}"
    assert rent.body["disk"] == 40 and rent.body["image"] == InstanceRequirements().image
    assert rent.body["onstart"] == line["command"]
    assert "pip install git+https://example.org/rl4py@main" in rent.body["onstart"]
    fit = "rl4py fit --config ppo_cartpole.yaml --trainer.accelerator gpu --trainer.devices 1 --trainer.max_steps 500"
    assert fit in rent.body["onstart"]
    assert base64.b64decode(rent.body["env"][RECIPE_ENV]).decode() == RECIPE.read_text()


def test_launch_on_runpod_creates_a_pod(api, capsys):
    api.reply(body={"data": {"gpuTypes": [runpod_gpu("NVIDIA GeForce RTX 4090", "RTX 4090", 24, 0.69, 0.34)]}})
    api.reply(201, runpod_pod("xedezhzb9la3ye"))
    main(_launch(api, "--gpu", "RTX_4090", "--max-price", "0.5", provider="runpod"))

    (line,) = _lines(capsys)
    assert line["instance"]["id"] == "xedezhzb9la3ye" and line["offer"]["details"]["cloudType"] == "COMMUNITY"
    search, create = api.requests
    assert (search.path, create.method, create.path) == ("/graphql", "POST", "/v1/pods")
    assert create.body["dockerStartCmd"] == ["bash", "-c", line["command"] + "; sleep infinity"]
    assert create.body["gpuTypeIds"] == ["NVIDIA GeForce RTX 4090"] and create.body["cloudType"] == "COMMUNITY"
    assert base64.b64decode(create.body["env"][RECIPE_ENV]).decode() == RECIPE.read_text()


def test_offers_lists_the_matches_cheapest_first(api, capsys):
    api.reply(
        body={
            "offers": [vast_offer(3, "RTX 3090", 0.3), vast_offer(1, "RTX 3090", 0.1), vast_offer(2, "RTX 3090", 0.2)]
        }
    )
    main(["launch", "offers", "--provider", "vast", "--base-url", api.url, "--gpu", "RTX_3090", "--limit", "2"])
    assert [line["offer"]["id"] for line in _lines(capsys)] == ["1", "2"]


def test_status_stop_and_terminate(api, capsys):
    api.reply(body=vast_instance(7835610, "running"))
    api.reply(body={"success": True})
    api.reply(body={"success": True})
    for action in ("status", "stop", "terminate"):
        main(["launch", action, "--provider", "vast", "--base-url", api.url, "7835610"])
    status, stop, terminate = _lines(capsys)
    assert status["instance"]["status"] == "running" and status["instance"]["ssh"] == "ssh -p 41022 root@ssh4.vast.ai"
    assert stop == {"provider": "vast", "id": "7835610", "action": "stop", "done": True}
    assert terminate["action"] == "terminate"
    assert [(r.method, r.path) for r in api.requests] == [
        ("GET", "/api/v0/instances/7835610/"),
        ("PUT", "/api/v0/instances/7835610/"),
        ("DELETE", "/api/v0/instances/7835610/"),
    ]


def test_no_matching_offer_exits_with_the_requirements(api, capsys):
    api.reply(body={"offers": []})
    with pytest.raises(SystemExit) as caught:
        main(_launch(api, "--gpu", "H100_SXM", "--num-gpus", "8", "--max-price", "2"))
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert "rl4py launch: error: Vast.ai: no offer matches 8x H100 SXM, at most $2.00/h, disk >= 20 GB" in err


def test_a_rejected_key_exits_without_showing_it(api, capsys):
    api.reply(401, {"error": f"bad key {KEY}"})
    with pytest.raises(SystemExit) as caught:
        main(_launch(api, "--dry-run"))
    out, err = capsys.readouterr()
    assert caught.value.code == 1 and "HTTP 401" in err and "VAST_API_KEY" in err
    assert KEY not in out + err


def test_a_missing_key_is_named_before_any_request(api, capsys, monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY")
    with pytest.raises(SystemExit):
        main(_launch(api, "--dry-run", provider="runpod"))
    assert "set the environment variable RUNPOD_API_KEY" in capsys.readouterr().err
    assert api.requests == []


@pytest.mark.parametrize(
    "extra, message",
    [(["--recipe", "missing.yaml"], "no recipe file at 'missing.yaml'"),
     (["--num-gpus", "0"], "num_gpus must be an int >= 1, got 0")],
)  # fmt: skip
def test_bad_arguments_are_usage_errors_before_any_request(api, capsys, extra, message):
    with pytest.raises(SystemExit) as caught:
        main([*_launch(api, "--dry-run"), *extra])
    assert caught.value.code == 2 and message in capsys.readouterr().err
    assert api.requests == []


def test_a_recipe_that_is_not_a_mapping_is_refused(tmp_path):
    recipe = tmp_path / "list.yaml"
    recipe.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must be a YAML mapping"):
        recipe_requirements(recipe, InstanceRequirements())


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_the_start_command_writes_the_recipe_installs_and_runs_fit(tmp_path):
    # bash runs the command with stand-ins for pip and rl4py on PATH that record their arguments
    bin_dir, workdir = tmp_path / "bin", tmp_path / "run"
    bin_dir.mkdir()
    _executable(bin_dir / "pip", '#!/bin/sh\necho "pip $*" >> "$CALLS"\n')
    _executable(bin_dir / "rl4py", '#!/bin/sh\necho "rl4py $*" >> "$CALLS"\ncp "$3" "$SEEN"\necho training\n')
    requirements = recipe_requirements(
        RECIPE,
        InstanceRequirements(num_gpus=2),
        install="rl4py==9.9",
        fit_args=["--seed_everything", "7"],
        workdir=str(workdir),
    )
    calls, seen = tmp_path / "calls.txt", tmp_path / "seen.yaml"
    env = {
        **os.environ,
        **requirements.env,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CALLS": str(calls),
        "SEEN": str(seen),
    }
    subprocess.run(["bash", "-c", requirements.start_command], env=env, check=True, capture_output=True, timeout=60)

    assert calls.read_text().splitlines() == [
        "pip install rl4py==9.9",
        "rl4py fit --config ppo_cartpole.yaml --trainer.accelerator gpu --trainer.devices 2 --seed_everything 7",
    ]
    assert seen.read_text() == RECIPE.read_text()  # the file fit read is the local recipe
    assert (workdir / "fit.log").read_text() == "training\n"


def test_training_command_quotes_what_it_is_given():
    command = training_command("r.yaml", install="rl4py; rm -rf /", fit_args=["--model.env", "a b"], workdir="/w")
    assert "pip install 'rl4py; rm -rf /'" in command and "--model.env 'a b'" in command
    with pytest.raises(ValueError, match="recipe_name must be a file name"):
        training_command("../r.yaml")
