"""Value estimators: modules writing ``"advantage"`` and ``"value_target"``, with pure-tensor math in
:mod:`rl4py.values.functional`; the percentile return normalizer that scales advantages (DreamerV3)."""

from rl4py.values import functional
from rl4py.values.base import VALUE_ESTIMATORS, ValueEstimator, make_value_estimator, register_value_estimator
from rl4py.values.gae import GAE
from rl4py.values.multihead import MultiHeadGAE, multi_head_value_loss
from rl4py.values.percentile import PercentileNormalizer
from rl4py.values.td_lambda import TDLambda
from rl4py.values.upgo import UPGO
from rl4py.values.vtrace import VTrace

__all__ = [
    "GAE",
    "UPGO",
    "VALUE_ESTIMATORS",
    "MultiHeadGAE",
    "PercentileNormalizer",
    "TDLambda",
    "VTrace",
    "ValueEstimator",
    "functional",
    "make_value_estimator",
    "multi_head_value_loss",
    "register_value_estimator",
]
