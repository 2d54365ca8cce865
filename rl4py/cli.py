"""The ``rl4py`` command: Lightning's CLI over rl4py's LightningModules.

    rl4py fit --config recipes/ppo_cartpole.yaml
    rl4py fit --config recipes/ppo_cartpole.yaml --model.loss.init_args.dual_clip 3.0
    rl4py fit --config recipes/ppo_cartpole.yaml --model.value_estimator.class_path rl4py.values.VTrace
    rl4py fit --config recipes/ppo_cartpole.yaml --model.config.lr 1e-3 --seed_everything 7
    rl4py fit --model PPOModule --model.env CartPole --print_config
    rl4py fit --config recipes/ppo_cartpole.yaml --trainer.devices 2 --trainer.strategy ddp --trainer.accelerator cpu
    MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 NODE_RANK=0 rl4py fit --config recipes/ppo_cartpole.yaml \
        --trainer.num_nodes 2 --trainer.devices 1 --trainer.strategy ddp   (and NODE_RANK=1 on the other node)

Every constructor argument of the model is a config key (the hyperparameters under
``--model.config.*``); unknown keys and wrong types are reported by the CLI before training
starts. rl4py's modules, losses and value estimators are imported first, so their short class
names work (``--model PPOModule``, ``--model.value_estimator VTrace``).
"""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path


def _safe_checkpoint_loading(args: list[str]) -> list[str]:
    """Makes ``--weights_only true`` the default of the subcommands that take ``--ckpt_path``.

    A checkpoint path may name a downloaded file: it is loaded without unpickling code (rl4py's
    own checkpoints load that way). The flag goes right after the subcommand, so a config file or
    an explicit ``--weights_only false`` later on the line still decides.
    """
    if any(arg.startswith("--weights_only") or arg.startswith("--help") or arg == "-h" for arg in args):
        return args
    for i, arg in enumerate(args):
        if arg in _CHECKPOINT_SUBCOMMANDS:
            return [*args[: i + 1], "--weights_only=true", *args[i + 1 :]]
        if not arg.startswith("-"):  # another subcommand
            return args
    return args


_CHECKPOINT_SUBCOMMANDS = ("fit", "validate", "test", "predict")


def _import_components() -> None:
    """Imports every rl4py class the CLI can name, so that jsonargparse resolves short names."""
    import rl4py.losses  # noqa: F401
    import rl4py.values  # noqa: F401
    from rl4py.trainers import (  # noqa: F401
        lightning_bc,
        lightning_callbacks,
        lightning_dqn,
        lightning_dreamer,
        lightning_impala,
        lightning_impala_ray,
        lightning_ppo,
        lightning_self_play,
    )


def _load(parser, path: str):
    """The rl4py module of checkpoint ``path``, or a parser error naming what is wrong."""
    from rl4py.trainers import load_checkpoint

    if not Path(path).is_file():
        parser.error(f"no checkpoint file at {path}")
    try:
        return load_checkpoint(path)
    except KeyError as error:
        parser.error(str(error.args[0]))


def evaluate(args: list[str]) -> dict:
    """``rl4py evaluate CKPT``: the greedy and the sampled mean return of a checkpoint's policy over
    ``--episodes`` episodes of its env (one per sub-env, reset with ``--seed``; observations
    normalized with the run's statistics when it trained with ``normalize_observations``); prints
    one JSON line per mode and returns the numbers."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="rl4py evaluate", description=evaluate.__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by an rl4py LightningModule")
    parser.add_argument("--episodes", type=int, default=16, help="episodes per mode (default 16)")
    parser.add_argument("--seed", type=int, default=1_000_003, help="seed of the env resets")
    parser.add_argument("--max-steps", type=int, default=10_000, help="step limit of an episode")
    options = parser.parse_args(args)
    if options.episodes < 1:
        parser.error(f"--episodes must be >= 1, got {options.episodes}")
    module = _load(parser, options.checkpoint)
    results = {}
    for mode, deterministic in (("greedy", True), ("sampled", False)):
        returns = module.evaluate(options.episodes, options.seed, deterministic, options.max_steps)
        results[mode] = {
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std(unbiased=False)),
            "min_return": float(returns.min()),
            "max_return": float(returns.max()),
        }
        print(json.dumps({"env": module.env_name, "mode": mode, "episodes": options.episodes, **results[mode]}))
    return results


def tune(args: list[str]) -> None:
    """``rl4py tune``: an optuna hyperparameter search over a trainer's config (:mod:`rl4py.tuning`)."""
    from rl4py.tuning import main as tune_main

    tune_main(args)


def plot(args: list[str]) -> None:
    """``rl4py plot RUN [RUN ...] --metric KEY --out FILE``: learning curves (:mod:`rl4py.plotting`)."""
    from rl4py.plotting import main as plot_main

    plot_main(args)


