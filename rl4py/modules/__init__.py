"""Networks, distributions and policy modules."""

from rl4py.modules.activations import Tanh, fast_tanh
from rl4py.modules.actor_critic import make_discrete_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.distributions import Categorical
from rl4py.modules.init import orthogonal_init_
from rl4py.modules.mlp import MLP

__all__ = [
    "MLP",
    "Categorical",
    "ProbabilisticActor",
    "Tanh",
    "fast_tanh",
    "make_discrete_actor_critic",
    "orthogonal_init_",
]
