"""Value estimators: modules writing ``"advantage"`` and ``"value_target"``, with pure-tensor math in
:mod:`rl4py.values.functional`."""

from rl4py.values import functional
from rl4py.values.base import VALUE_ESTIMATORS, ValueEstimator, make_value_estimator, register_value_estimator
from rl4py.values.gae import GAE

__all__ = [
    "GAE",
    "VALUE_ESTIMATORS",
    "ValueEstimator",
    "functional",
    "make_value_estimator",
    "register_value_estimator",
]
