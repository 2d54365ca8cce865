"""``rl4py launch``: train a recipe on the cheapest rented GPU that meets the requirements.

    rl4py launch --provider vast --recipe recipes/ppo_cartpole.yaml --gpu RTX_4090 --max-price 0.5 --dry-run
    rl4py launch --provider runpod --recipe recipes/ppo_cartpole.yaml --gpu RTX_4090 -- --trainer.max_steps 500
    rl4py launch offers --provider vast --gpu RTX_4090 --gpu RTX_3090 --max-price 0.5
    rl4py launch status --provider vast 1234567
    rl4py launch stop --provider vast 1234567
    rl4py launch terminate --provider vast 1234567

The machine installs rl4py (``--install``, a pip requirement) and runs ``rl4py fit --config
RECIPE --trainer.accelerator gpu --trainer.devices NUM_GPUS`` and the arguments after ``--``
(which override those); the recipe file travels in the ``RL4PY_RECIPE``
environment variable (base64), so a local recipe works. Each command prints JSON lines. The API
key comes from ``VAST_API_KEY`` / ``RUNPOD_API_KEY``, never from the command line.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rl4py.cloud.errors import CloudError
from rl4py.cloud.provider import CloudProvider
from rl4py.cloud.requirements import DEFAULT_IMAGE, InstanceRequirements
from rl4py.cloud.runpod import RunPodProvider
from rl4py.cloud.vast import VastAIProvider

__all__ = ["PROVIDERS", "RECIPE_ENV", "make_provider", "recipe_requirements", "training_command"]

#: the providers by their short name
PROVIDERS: dict[str, type[CloudProvider]] = {VastAIProvider.name: VastAIProvider, RunPodProvider.name: RunPodProvider}
#: the environment variable that carries the recipe (base64) to the machine
RECIPE_ENV = "RL4PY_RECIPE"
#: where the run's files go on the machine (the recipe, fit.log, Lightning's logs and checkpoints)
WORKDIR = "/workspace/rl4py-run"


def make_provider(name: str, *, base_url: str | None = None, **kwargs: Any) -> CloudProvider:
    """The provider called ``name`` (``"vast"`` or ``"runpod"``), its key from the environment.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
        CloudAuthError: its API key variable is not set.
    """
    if name not in PROVIDERS:
        raise ValueError(f"unknown cloud provider {name!r}; expected one of {sorted(PROVIDERS)}")
    if base_url is not None:
        kwargs["base_url"] = base_url
    return PROVIDERS[name](**kwargs)


def _default_install() -> str:
    try:
        return f"rl4py=={metadata.version('rl4py')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "rl4py"


def training_command(
    recipe_name: str,
    *,
    install: str | None = None,
    gpus: int | None = None,
    fit_args: Sequence[str] = (),
    workdir: str = WORKDIR,
) -> str:
    """The shell command that trains a recipe on a fresh machine.

    It writes ``$RL4PY_RECIPE`` (base64) to ``workdir/recipe_name``, installs ``install`` with
    pip, then runs ``rl4py fit --config recipe_name`` in ``workdir`` (with ``--trainer.accelerator
    gpu --trainer.devices GPUS`` when ``gpus`` is given, then ``fit_args``, which override both),
    its output copied to ``workdir/fit.log``.

    Args:
        recipe_name: the recipe's file name on the machine (``"ppo_cartpole.yaml"``).
        install: the pip requirement of rl4py (``None``: this version, ``rl4py==X.Y.Z``; a
            ``git+https://...`` URL for an unreleased one).
        gpus: the machine's GPU count, to train on all of them (``None``: the recipe decides).
        fit_args: more arguments of ``rl4py fit`` (``["--trainer.max_steps", "500"]``).
        workdir: the run's directory on the machine.

    Examples:
        >>> for step in training_command("ppo.yaml", install="rl4py", workdir="/w").split(" && "):
        ...     print(step)
        mkdir -p /w
        cd /w
        echo "$RL4PY_RECIPE" | base64 -d > ppo.yaml
        pip install rl4py
        rl4py fit --config ppo.yaml 2>&1 | tee fit.log
    """
    if not recipe_name or "/" in recipe_name:
        raise ValueError(f"training_command: recipe_name must be a file name without '/', got {recipe_name!r}")
    install = _default_install() if install is None else install
    quote = shlex.quote
    on_gpus = [] if gpus is None else ["--trainer.accelerator", "gpu", "--trainer.devices", str(gpus)]
    fit = " ".join(quote(arg) for arg in ["rl4py", "fit", "--config", recipe_name, *on_gpus, *fit_args])
    return (
        f"mkdir -p {quote(workdir)} && cd {quote(workdir)} && "
        f'echo "${RECIPE_ENV}" | base64 -d > {quote(recipe_name)} && '
        f"pip install {quote(install)} && {fit} 2>&1 | tee fit.log"
    )


def recipe_requirements(
    recipe: str | Path,
    requirements: InstanceRequirements,
    *,
    install: str | None = None,
    fit_args: Sequence[str] = (),
    workdir: str = WORKDIR,
) -> InstanceRequirements:
    """``requirements`` with the start command and env that train ``recipe`` (:func:`training_command`)
    on all ``requirements.num_gpus`` GPUs.

    Raises:
        ValueError: ``recipe`` is not a readable YAML mapping (caught here, before paying for a machine).
    """
    import yaml  # jsonargparse's dependency, so rl4py's

    path = Path(recipe)
    if not path.is_file():
        raise ValueError(f"no recipe file at {str(recipe)!r}")
    text = path.read_text()
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"recipe {str(recipe)!r} is not valid YAML: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(
            f"recipe {str(recipe)!r} must be a YAML mapping (an rl4py fit config), got {type(config).__name__}"
        )
    command = training_command(
        path.name, install=install, gpus=requirements.num_gpus, fit_args=fit_args, workdir=workdir
    )
    env = {**requirements.env, RECIPE_ENV: base64.b64encode(text.encode()).decode()}
    return dataclasses.replace(requirements, start_command=command, env=env)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rl4py launch",
        description="Train a recipe on the cheapest rented GPU that meets the requirements; "
        "`rl4py launch offers|status|stop|terminate --help` for the other commands. "
        "Arguments after `--` go to `rl4py fit` on the machine.",
    )
    _provider_options(parser)
    parser.add_argument("--recipe", required=True, help="the rl4py fit config (YAML) to train")
    _requirement_options(parser)
    parser.add_argument(
        "--install", default=None, help="pip requirement of rl4py on the machine (default: this version)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the chosen offer and the command; rent nothing")
    return parser


def _provider_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", required=True, choices=sorted(PROVIDERS), help="the GPU marketplace")
    parser.add_argument("--base-url", default=None, help="the API root to call instead of the provider's (a proxy)")


def _requirement_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpu", action="append", default=[], help="an acceptable GPU model (RTX_4090); repeatable")
    parser.add_argument("--num-gpus", type=int, default=1, help="GPUs in the machine (default 1)")
    parser.add_argument("--min-gpu-ram", type=float, default=0.0, help="GB of memory per GPU, at least")
    parser.add_argument("--max-price", type=float, default=None, help="US dollars per hour for the machine, at most")
    parser.add_argument("--disk", type=float, default=20.0, help="GB of disk (default 20)")
    parser.add_argument("--min-ram", type=float, default=0.0, help="GB of system memory, at least")
    parser.add_argument("--image", default=DEFAULT_IMAGE, help=f"the Docker image (default {DEFAULT_IMAGE})")


def _requirements(parser: argparse.ArgumentParser, options: argparse.Namespace) -> InstanceRequirements:
    try:
        return InstanceRequirements(
            gpu_types=[name for names in options.gpu for name in names.split(",") if name.strip()],
            num_gpus=options.num_gpus,
            min_gpu_ram_gb=options.min_gpu_ram,
            max_price_per_hour=options.max_price,
            min_disk_gb=options.disk,
            min_ram_gb=options.min_ram,
            image=options.image,
        )
    except ValueError as error:
        parser.error(str(error))


def _print(line: dict[str, Any]) -> None:
    print(json.dumps(line))


def _offers(args: list[str]) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(
        prog="rl4py launch offers", description="List the matching offers, cheapest first."
    )
    _provider_options(parser)
    _requirement_options(parser)
    parser.add_argument("--limit", type=int, default=10, help="offers to print at most (default 10)")
    options = parser.parse_args(args)
    requirements = _requirements(parser, options)
    with make_provider(options.provider, base_url=options.base_url) as provider:
        offers = provider.search_offers(requirements)[: max(options.limit, 0)]
    lines = [{"provider": options.provider, "offer": dataclasses.asdict(offer)} for offer in offers]
    for line in lines:
        _print(line)
    return lines


def _manage(action: str, args: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog=f"rl4py launch {action}", description=f"{action.capitalize()} an instance.")
    _provider_options(parser)
    parser.add_argument("id", help="the instance id that `rl4py launch` printed")
    options = parser.parse_args(args)
    with make_provider(options.provider, base_url=options.base_url) as provider:
        try:
            if action == "status":
                line = {"provider": options.provider, "instance": dataclasses.asdict(provider.status(options.id))}
            else:
                getattr(provider, action)(options.id)
                line = {"provider": options.provider, "id": options.id, "action": action, "done": True}
        except ValueError as error:  # a malformed id
            parser.error(str(error))
    _print(line)
    return line


def _launch(args: list[str]) -> dict[str, Any]:
    fit_args: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, fit_args = args[:split], args[split + 1 :]
    parser = _parser()
    options = parser.parse_args(args)
    try:
        requirements = recipe_requirements(
            options.recipe, _requirements(parser, options), install=options.install, fit_args=fit_args
        )
    except ValueError as error:
        parser.error(str(error))
    with make_provider(options.provider, base_url=options.base_url) as provider:
        offer = provider.cheapest_offer(requirements)
        line: dict[str, Any] = {"provider": options.provider, "offer": dataclasses.asdict(offer)}
        line.update(image=requirements.image, command=requirements.start_command, dry_run=options.dry_run)
        if not options.dry_run:
            instance = provider.launch(offer, requirements)
            line["instance"] = dataclasses.asdict(instance)
    _print(line)
    if not options.dry_run:
        price = instance.price_per_hour if instance.price_per_hour is not None else offer.price_per_hour
        print(
            f"rl4py launch: instance {instance.id} bills about ${price:.2f}/h until "
            f"`rl4py launch terminate --provider {options.provider} {instance.id}`",
            file=sys.stderr,
        )
    return line


_ACTIONS = ("status", "stop", "terminate")


def main(args: list[str] | None = None) -> dict[str, Any] | list[dict[str, Any]]:
    """``rl4py launch [offers|status|stop|terminate] ...``: returns what it printed (the JSON lines' objects).

    A provider's refusal (no key, a rejected key, no matching offer, an API error) ends the
    command with ``rl4py launch: error: MESSAGE`` on stderr and exit status 1.
    """
    args = sys.argv[1:] if args is None else list(args)
    try:
        if args and args[0] == "offers":
            return _offers(args[1:])
        if args and args[0] in _ACTIONS:
            return _manage(args[0], args[1:])
        return _launch(args)
    except CloudError as error:
        print(f"rl4py launch: error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
