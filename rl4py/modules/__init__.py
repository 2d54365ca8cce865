"""Networks, distributions and policy modules."""

from rl4py.modules.activations import Tanh, fast_tanh
from rl4py.modules.actor_critic import make_actor_critic, make_discrete_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.autoregressive import AutoRegressiveActor, AutoRegressiveDist
from rl4py.modules.distributions import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Categorical,
    DiagGaussian,
    MaskedCategorical,
    MultiCategorical,
)
from rl4py.modules.gaussian import GaussianParams
from rl4py.modules.init import orthogonal_init_
from rl4py.modules.mlp import MLP

__all__ = [
    "LOG_STD_MAX",
    "LOG_STD_MIN",
    "MLP",
    "AutoRegressiveActor",
    "AutoRegressiveDist",
    "Categorical",
    "DiagGaussian",
    "GaussianParams",
    "MaskedCategorical",
    "MultiCategorical",
    "ProbabilisticActor",
    "Tanh",
    "fast_tanh",
    "make_actor_critic",
    "make_discrete_actor_critic",
    "orthogonal_init_",
]
