"""Value-estimation math as pure functions on tensors with time at dim -2.

Every estimator takes tensors shaped ``[*batch, T, 1]`` (or ``[*batch, T, F]`` for F value heads)
and returns the same shape. ``done`` cuts the recursion (the next step belongs to a new
episode); ``terminated`` cuts the bootstrap (the next state has value 0). A truncated step is
done but not terminated: it bootstraps from ``next_state_value``, the value of the true next
observation.

One function per estimator, each without a Python loop over time (a log-depth scan, see
``_common.reverse_linear_scan``). The plain loops they are tested against live in
:mod:`rl4py.testing.reference_estimators`.
"""

from rl4py.values.functional.gae import generalized_advantage_estimate, td0_advantage
from rl4py.values.functional.multihead import multi_head_generalized_advantage_estimate, multi_head_value_loss
from rl4py.values.functional.td_lambda import td_lambda_return_estimate
from rl4py.values.functional.upgo import upgo_advantage_estimate
from rl4py.values.functional.vtrace import VTraceReturns, vtrace, vtrace_advantage_estimate

__all__ = [
    "VTraceReturns",
    "generalized_advantage_estimate",
    "multi_head_generalized_advantage_estimate",
    "multi_head_value_loss",
    "td0_advantage",
    "td_lambda_return_estimate",
    "upgo_advantage_estimate",
    "vtrace",
    "vtrace_advantage_estimate",
]
