"""Export of deterministic policies: TensorPolicy equals the actor's mode; torch.export and ONNX equal TensorPolicy."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import InteractionType, set_interaction_type

from rl4py.export import TensorPolicy, export_onnx, export_program
from rl4py.modules import QValueActor, SigmoidTanh, make_actor_critic, make_q_network, make_recurrent_actor_critic

OBS = gym.spaces.Box(-1.0, 1.0, (5,))

ACTORS = {
    "discrete": lambda: make_actor_critic(OBS, gym.spaces.Discrete(4))[0],
    "discrete_masked_start": lambda: make_actor_critic(OBS, gym.spaces.Discrete(6, start=-2), masked=True)[0],
    "multi_discrete_start": lambda: make_actor_critic(OBS, gym.spaces.MultiDiscrete([3, 4], start=[1, -1]))[0],
    "multi_discrete_masked": lambda: make_actor_critic(OBS, gym.spaces.MultiDiscrete([3, 4]), masked=True)[0],
    "box": lambda: make_actor_critic(OBS, gym.spaces.Box(-1, 1, (2,)), log_std_mode="output")[0],
    "box_tanh": lambda: make_actor_critic(OBS, gym.spaces.Box(-1, 1, (3,)), tanh_squash=True)[0],
    "q": lambda: make_q_network(5, 4),
    "q_masked": lambda: make_q_network(5, 4, activation="tanh", action_mask_key="action_mask"),
}


def sharpen(actor: torch.nn.Module) -> torch.nn.Module:
    """Policy heads at gain 1 instead of 0.01 (outputs O(1), as after training), so the argmaxes and the
    tanh saturation vary across inputs."""
    if not isinstance(actor, QValueActor):
        head = [m for m in actor.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            head.weight.mul_(100.0)
    return actor


def inputs(policy: TensorPolicy, batch: int) -> tuple[torch.Tensor, ...]:
    obs = 3 * torch.randn(batch, 5)
    if not policy.masked:
        return (obs,)
    n = policy.nvec if policy.nvec else [policy.network(obs).shape[-1]]
    masks = []
    for size in n:  # every head keeps one allowed action per row
        mask = torch.rand(batch, size) < 0.4
        mask[torch.arange(batch), torch.randint(size, (batch,))] = True
        masks.append(mask)
    return obs, torch.cat(masks, -1)


def actor_mode(actor, obs, mask=None) -> torch.Tensor:
    td = TensorDict({"observation": obs}, batch_size=[obs.shape[0]])
    if mask is not None:
        td["action_mask"] = mask
    with torch.no_grad(), set_interaction_type(InteractionType.DETERMINISTIC):
        return actor(td)["action"]


@pytest.mark.parametrize("name", sorted(ACTORS))
def test_tensor_policy_is_the_actors_deterministic_action(name):
    actor = sharpen(ACTORS[name]())
    policy = TensorPolicy(actor)
    # 256 x 64 hidden units
    args = inputs(policy, 256)
    with torch.no_grad():
        action, params = policy(*args)
    expected = actor_mode(actor, *args)
    assert action.dtype == expected.dtype and action.shape == expected.shape
    if action.is_floating_point():
        torch.testing.assert_close(action, expected, atol=1e-5, rtol=0)
    else:
        assert torch.equal(action, expected)
    assert params.shape[0] == 256
    if policy.masked:  # the mask changes some actions (so this test would see a mask ignored)
        with torch.no_grad():
            all_allowed, _ = policy(args[0], torch.ones_like(args[1]))
        assert not torch.equal(all_allowed, action)
    assert not any(isinstance(m, SigmoidTanh) for m in policy.modules())


def test_tensor_policy_swaps_the_sigmoid_form_tanh_for_nn_tanh():
    actor, _ = make_actor_critic(OBS, gym.spaces.Discrete(3), activation=SigmoidTanh)
    assert any(isinstance(m, SigmoidTanh) for m in actor.modules())
    policy = TensorPolicy(actor)
    assert not any(isinstance(m, SigmoidTanh) for m in policy.modules())
    assert any(type(m) is torch.nn.Tanh for m in policy.modules())
    args = inputs(policy, 256)  # 256 x 64 hidden: the actor's SigmoidTanh takes its sigmoid form
    with torch.no_grad():
        action, _ = policy(*args)
    assert torch.equal(action, actor_mode(actor, *args))


@pytest.mark.parametrize("name", sorted(ACTORS))
def test_exported_program_equals_the_tensor_policy_at_any_batch_size(name, tmp_path):
    actor = sharpen(ACTORS[name]())
    policy = TensorPolicy(actor)
    program = export_program(actor, tmp_path / "policy.pt2", OBS)
    loaded = torch.export.load(str(tmp_path / "policy.pt2")).module()
    for batch in (1, 7):
        args = inputs(policy, batch)
        with torch.no_grad():
            want = policy(*args)
            for got in (program.module()(*args), loaded(*args)):
                for g, w in zip(got, want):
                    torch.testing.assert_close(g, w, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(ACTORS))
def test_onnxruntime_equals_torch_within_1e_5(name, tmp_path):
    import onnxruntime as ort
    import onnxscript  # noqa: F401 -- torch's ONNX exporter needs it

    actor = sharpen(ACTORS[name]())
    policy = TensorPolicy(actor)
    path = export_onnx(actor, tmp_path / "policy.onnx", OBS)
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == list(policy.input_names)
    assert [o.name for o in session.get_outputs()] == list(policy.output_names)
    for batch in (1, 33):
        args = inputs(policy, batch)
        feed = {n: a.numpy() for n, a in zip(policy.input_names, args)}
        with torch.no_grad():
            want = policy(*args)
        for got, w in zip(session.run(None, feed), want):
            assert got.dtype == w.numpy().dtype and got.shape == tuple(w.shape)
            np.testing.assert_allclose(got, w.numpy(), atol=1e-5, rtol=0)


def test_observation_transform_is_part_of_the_export(tmp_path):
    actor = sharpen(ACTORS["box"]())
    scale = torch.nn.Linear(5, 5)
    with torch.no_grad():
        scale.weight.copy_(0.1 * torch.eye(5))
        scale.bias.fill_(0.5)
    obs = torch.randn(9, 5)
    program = export_program(actor, None, (5,), observation_transform=scale).module()
    with torch.no_grad():
        action, _ = program(obs)
    torch.testing.assert_close(action, actor_mode(actor, 0.1 * obs + 0.5), atol=1e-6, rtol=0)
    assert not torch.allclose(action, actor_mode(actor, obs), atol=1e-3)


def test_the_export_is_a_snapshot_of_the_weights():
    actor = ACTORS["discrete"]()
    policy = TensorPolicy(actor)
    obs = torch.randn(4, 5)
    before = policy(obs)[1].clone()
    with torch.no_grad():
        for p in actor.parameters():
            p.add_(1.0)
    assert torch.equal(policy(obs)[1], before)


def test_unsupported_actors_and_examples_raise():
    recurrent = make_recurrent_actor_critic(OBS, gym.spaces.Discrete(2))
    with pytest.raises(TypeError, match="recurrent"):
        TensorPolicy(recurrent)
    with pytest.raises(TypeError, match="expected an rl4py actor"):
        TensorPolicy(torch.nn.Linear(5, 2))
    with pytest.raises(ValueError, match=r"shape \(4,\), expected \(5,\)"):
        export_program(ACTORS["discrete"](), None, (4,))
    with pytest.raises(ValueError, match="must be a Box"):
        export_program(ACTORS["discrete"](), None, gym.spaces.Discrete(5))
    with pytest.raises(ValueError, match="pass action_mask"):
        TensorPolicy(ACTORS["q_masked"]())(torch.zeros(2, 5))


def test_program_loads_and_runs_without_rl4py(tmp_path):
    actor = sharpen(ACTORS["discrete_masked_start"]())
    policy = TensorPolicy(actor)
    export_program(actor, tmp_path / "policy.pt2", OBS)
    args = inputs(policy, 6)
    with torch.no_grad():
        action, logits = policy(*args)
    torch.save({"args": args, "action": action, "logits": logits}, tmp_path / "io.pt")
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["rl4py"] = None  # import rl4py now raises ImportError
        import torch
        try:
            import rl4py
        except ImportError:
            pass
        else:
            raise SystemExit("rl4py is importable")
        io = torch.load({str(tmp_path / "io.pt")!r})
        program = torch.export.load({str(tmp_path / "policy.pt2")!r}).module()
        action, logits = program(*io["args"])
        assert torch.equal(action, io["action"]), (action, io["action"])
        torch.testing.assert_close(logits, io["logits"], atol=1e-6, rtol=0)
        assert not any(name.startswith("rl4py") for name in sys.modules if sys.modules[name] is not None)
        print("ok", action.tolist())
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_importing_rl4py_export_does_not_import_onnx():
    code = "import sys, rl4py, rl4py.export; assert not {'onnx', 'onnxruntime', 'onnxscript'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
