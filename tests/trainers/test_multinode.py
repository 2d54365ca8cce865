"""``rl4py fit`` across 2 "nodes" x 1 CPU process on loopback: two separate launches, each with
``--trainer.num_nodes 2``, started the three ways Lightning reads a cluster layout (torchrun,
MASTER_ADDR/MASTER_PORT/NODE_RANK, SLURM's variables as srun sets them); each rank dumps what it
saw (tests/trainers/rank_dump.py) and the ranks are compared."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
RECIPE = ROOT / "recipes" / "ppo_cartpole.yaml"
# launcher variables the test runner's own environment might hold (a CI job under SLURM or torchrun)
LAUNCHER_VARIABLES = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK"}
LAUNCHER_VARIABLES |= {"MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID", "PL_GLOBAL_SEED"}
ENVIRONMENT_CLASS = {"torchrun": "TorchElasticEnvironment", "env": "LightningEnvironment", "slurm": "SLURMEnvironment"}
# 12 optimizer steps = 2 rollouts (6 epochs x 1 minibatch each) of 32 envs x 32 steps, on each of 2 ranks
FRAMES = 2 * 2 * 32 * 32


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(form: str, node: int, port: int, root: Path, *extra: str) -> subprocess.Popen:
    """Starts node ``node``'s ``rl4py fit`` the way ``form`` does, in ``root/node{node}``."""
    workdir = root / f"node{node}"
    workdir.mkdir()
    fit = ["fit", "--config", str(RECIPE), "--trainer.num_nodes", "2", "--trainer.devices", "1"]
    fit += ["--trainer.strategy", "ddp", "--trainer.accelerator", "cpu", "--trainer.max_steps", "12"]
    fit += ["--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(workdir)]
    fit += ["--trainer.logger.init_args.save_dir", str(workdir / "runs")]
    fit += ["--trainer.callbacks+=rank_dump.RankDump", "--trainer.callbacks.out", str(root), *extra]
    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES and not k.startswith("SLURM_")}
    path = [str(ROOT), str(HERE), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    env.update(PYTHONPATH=os.pathsep.join(path), PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "rl4py.cli", *fit]
    if form == "torchrun":  # `torchrun ...` is `python -m torch.distributed.run ...`
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1"]
        launcher += ["--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port)]
        command = [*launcher, "-m", "rl4py.cli", *fit]
    elif form == "env":
        env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(node))
    elif form == "slurm":  # what `srun` sets in each task of `sbatch --nodes 2 --ntasks-per-node 1`
        env.update(SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="1", SLURM_NNODES="2", SLURM_JOB_NAME="rl4py")
        env.update(SLURM_JOB_ID="4242", SLURM_NODELIST="127.0.0.1", MASTER_PORT=str(port))
        env.update(SLURM_PROCID=str(node), SLURM_LOCALID="0", SLURM_NODEID=str(node))
    else:
        raise ValueError(form)
    return subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: a timeout kills torchrun's worker too
    )  # fmt: skip


def _run_two_nodes(form: str, root: Path, node1_extra: tuple[str, ...] = (), *extra: str) -> list[tuple[int, str]]:
    """Both nodes' ``(exit code, output)``; kills both after 180 s."""
    port = _free_port()
    nodes = [_launch(form, 0, port, root, *extra), _launch(form, 1, port, root, *extra, *node1_extra)]
    results = []
    try:
        for node in nodes:
            output, _ = node.communicate(timeout=180)
            results.append((node.returncode, output))
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
                node.communicate()
    return results


@pytest.mark.parametrize(
    ("form", "seeded"),
    [("torchrun", True), ("env", True), ("slurm", False)],
    ids=["torchrun", "master-addr-node-rank", "slurm-unseeded"],
)
def test_two_nodes_train_the_same_weights_on_their_own_envs(tmp_path, form, seeded):
    extra = () if seeded else ("--seed_everything", "false")
    (rc0, out0), (rc1, out1) = _run_two_nodes(form, tmp_path, (), *extra)
    assert rc0 == 0, out0[-3000:]
    assert rc1 == 0, out1[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    # one run of 2 processes, one on each node: node n holds global rank n
    for rank, dump in enumerate((r0, r1)):
        assert dump["cluster_environment"] == ENVIRONMENT_CLASS[form]
        assert dump["world_size"] == dump["process_group_size"] == 2 and dump["num_nodes"] == 2
        assert (dump["global_rank"], dump["node_rank"], dump["local_rank"]) == (rank, rank, 0)
        assert dump["global_step"] == 12 and dump["global_env_frames"] == FRAMES
    # the env seeds follow the global rank (both local ranks are 0), from one seed: rank 0's
    # when unseeded (each process starts with a random torch seed)
    assert r0["base_seed"] == r1["base_seed"] == (0 if seeded else r0["base_seed"])
    assert (r0["rank_seed"], r1["rank_seed"]) == (r0["base_seed"], r0["base_seed"] + 1000)
    assert not torch.equal(r0["first_obs"], r1["first_obs"])
    # both ranks started from the same weights, moved them, and ended bit for bit the same
    assert r0["state_dict"].keys() == r1["state_dict"].keys()
    for name, weight in r0["state_dict"].items():
        assert torch.equal(r0["initial"][name], r1["initial"][name]), f"{name} started differently"
        assert torch.equal(weight, r1["state_dict"][name]), f"{name} differs across nodes"
    assert any(not torch.equal(r0["initial"][k], v) for k, v in r0["state_dict"].items())
    # rank 0 writes the logs and the checkpoint, on its node, holding both ranks' own state
    run = tmp_path / "node0" / "runs" / "ppo_cartpole" / "version_0"
    assert r0["log_dir"] == r1["log_dir"] == str(run)
    assert not (tmp_path / "node1" / "runs").exists()
    assert f"after {FRAMES:,} env steps (12 optimizer steps)" in out0 and "rl4py: " not in out1
    (checkpoint,) = (run / "checkpoints").glob("*.ckpt")
    ranks = torch.load(checkpoint, weights_only=True)["rl4py"]["ranks"]
    assert len(ranks) == 2 and not torch.equal(ranks[0]["torch_rng"], ranks[1]["torch_rng"])


def test_nodes_started_with_different_settings_refuse_to_train(tmp_path):
    # without the check node 1 stops after 6 steps and node 0 waits in the next all-reduce for good
    node1 = ("--trainer.max_steps", "6", "--seed_everything", "3")
    results = _run_two_nodes("env", tmp_path, node1)
    for rc, output in results:
        assert rc != 0, output[-3000:]
        assert "the processes of this run were started with different settings" in output, output[-3000:]
        assert "rank 1 has seed_everything: 0 != 3" in output and "rank 1 has trainer.max_steps: 12 != 6" in output
    assert not list(tmp_path.glob("rank*.pt"))
