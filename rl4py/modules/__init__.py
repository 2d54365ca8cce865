"""Networks, distributions and policy modules."""

from rl4py.modules.activations import ACTIVATIONS, SigmoidTanh, Tanh, activation_class, fast_tanh
from rl4py.modules.actor_critic import make_actor_critic, make_discrete_actor_critic
from rl4py.modules.actors import ProbabilisticActor
from rl4py.modules.attention import AttentionPooling, PointerNetwork, TargetAttention, TransformerEncoder
from rl4py.modules.autoregressive import AutoRegressiveActor, AutoRegressiveDist
from rl4py.modules.conv import ConvDecoder, ConvEncoder
from rl4py.modules.distributions import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Categorical,
    DiagGaussian,
    MaskedCategorical,
    MultiCategorical,
)
from rl4py.modules.dreamer_policy import DreamerPolicy
from rl4py.modules.film import FiLM
from rl4py.modules.gaussian import GaussianParams
from rl4py.modules.gsde import GSDEActor, GSDEParams
from rl4py.modules.init import orthogonal_init_
from rl4py.modules.mlp import MLP
from rl4py.modules.multi_encoder import MultiEncoder
from rl4py.modules.policy import Policy, predict
from rl4py.modules.qvalue import EpsilonGreedy, QValueActor, greedy_action, linear_schedule, make_q_network
from rl4py.modules.recurrent import BlockGRU, GRUCore, LSTMCore, RecurrentCore, make_core
from rl4py.modules.recurrent_actor import (
    RecurrentActor,
    RecurrentActorCritic,
    RecurrentValue,
    StoredStateValue,
    make_recurrent_actor_critic,
)
from rl4py.modules.rssm import RSSM, RSSM_PRESETS, RSSMSize, RSSMState
from rl4py.modules.twohot import Symlog, TwoHot, symexp, symlog
from rl4py.modules.vae import BetaVAE, gaussian_kl
from rl4py.modules.z_conditioning import Z_CONDITIONING_MODES, ZConditionedMLP, make_z_conditioned_actor_critic

__all__ = [
    "BlockGRU",
    "EpsilonGreedy",
    "Policy",
    "QValueActor",
    "greedy_action",
    "linear_schedule",
    "GRUCore",
    "LSTMCore",
    "RecurrentActor",
    "RecurrentActorCritic",
    "RecurrentCore",
    "RecurrentValue",
    "StoredStateValue",
    "make_core",
    "make_q_network",
    "make_recurrent_actor_critic",
    "LOG_STD_MAX",
    "LOG_STD_MIN",
    "MLP",
    "AttentionPooling",
    "AutoRegressiveActor",
    "BetaVAE",
    "ConvDecoder",
    "ConvEncoder",
    "FiLM",
    "MultiEncoder",
    "PointerNetwork",
    "TargetAttention",
    "TransformerEncoder",
    "gaussian_kl",
    "AutoRegressiveDist",
    "Categorical",
    "DiagGaussian",
    "GSDEActor",
    "GSDEParams",
    "GaussianParams",
    "MaskedCategorical",
    "MultiCategorical",
    "ProbabilisticActor",
    "ACTIVATIONS",
    "SigmoidTanh",
    "Tanh",
    "activation_class",
    "fast_tanh",
    "make_actor_critic",
    "make_discrete_actor_critic",
    "orthogonal_init_",
    "predict",
    "DreamerPolicy",
    "RSSM",
    "RSSM_PRESETS",
    "RSSMSize",
    "RSSMState",
    "Symlog",
    "TwoHot",
    "symexp",
    "symlog",
    "Z_CONDITIONING_MODES",
    "ZConditionedMLP",
    "make_z_conditioned_actor_critic",
]
