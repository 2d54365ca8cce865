"""The rl4py command: recipes train, components swap from the command line, bad configs fail early."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest

from rl4py.cli import main
from rl4py.testing import shift_seed
from rl4py.values import GAE, VTrace

warnings.filterwarnings("ignore", ".*does not have many workers.*")
RECIPES = Path(__file__).parents[1] / "recipes"
RECIPE = str(RECIPES / "ppo_cartpole.yaml")
QUIET = [
    "--trainer.logger",
    "false",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.enable_checkpointing",
    "false",
    "--trainer.default_root_dir",  # where the CLI saves the resolved config.yaml
    tempfile.mkdtemp(prefix="rl4py-cli-"),
]


def _fit(*extra: str, recipe: str = RECIPE):
    from lightning.pytorch.cli import LightningCLI

    captured = {}
    original = LightningCLI.__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        captured["cli"] = self

    LightningCLI.__init__ = spy
    try:
        main(["fit", "--config", recipe, *QUIET, *extra])
    finally:
        LightningCLI.__init__ = original
    return captured["cli"]


def _solved(cli, *, seeds=(0, 1), recipe: str = RECIPE):
    """The recipe's run (and, if it missed, one more seed) reaches 475 before its env-step budget."""
    for seed in seeds[1:]:
        if cli.model.mean_recent_return >= 475.0:
            break
        cli = _fit("--seed_everything", str(shift_seed(seed)), recipe=recipe)
    assert cli.model.mean_recent_return >= 475.0, f"{cli.model.mean_recent_return:.1f} after {cli.model.env_frames}"
    assert cli.model.global_env_frames < cli.model.config.total_frames  # stopped by the target, not the budget
    return cli


@pytest.mark.slow
def test_recipe_solves_cartpole_with_trainer_defaults():
    _solved(_fit("--seed_everything", str(shift_seed(0))))


@pytest.mark.slow
def test_impala_recipe_solves_cartpole_and_swaps_upgo_on():
    from rl4py.trainers.impala import UPGO_ADVANTAGE
    from rl4py.trainers.lightning_impala import ImpalaModule

    impala = str(RECIPES / "impala_cartpole.yaml")
    cli = _solved(_fit("--seed_everything", str(shift_seed(0)), recipe=impala), recipe=impala)
    assert isinstance(cli.model, ImpalaModule) and isinstance(cli.model.value_estimator, VTrace)
    upgo = _fit("--trainer.max_steps", "4", "--model.config.upgo", "true", recipe=impala)
    assert upgo.model.upgo is not None and UPGO_ADVANTAGE in upgo.model.loss.advantage_keys


@pytest.mark.slow
def test_one_override_swaps_gae_for_vtrace_and_still_trains():
    gae = _fit("--trainer.max_steps", "60")
    vtrace = _fit("--trainer.max_steps", "60", "--model.value_estimator.class_path", "rl4py.values.VTrace")
    assert type(gae.model.value_estimator) is GAE
    assert isinstance(vtrace.model.value_estimator, VTrace)
    assert vtrace.model.value_estimator.actor is vtrace.model.actor
    assert vtrace.trainer.global_step == 60
    assert vtrace.model.mean_recent_return > 30.0  # learning: a random policy averages ~22


def test_short_class_names_resolve():
    cli = _fit("--trainer.max_steps", "6", "--model", "PPOModule", "--model.value_estimator", "VTrace")
    assert type(cli.model).__name__ == "PPOModule" and isinstance(cli.model.value_estimator, VTrace)


@pytest.mark.parametrize("recipe", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_print_config_round_trips_every_recipe(recipe, tmp_path, capsys):
    """``--print_config`` prints a config that, fed back, gives the same model settings."""
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(RECIPES / recipe), "--print_config"])
    printed = capsys.readouterr().out
    (tmp_path / "printed.yaml").write_text(printed)
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(tmp_path / "printed.yaml"), "--print_config"])
    assert capsys.readouterr().out == printed
    if "bc" in recipe or "distill" in recipe:  # they need a dataset / a teacher: see the BC recipe test
        return
    first = _fit("--trainer.max_steps", "1", recipe=str(RECIPES / recipe))
    again = _fit("--trainer.max_steps", "1", recipe=str(tmp_path / "printed.yaml"))
    assert type(first.model) is type(again.model) and first.model.config == again.model.config


