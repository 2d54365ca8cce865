from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rl4py.distributed import check_same_settings, settings_differences

SETTINGS = {"seed": 0, "config": {"lr": 0.01, "num_envs": 32, "num_cells": [64, 64]}, "env": "CartPole"}


def test_equal_settings_have_no_differences():
    assert settings_differences(SETTINGS, {**SETTINGS, "config": dict(SETTINGS["config"])}) == []
    # tuples and lists compare alike, NaN equals NaN (a config may hold one)
    assert settings_differences({"a": (1, 2), "b": float("nan")}, {"a": [1, 2], "b": float("nan")}) == []


def test_differences_name_the_dotted_key_and_both_values_rank_0_first():
    other = {"seed": 3, "config": {"lr": 0.01, "num_envs": 16, "num_cells": [64, 32]}, "env": "CartPole"}
    assert settings_differences(SETTINGS, other) == [
        "seed: 0 != 3",
        "config.num_envs: 32 != 16",
        "config.num_cells: [64, 64] != [64, 32]",
    ]


def test_a_key_on_one_side_only_and_a_changed_type_are_differences():
    assert settings_differences({"a": 1}, {"a": 1, "b": None}) == ["b: <missing> != None"]
    assert settings_differences({"a": 1, "b": {}}, {"a": 1.0}) == ["a: 1 != 1.0", "b: {} != <missing>"]
    assert settings_differences({"a": "1"}, {"a": 1}) == ["a: '1' != 1"]


def test_objects_compare_by_type_not_identity():
    # two processes never hold the same object: a module or a function reads as its type's name
    assert settings_differences({"net": torch.nn.Linear(2, 2)}, {"net": torch.nn.Linear(3, 3)}) == []
    assert settings_differences({"net": torch.nn.Linear(2, 2)}, {"net": torch.nn.Tanh()}) == [
        "net: '<torch.nn.modules.linear.Linear>' != '<torch.nn.modules.activation.Tanh>'"
    ]


def test_non_mappings_are_refused():
    with pytest.raises(TypeError, match="expected two mappings, got list and dict"):
        settings_differences([1], {})
    with pytest.raises(TypeError, match="takes a mapping of settings, got int"):
        check_same_settings(3)


def test_check_is_a_no_op_without_a_process_group():
    assert not dist.is_initialized()
    check_same_settings({"anything": object()})  # one process: nothing to compare


def _worker(rank: int, port: int, out: str) -> None:
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    check_same_settings({"seed": 0, "config": {"lr": 0.01}})  # the same on both ranks: passes
    message = None
    try:
        check_same_settings({"seed": 0, "config": {"lr": 0.01 * (rank + 1)}, "steps": [10, 10 + rank]}, who="Run")
    except ValueError as error:
        message = str(error)
    dist.barrier()  # both ranks raised and are still in step
    torch.save({"message": message}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.distributed
def test_two_processes_with_different_settings_both_raise_the_same_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_worker, args=(port, str(tmp_path)), nprocs=2, join=True)
    messages = [torch.load(tmp_path / f"{rank}.pt")["message"] for rank in (0, 1)]
    assert messages[0] == messages[1]
    assert messages[0].startswith("Run: the processes of this run were started with different settings")
    assert "rank 1 has config.lr: 0.01 != 0.02; rank 1 has steps: [10, 10] != [10, 11]" in messages[0]
