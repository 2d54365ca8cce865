from __future__ import annotations

import pytest
import torch
from tensordict import TensorDict
from tensordict.nn import TensorDictModule
from torch import nn

from rl4py.modules import MLP, ProbabilisticActor
from rl4py.modules.conv import ConvEncoder
from rl4py.modules.multi_encoder import MultiEncoder


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


class Recording(nn.Module):
    """Records every input it gets and returns ``out_features`` copies of the input's sum per sample."""

    def __init__(self, out_features: int) -> None:
        super().__init__()
        self.out_features = out_features
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x)
        return x.flatten(1).sum(-1, keepdim=True).expand(-1, self.out_features)


def _obs(batch: int = 4) -> TensorDict:
    return TensorDict(
        {
            "observation": {"pixels": torch.rand(batch, 3, 8, 8), "state": torch.randn(batch, 5)},
            "goal": torch.randn(batch, 2),
            "other": torch.randn(batch, 7),
        },
        batch_size=[batch],
    )


def test_each_encoder_gets_exactly_its_input_and_outputs_concatenate_in_order():
    pixels, state, goal = Recording(3), Recording(2), Recording(1)
    encoder = MultiEncoder({("observation", "pixels"): pixels, ("observation", "state"): state, "goal": goal})
    obs = _obs()
    out = encoder(obs)
    for rec, key in [(pixels, ("observation", "pixels")), (state, ("observation", "state")), (goal, "goal")]:
        assert len(rec.inputs) == 1 and rec.inputs[0] is obs[key]
    assert out.shape == (4, 6) and encoder.out_features == 6
    sums = [obs[k].flatten(1).sum(-1) for k in (("observation", "pixels"), ("observation", "state"), "goal")]
    expected = torch.stack([sums[0]] * 3 + [sums[1]] * 2 + [sums[2]], -1)
    torch.testing.assert_close(out, expected)


def test_plain_nested_dicts_and_tuple_keyed_dicts_route_the_same():
    pixels, goal = Recording(2), Recording(1)
    encoder = MultiEncoder({("observation", "pixels"): pixels, "goal": goal})
    obs = _obs()
    nested = {"observation": {"pixels": obs["observation", "pixels"]}, "goal": obs["goal"]}
    flat = {("observation", "pixels"): obs["observation", "pixels"], "goal": obs["goal"]}
    results = [encoder(obs), encoder(nested), encoder(flat)]
    torch.testing.assert_close(results[1], results[0])
    torch.testing.assert_close(results[2], results[0])
    assert all(x is obs["observation", "pixels"] for x in pixels.inputs)


def test_real_encoders_on_images_and_vectors_with_gradients():
    encoder = MultiEncoder(
        {
            ("observation", "pixels"): ConvEncoder(3, 8, channels=(4,), kernel_sizes=4, strides=2, paddings=1),
            ("observation", "state"): MLP(5, 16),
        }
    )
    obs = _obs()
    out = encoder(obs)
    assert out.shape == (4, 512 + 16) and encoder.out_features == 528
    out.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())
    # the image features depend on the pixels only, the state features on the state only
    obs2 = obs.clone()
    obs2["observation", "state"] = torch.randn(4, 5)
    out2 = encoder(obs2)
    torch.testing.assert_close(out2[:, :512], out[:, :512])
    assert not torch.allclose(out2[:, 512:], out[:, 512:])


def test_positional_tensors_in_in_keys_order_for_tensordict_modules():
    encoder = MultiEncoder({("observation", "state"): MLP(5, 8), "goal": MLP(2, 4)})
    assert encoder.in_keys == [("observation", "state"), "goal"]
    obs = _obs()
    expected = encoder(obs)
    torch.testing.assert_close(encoder(obs["observation", "state"], obs["goal"]), expected)
    module = TensorDictModule(encoder, in_keys=encoder.in_keys, out_keys=["embedding"])
    torch.testing.assert_close(module(obs.clone())["embedding"], expected)


def test_inside_an_actor_reading_a_nested_observation():
    # the actor passes td["observation"], a TensorDict: the encoder's keys are relative to it
    encoder = MultiEncoder({"state": MLP(5, 8), "pixels": ConvEncoder(3, 8, (4,), 4, 2, 1, out_features=8)})
    actor = ProbabilisticActor(nn.Sequential(encoder, nn.Linear(16, 3)))
    obs = _obs()
    td = actor(obs.clone())
    assert td["logits"].shape == (4, 3) and td["action"].shape == (4,)
    torch.testing.assert_close(td["logits"], actor.module(obs["observation"]))


def test_extra_batch_dims():
    encoder = MultiEncoder({"a": MLP(3, 4), "b": MLP(2, 5)})
    obs = TensorDict({"a": torch.randn(2, 6, 3), "b": torch.randn(2, 6, 2)}, batch_size=[2, 6])
    assert encoder(obs).shape == (2, 6, 9)


def test_missing_key_error_names_the_key_and_lists_the_available_ones():
    encoder = MultiEncoder({("observation", "pixels"): Recording(1), ("observation", "depth"): Recording(1)})
    with pytest.raises(KeyError, match=r"no entry \('observation', 'depth'\).*available keys:.*'pixels'"):
        encoder(_obs())
    with pytest.raises(KeyError, match=r"no entry \('observation', 'depth'\)"):
        encoder({"observation": {"pixels": torch.rand(4, 3, 8, 8)}})


def test_other_errors():
    with pytest.raises(ValueError, match="at least one"):
        MultiEncoder({})
    with pytest.raises(TypeError, match="keys must be strings or tuples of strings, got 3"):
        MultiEncoder({3: MLP(2, 2)})
    with pytest.raises(TypeError, match="the encoder for 'a' must be an nn.Module, got function"):
        MultiEncoder({"a": lambda x: x})
    with pytest.raises(ValueError, match="key 'a' is given twice"):
        MultiEncoder({"a": MLP(2, 2), ("a",): MLP(2, 2)})
    encoder = MultiEncoder({"a": MLP(3, 4), "b": nn.Identity()})
    assert encoder.out_features is None
    with pytest.raises(ValueError, match=r"encoder for 'b' returned \(5, 2\), expected batch dims \(4,\)"):
        encoder({"a": torch.randn(4, 3), "b": torch.randn(5, 2)})
    with pytest.raises(TypeError, match=r"expected one observation .* or 2 tensors"):
        encoder(torch.randn(4, 3))