def test_recurrent_recipe_trains_a_recurrent_policy():
    cli = _fit("--trainer.max_steps", "24", recipe=str(RECIPES / "recurrent_ppo_cartpole.yaml"))
    assert type(cli.model).__name__ == "RecurrentPPOModule" and cli.model.config.chunk_length == 16
    assert cli.model.env_frames == 2 * 32 * 32  # 2 rollouts of 6 epochs x 2 minibatches
    assert cli.model.collector.env.single_observation_space.shape == (2,)  # position and angle only


def test_bc_and_distillation_recipes_run_on_a_dataset_and_a_teacher(tmp_path):
    from rl4py import CartPole
    from rl4py.trainers import collect_demonstrations

    teacher = _fit("--trainer.max_steps", "6", "--trainer.default_root_dir", str(tmp_path))
    ckpt = tmp_path / "teacher.ckpt"
    teacher.trainer.save_checkpoint(ckpt)
    collect_demonstrations(CartPole(num_envs=4), teacher.model.actor, 1024).memmap(tmp_path / "demos")
    bc = _fit(
        "--model.dataset",
        str(tmp_path / "demos"),
        "--model.config.epochs",
        "2",
        recipe=str(RECIPES / "bc_cartpole.yaml"),
    )
    assert bc.model.training_steps == 2
    distill = _fit(
        "--model.teacher",
        str(ckpt),
        "--model.config.total_frames",
        "1024",
        recipe=str(RECIPES / "distill_cartpole.yaml"),
    )
    assert distill.model.env_frames == 1024 and distill.model.loss.teacher is not None


def test_loss_override_reaches_the_loss():
    cli = _fit("--trainer.max_steps", "6", "--model.loss.init_args.dual_clip", "3.0")
    assert cli.model.loss.dual_clip == 3.0


