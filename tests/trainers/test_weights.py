from __future__ import annotations

import pytest
import torch

from rl4py.modules import make_discrete_actor_critic
from rl4py.trainers.weights import load_weights, save_weights


def test_safetensors_round_trip(tmp_path):
    actor, _ = make_discrete_actor_critic(4, 2)
    path = save_weights(actor, tmp_path / "actor")
    assert path.suffix == ".safetensors"
    fresh, _ = make_discrete_actor_critic(4, 2)
    load_weights(fresh, path)
    for a, b in zip(actor.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_other_architecture_names_mismatched_keys(tmp_path):
    actor, _ = make_discrete_actor_critic(4, 2, num_cells=(64, 64))
    path = save_weights(actor, tmp_path / "actor.safetensors")
    wider, _ = make_discrete_actor_critic(4, 2, num_cells=(32,))
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    with pytest.raises(ValueError, match=r"another architecture.*unexpected keys \['module.4.bias'.*shape mismatches"):
        load_weights(wider, path)
    for key, value in wider.state_dict().items():  # nothing was loaded
        assert torch.equal(value, before[key])


def test_torch_checkpoints_load_with_weights_only(tmp_path):
    actor, _ = make_discrete_actor_critic(4, 2)
    torch.save({"state_dict": actor.state_dict(), "epoch": 3}, tmp_path / "lightning_like.ckpt")
    fresh, _ = make_discrete_actor_critic(4, 2)
    load_weights(fresh, tmp_path / "lightning_like.ckpt")
    assert torch.equal(fresh.module[0].weight, actor.module[0].weight)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"state_dict": actor.state_dict(), "payload": Evil()}, tmp_path / "evil.ckpt")
    with pytest.raises(Exception, match="[Ww]eights only|weights_only|Unsupported global"):
        load_weights(fresh, tmp_path / "evil.ckpt")
