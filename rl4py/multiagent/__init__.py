"""Two-player opponents: self-play snapshots, the payoff table, PFSP matchmaking and an AlphaStar-style league.

Nothing here plays a game: a trainer asks for an opponent, plays its learner against it, and reports
the outcome (see the guide, "Self-play, PFSP and leagues").
"""

from rl4py.multiagent.league import MAIN_MIXES, ROLES, League, LeaguePlayer, Opponent
from rl4py.multiagent.meta_nash import nash_mixture
from rl4py.multiagent.payoff import OUTCOMES, PayoffTable
from rl4py.multiagent.pfsp import PFSP, WEIGHTINGS, pfsp_probabilities, pfsp_weights
from rl4py.multiagent.pool import SelfPlayPool, Snapshot, branch, freeze

__all__ = [
    "MAIN_MIXES",
    "OUTCOMES",
    "PFSP",
    "ROLES",
    "WEIGHTINGS",
    "League",
    "LeaguePlayer",
    "Opponent",
    "PayoffTable",
    "SelfPlayPool",
    "Snapshot",
    "branch",
    "freeze",
    "nash_mixture",
    "pfsp_probabilities",
    "pfsp_weights",
]