def test_unknown_key_fails_fast(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", RECIPE, "--model.init_args.learning_rate_typo", "0.1"])
    assert info.value.code != 0
    assert "learning_rate_typo" in capsys.readouterr().err


def test_wrong_type_fails_fast(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", RECIPE, "--model.config.num_envs", "many"])
    assert "num_envs" in capsys.readouterr().err


def test_missing_env_id_fails_fast():
    # raised while the CLI instantiates the model, before any training
    with pytest.raises(ValueError, match=r"unknown env 'NoSuchEnv-v0'.*gymnasium id"):
        main(["fit", "--config", RECIPE, *QUIET, "--model.init_args.env", "NoSuchEnv-v0"])


def test_checkpoints_load_without_unpickling_by_default(tmp_path):
    from rl4py.cli import _safe_checkpoint_loading

    assert _safe_checkpoint_loading(["fit", "--config", "x.yaml"]) == [
        "fit",
        "--weights_only=true",
        "--config",
        "x.yaml",
    ]
    assert _safe_checkpoint_loading(["fit", "--weights_only", "false"]) == ["fit", "--weights_only", "false"]
    assert _safe_checkpoint_loading(["--help"]) == ["--help"]
    first = _fit("--trainer.max_steps", "6", "--trainer.default_root_dir", str(tmp_path))
    path = tmp_path / "mid.ckpt"
    first.trainer.save_checkpoint(path)
    resumed = _fit("--trainer.max_steps", "12", "--ckpt_path", str(path))
    assert resumed.trainer.global_step == 12 and resumed.model.env_frames == 2 * 32 * 32


def test_a_loss_beside_config_loss_fields_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        _fit("--trainer.max_steps", "6", "--model.config.entropy_coeff", "0.5")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "rl4py: error: PPOConfig: entropy_coeff=0.5 would be ignored: a given loss" in err
    assert "Traceback" not in err and "Namespace(" not in err


def test_an_out_of_range_value_stops_with_the_configs_message_only(capsys):
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", RECIPE, *QUIET, "--model.config.lr", "-1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "rl4py: error: PPOConfig: lr must be in [0.0, inf], got -1.0"


@pytest.mark.slow
def test_dqn_recipe_solves_cartpole():
    from rl4py.trainers.lightning_dqn import DQNModule

    dqn = str(RECIPES / "dqn_cartpole.yaml")
    cli = _solved(_fit("--seed_everything", str(shift_seed(0)), recipe=dqn), recipe=dqn)
    assert isinstance(cli.model, DQNModule) and cli.model.loss.double_dqn


def test_fit_ends_with_a_summary_line_and_evaluate_reports_greedy_and_sampled_returns(tmp_path, capsys):
    from rl4py.cli import evaluate
    from rl4py.trainers.lightning_callbacks import RunSummary

    cli = _fit("--trainer.max_steps", "12", "--trainer.default_root_dir", str(tmp_path))
    (summary,) = [c for c in cli.trainer.callbacks if isinstance(c, RunSummary)]
    assert summary.line.startswith("rl4py: not solved CartPole")
    assert f"after {2 * 32 * 32:,} env steps (12 optimizer steps)" in summary.line
    path = tmp_path / "run.ckpt"
    cli.trainer.save_checkpoint(path)
    capsys.readouterr()
    results = evaluate([str(path), "--episodes", "4", "--max-steps", "600"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and '"mode": "greedy"' in lines[0] and '"mode": "sampled"' in lines[1]
    assert 1.0 <= results["greedy"]["min_return"] <= results["greedy"]["mean_return"] <= 500.0
    with pytest.raises(SystemExit):
        evaluate([str(path), "--episodes", "0"])


def test_dreamer_recipe_swaps_the_representation_loss_from_the_command_line():
    from rl4py.losses import BarlowTwinsLoss, DecoderLoss, InfoNCELoss

    dreamer = str(RECIPES / "dreamer_cartpole.yaml")
    small = ["--trainer.max_steps", "1", "--model.config.learning_starts", "256", "--model.config.preset", "tiny"]
    cli = _fit(*small, recipe=dreamer)
    assert type(cli.model).__name__ == "DreamerModule"
    assert isinstance(cli.model.loss.world_model.representation_loss, BarlowTwinsLoss)
    # learning_starts, then one rollout of 4 frames owing 4 * 128 / (16 * 32) = 1 gradient step
    assert cli.model.updates == 1 and cli.model.env_frames == 256 + 4
    cli = _fit(*small, "--model.config.representation", "decoder", recipe=dreamer)
    assert isinstance(cli.model.loss.world_model.representation_loss, DecoderLoss)
    cli = _fit(*small, "--model.representation_loss.class_path", "rl4py.losses.InfoNCELoss",
               "--model.representation_loss.init_args.temperature", "0.5", recipe=dreamer)  # fmt: skip
    swapped = cli.model.loss.world_model.representation_loss
    assert isinstance(swapped, InfoNCELoss) and swapped.temperature == 0.5


@pytest.fixture
def restore_rank():
    """A Trainer built as node 1 sets Lightning's process-wide ``rank_zero_only.rank`` to 1, which
    would silence every later test's loggers and rank-zero warnings in this process: put it back."""
    from lightning.fabric.utilities import rank_zero as fabric_rank_zero
    from lightning.pytorch.utilities import rank_zero as pytorch_rank_zero

    functions = {fabric_rank_zero.rank_zero_only, pytorch_rank_zero.rank_zero_only}
    saved = {f: getattr(f, "rank", None) for f in functions}
    yield
    for function, rank in saved.items():
        if rank is None:
            if hasattr(function, "rank"):
                del function.rank
        else:
            function.rank = rank


@pytest.mark.parametrize("strategy", [[], ["--trainer.strategy", "ddp"]], ids=["auto", "ddp"])
@pytest.mark.usefixtures("restore_rank")
def test_a_node_rank_beyond_num_nodes_stops_before_joining(monkeypatch, capsys, strategy):
    # node 1 of a MASTER_ADDR/NODE_RANK launch whose command line forgot --trainer.num_nodes 2:
    # it would train alone (auto) or fail inside gloo's setup ("rank < size. 1 vs 1", ddp)
    monkeypatch.setenv("NODE_RANK", "1")
    with pytest.raises(SystemExit) as info:
        main(["fit", "--config", RECIPE, *QUIET, "--trainer.max_steps", "6", *strategy])
    assert info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after Lightning's own info lines
    assert last.startswith("rl4py: error: this process is node 1 (NODE_RANK) but the run has --trainer.num_nodes 1;")


@pytest.mark.usefixtures("restore_rank")
def test_a_node_rank_within_num_nodes_may_join(monkeypatch):
    import lightning.pytorch as pl

    from rl4py.cli import _node_rank_error

    monkeypatch.setenv("NODE_RANK", "1")
    trainer = pl.Trainer(accelerator="cpu", devices=1, num_nodes=2, strategy="ddp", logger=False)
    assert trainer.node_rank == 1 and _node_rank_error(trainer) is None
    assert _node_rank_error(pl.Trainer(accelerator="cpu", devices=1, logger=False)) is not None
    monkeypatch.setenv("NODE_RANK", "0")
    assert _node_rank_error(pl.Trainer(accelerator="cpu", devices=1, logger=False)) is None