def launch(args: list[str]) -> dict | list[dict]:
    """``rl4py launch --provider vast|runpod --recipe FILE ...``: trains a recipe on the cheapest
    rented GPU that meets the requirements; ``rl4py launch offers|status|stop|terminate`` lists
    offers and manages the machine (:mod:`rl4py.cloud.launch`)."""
    from rl4py.cloud.launch import main as launch_main

    return launch_main(args)


def record(args: list[str]) -> dict:
    """``rl4py record CKPT --out run.gif``: a GIF or MP4 (by the suffix) of a checkpoint's greedy
    policy playing ``--episodes`` episodes of its env (or ``--env``), one after the other, reset
    with ``--seed``, ``--seed + 1``, ...; native envs draw themselves, gymnasium ids are made with
    ``render_mode="rgb_array"``. Prints one JSON line."""
    import argparse
    import json

    import torch

    from rl4py.collectors.recurrent_state import is_recurrent
    from rl4py.envs.factory import NATIVE_ENVS
    from rl4py.loggers.video import record_episode, write_gif, write_mp4
    from rl4py.modules.policy import resolve_actor

    parser = argparse.ArgumentParser(prog="rl4py record", description=record.__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by an rl4py LightningModule")
    parser.add_argument("--out", required=True, help="the video file: .gif or .mp4")
    parser.add_argument("--env", default=None, help="the env to play (default: the run's)")
    parser.add_argument("--episodes", type=int, default=1, help="episodes in the video (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode's reset")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default 25; a GIF needs <= 50)")
    parser.add_argument("--max-steps", type=int, default=1000, help="frames per episode at most (default 1000)")
    parser.add_argument("--sample", action="store_true", help="sample actions instead of the greedy policy")
    options = parser.parse_args(args)
    suffix = Path(options.out).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        parser.error(f"--out must end in .gif or .mp4, got {options.out!r}")
    if options.episodes < 1 or options.max_steps < 1:
        parser.error(f"--episodes and --max-steps must be >= 1, got {options.episodes} and {options.max_steps}")
    module = _load(parser, options.checkpoint)
    name = options.env or module.env_name
    extra = {} if name in NATIVE_ENVS else {"render_mode": "rgb_array"}
    try:
        env = module.make_evaluation_env(1, name, **extra)
    except (TypeError, ValueError) as error:
        parser.error(f"cannot make env {name!r} for recording: {error}")
    actor = resolve_actor(module.actor, deterministic=not options.sample)
    if is_recurrent(actor):
        env.close()
        parser.error(f"{options.checkpoint} holds a recurrent policy; record plays feed-forward policies only")
    frames, lengths = [], []
    try:
        with torch.random.fork_rng():  # sampled actions reproducible, the caller's RNG untouched
            torch.manual_seed(options.seed)
            for episode in range(options.episodes):
                clip = record_episode(
                    env, actor, options.max_steps, deterministic=not options.sample, seed=options.seed + episode
                )
                frames.extend(clip)
                lengths.append(len(clip))
    except TypeError as error:
        parser.error(str(error))
    finally:
        env.close()
    if suffix == ".gif":
        write_gif(options.out, frames, fps=options.fps)
    else:
        write_mp4(options.out, frames, fps=options.fps or 25.0)
    height, width = frames[0].shape[:2]
    line = {"env": name, "out": options.out, "episodes": options.episodes, "frames": len(frames)}
    line.update({"episode_lengths": lengths, "width": int(width), "height": int(height)})
    print(json.dumps(line))
    return line


_EXPORT_FORMATS = ("onnx", "torch-export")


def export(args: list[str]) -> dict:
    """``rl4py export CKPT --format onnx|torch-export --out PATH``: a checkpoint's deterministic
    policy as an ONNX model or a ``torch.export`` program (:mod:`rl4py.export`), which run without
    rl4py; a run trained with ``normalize_observations`` has its observation statistics baked in
    (the exported model takes raw observations). Prints one JSON line."""
    import argparse
    import json

    from rl4py.envs.factory import make_env
    from rl4py.export import TensorPolicy, export_onnx, export_program

    parser = argparse.ArgumentParser(prog="rl4py export", description=export.__doc__)
    parser.add_argument("checkpoint", help="a checkpoint written by an rl4py LightningModule")
    parser.add_argument("--format", required=True, choices=_EXPORT_FORMATS, help="onnx or torch-export")
    parser.add_argument("--out", required=True, help="the file to write (.onnx / .pt2 by convention)")
    options = parser.parse_args(args)
    module = _load(parser, options.checkpoint)
    transform = module.observation_transform()
    probe = make_env(module.env_name, num_envs=1, **module.env_kwargs)
    space = probe.single_observation_space
    probe.close()
    try:
        policy = TensorPolicy(module.actor, transform)  # refuses what does not export, with the reason
        if options.format == "onnx":
            export_onnx(module.actor, options.out, space, observation_transform=transform)
        else:
            export_program(module.actor, options.out, space, observation_transform=transform)
    except (TypeError, ImportError) as error:
        parser.error(f"cannot export {options.checkpoint}: {error}")
    line = {
        "env": module.env_name,
        "format": options.format,
        "out": options.out,
        "inputs": list(policy.input_names),
        "outputs": list(policy.output_names),
        "observation_shape": list(space.shape),
        "normalized_observations": transform is not None,
    }
    print(json.dumps(line))
    return line


