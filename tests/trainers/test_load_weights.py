"""rl4py/trainers/weights.py: files that are not weights are refused by name, never with advice to unpickle them.

(Kept outside tests/trainers/ while that folder is being rewritten; it belongs beside test_weights.py.)
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import torch

from rl4py.modules import make_discrete_actor_critic
from rl4py.trainers.weights import load_weights, save_weights

EXPECTED = (
    r"expected a \.safetensors file written by save_weights, a state dict saved with torch\.save, "
    r"or a Lightning checkpoint"
)


def write_junk(path: Path, kind: str) -> Path:
    if kind == "text":
        path.write_text("these are my notes, not a checkpoint\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bytes":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "a zip archive, not a torch file")
    elif kind == "truncated":
        actor, _ = make_discrete_actor_critic(4, 2)
        torch.save(actor.state_dict(), path)
        path.write_bytes(path.read_bytes()[:100])
    return path


@pytest.mark.parametrize("kind", ["text", "empty", "bytes", "zip", "truncated"])
@pytest.mark.parametrize("suffix", [".pt", ".ckpt"])
def test_junk_file_is_not_an_rl4py_weights_file(tmp_path: Path, kind: str, suffix: str) -> None:
    path = write_junk(tmp_path / f"junk{suffix}", kind)
    actor, _ = make_discrete_actor_critic(4, 2)
    before = {k: v.clone() for k, v in actor.state_dict().items()}
    with pytest.raises(ValueError) as info:
        load_weights(actor, path)
    message = str(info.value)
    assert message.startswith(f"load_weights: {path} is not an rl4py weights or checkpoint file")
    # torch fails on junk with many error types (UnpicklingError, EOFError, RuntimeError, ...): one is named
    assert re.search(r"\(torch\.load\(weights_only=True\) could not read it: \w+(Error|Exception)\)", message)
    assert re.search(EXPECTED, message)
    # torch's advice to retry with weights_only=False (arbitrary code execution) is not passed on
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "\n" not in message
    for key, value in actor.state_dict().items():
        assert torch.equal(value, before[key])


def test_pickled_objects_other_than_tensors_are_named_and_never_unpickled(tmp_path: Path) -> None:
    ran = []

    class Payload:
        def __reduce__(self):
            return (ran.append, ("unpickled",))

    actor, _ = make_discrete_actor_critic(4, 2)
    torch.save({"state_dict": actor.state_dict(), "payload": Payload()}, tmp_path / "model.ckpt")
    torch.save(actor, tmp_path / "whole_module.pt")
    for name, global_name in [("model.ckpt", ""), ("whole_module.pt", "rl4py.modules.")]:
        with pytest.raises(ValueError) as info:
            load_weights(actor, tmp_path / name)
        message = str(info.value)
        assert f"holds pickled objects that are not tensors (such as {global_name}" in message
        assert "unpickles tensors only" in message and "weights_only=False" not in message
        assert info.value.__cause__ is None and info.value.__suppress_context__
    assert ran == []


def test_junk_safetensors_file_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    path = tmp_path / "weights.safetensors"
    path.write_text("not a safetensors file")
    with pytest.raises(ValueError, match=r"load_weights: .*weights\.safetensors is not a readable safetensors file"):
        load_weights(make_discrete_actor_critic(4, 2)[0], path)


def test_missing_file_still_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_weights(make_discrete_actor_critic(4, 2)[0], tmp_path / "nowhere.pt")


def test_real_weights_still_load(tmp_path: Path) -> None:
    actor, _ = make_discrete_actor_critic(4, 2)
    fresh, _ = make_discrete_actor_critic(4, 2)
    torch.save(actor.state_dict(), tmp_path / "state.pt")
    load_weights(fresh, tmp_path / "state.pt")
    assert torch.equal(fresh.module[0].weight, actor.module[0].weight)
    pytest.importorskip("safetensors")
    again, _ = make_discrete_actor_critic(4, 2)
    load_weights(again, save_weights(actor, tmp_path / "actor"))
    assert torch.equal(again.module[0].weight, actor.module[0].weight)
