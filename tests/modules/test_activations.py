"""Activation names and classes."""

from __future__ import annotations

import pytest


def test_activation_class_resolves_names_and_rejects_bad_input():
    from torch import nn

    from rl4py.modules import ACTIVATIONS, SigmoidTanh, Tanh, activation_class

    assert activation_class("tanh") is Tanh and activation_class("relu") is nn.ReLU
    assert activation_class("sigmoid_tanh") is SigmoidTanh
    assert activation_class(nn.GELU) is nn.GELU
    assert set(ACTIVATIONS) == {"tanh", "sigmoid_tanh", "relu"}
    match = r"train_ppo: activation must be one of \['relu', 'sigmoid_tanh', 'tanh'\], got 'gelu'"
    with pytest.raises(ValueError, match=match):
        activation_class("gelu", "train_ppo")
    with pytest.raises(TypeError, match="name or an nn.Module class"):
        activation_class(nn.ReLU(), "x")