_OWN_SUBCOMMANDS = {
    "evaluate": evaluate,
    "record": record,
    "export": export,
    "plot": plot,
    "tune": tune,
    "launch": launch,
}


def _config_error(error: ValueError) -> str | None:
    """The config check's own message inside a jsonargparse instantiation error (``PPOConfig: lr
    must be in [0.0, inf], got -1.0``), or ``None`` for another error."""
    found = re.findall(r"\b(\w+Config: [^\n]+)", str(error))
    return found[0] if found else None


def _node_rank_error(trainer) -> str | None:
    """Why this process cannot join the run: a ``NODE_RANK`` (or ``GROUP_RANK``) of ``num_nodes`` or
    more, the layout Lightning's own environment reads (``MASTER_ADDR``/``MASTER_PORT``/``NODE_RANK``);
    ``None`` when it can. Without ``--trainer.num_nodes`` such a node would train alone or fail
    deep inside the process group's setup. torchrun's and SLURM's layouts Lightning checks itself."""
    from lightning.fabric.plugins.environments import LightningEnvironment

    environment = getattr(trainer.strategy, "cluster_environment", None)
    if environment is not None and not isinstance(environment, LightningEnvironment):
        return None
    node_rank, num_nodes = LightningEnvironment().node_rank(), trainer.num_nodes
    if node_rank < num_nodes:
        return None
    return (
        f"this process is node {node_rank} (NODE_RANK) but the run has --trainer.num_nodes {num_nodes}; "
        "start every node with the same --trainer.num_nodes (the number of nodes) and --trainer.strategy ddp"
    )


def main(args: list[str] | None = None) -> None:
    """Runs ``LightningCLI`` with any ``LightningModule`` given by ``--model.class_path`` / the config,
    or one of rl4py's own subcommands (``evaluate``, ``record``, ``export``, ``plot``, ``tune``, ``launch``)."""
    args = sys.argv[1:] if args is None else list(args)
    if args and args[0] in _OWN_SUBCOMMANDS:
        _OWN_SUBCOMMANDS[args[0]](args[1:])
        return
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint, ProgressBar
    from lightning.pytorch.cli import LightningCLI

    from rl4py.trainers.lightning_callbacks import EnvStepCheckpoint, EnvStepProgressBar, RunSummary

    class RL4PyCLI(LightningCLI):
        def instantiate_trainer(self, **kwargs):
            # env steps where the user looks: the bar and the checkpoint names (unless configured otherwise)
            config = self._get(self.config_init, "trainer", default={})
            callbacks = config.get("callbacks") or []
            callbacks = list(callbacks) if isinstance(callbacks, list) else [callbacks]
            if config.get("enable_progress_bar") is not False and not any(
                isinstance(c, ProgressBar) for c in callbacks
            ):
                callbacks.append(EnvStepProgressBar())
            if config.get("enable_checkpointing") is not False and not any(
                isinstance(c, ModelCheckpoint) for c in callbacks
            ):
                callbacks.append(EnvStepCheckpoint())
            return super().instantiate_trainer(**{**kwargs, "callbacks": callbacks})

        def before_fit(self) -> None:
            problem = _node_rank_error(self.trainer)
            if problem is not None:
                print(f"rl4py: error: {problem}", file=sys.stderr)
                raise SystemExit(2)
            self.trainer.callbacks.append(RunSummary())  # the closing line: solved or not, steps, time, where

    _import_components()
    # the collector feeds Lightning in the training process on purpose (it runs the live policy)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # the args are the command line plus the --weights_only default
    warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
    try:
        RL4PyCLI(
            pl.LightningModule,
            subclass_mode_model=True,
            args=_safe_checkpoint_loading(args),
            save_config_kwargs={"overwrite": True},
            # log every rollout: the loggers' x-axis is env steps (RolloutModule.publish_metrics)
            trainer_defaults={"max_epochs": -1, "enable_model_summary": False, "log_every_n_steps": 1},
        )
    except ValueError as error:
        message = _config_error(error)
        if message is None:
            raise
        print(f"rl4py: error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
