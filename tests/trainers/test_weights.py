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


def test_modules_holding_one_network_under_several_names_round_trip(tmp_path):
    from rl4py.trainers import ImpalaConfig, PPOConfig
    from rl4py.trainers.lightning_impala import ImpalaModule
    from rl4py.trainers.lightning_ppo import PPOModule

    for cls, config in ((PPOModule, PPOConfig), (ImpalaModule, ImpalaConfig)):
        model, fresh = (cls(config=config(num_envs=4, rollout_length=8, num_minibatches=1)) for _ in range(2))
        torch.manual_seed(0)
        model.configure_model()
        torch.manual_seed(1)
        fresh.configure_model()  # another init
        assert not torch.equal(model.actor.module[0].weight, fresh.actor.module[0].weight)
        # actor.* is also loss.actor.* and value_estimator's networks: stored once, restored under every name
        path = save_weights(model, tmp_path / cls.__name__)
        fresh = load_weights(fresh, path)
        for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
            assert torch.equal(a, b), f"{cls.__name__}: {name}"


def test_non_tensor_extra_state_is_not_a_weight(tmp_path):
    from rl4py.modules.qvalue import EpsilonGreedy, make_q_network

    policy = EpsilonGreedy(2, generator=0, actor=make_q_network(4, 2))
    fresh = EpsilonGreedy(2, generator=1, actor=make_q_network(4, 2))
    load_weights(fresh, save_weights(policy, tmp_path / "eps"))
    assert torch.equal(fresh.actor.network[0].weight, policy.actor.network[0].weight)
