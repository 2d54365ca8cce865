"""Two-player games (issue 12): one subcommand per part, JSON lines, one summary line per game and setting.

Parts so far:

- ``drafting``: MCTS against the exact optimum of random drafting instances
  (:class:`rl4py.planning.DraftingGame`, ``n`` units, ``k`` picks each, alternating; synergies
  uniform in ``[0, 1)``). For each instance the brute-force solver gives the optimal first pick(s);
  MCTS searches from the empty draft and its most-visited first pick counts as optimal when the
  solver lists it. Two searchers, each with ``--simulations`` simulations per search:
  ``uct`` (random rollouts, ``c = 0.5``: the best of 0.15 - 1.0 for these returns) and
  ``puct-greedy`` (PUCT with :meth:`~rl4py.planning.DraftingGame.greedy_evaluator`: prior from the
  synergy gains, value from a greedy play-out; ``c = 1.0``). Also reports the mean regret (the
  optimum minus the value of the chosen pick) against a uniformly random first pick's. Target
  (issue 12): an optimal first pick in >= 95% of instances with 800 simulations. Measured (100
  instances, seed 0): uct 72%, puct-greedy 91% at 800 simulations; 88% and 98% at 3200
  (docs/guide/search.md has the other instance sets). The whole part takes ~10 CPU seconds.

Planned parts: ``kuhn``, ``leduc``, ``tictactoe``, ``throughput``.

    python bench/games.py drafting                          # 100 instances, n = 8, k = 3, 800 simulations
    python bench/games.py drafting --instances 20 --searchers uct
    python bench/games.py drafting --units 10 --picks 4 --simulations 3200
"""

from __future__ import annotations

import argparse
import time

import torch
from common import emit

from rl4py.planning import MCTS, DraftingGame

#: the exploration constant of each drafting searcher (UCT: a sweep over 0.15 - 1.0 on 100 instances)
DRAFTING_C = {"uct": 0.5, "puct-greedy": 1.0}
DRAFTING_TARGET = 0.95


def drafting(args: argparse.Namespace) -> None:
    searchers = args.searchers.split(",")
    unknown = [s for s in searchers if s not in DRAFTING_C]
    if unknown:
        raise SystemExit(f"--searchers: unknown {unknown}; expected some of {sorted(DRAFTING_C)}")
    start_cpu, start = time.process_time(), time.perf_counter()
    games = [DraftingGame.random(args.units, args.picks, seed=args.seed + i) for i in range(args.instances)]
    solutions = [game.solve() for game in games]
    solve_seconds = time.perf_counter() - start
    emit(
        {
            "bench": "games",
            "game": "drafting",
            "part": "solver",
            "instances": args.instances,
            "units": args.units,
            "picks": args.picks,
            "seconds_per_solve": round(solve_seconds / args.instances, 5),
            "cpu_seconds": round(time.process_time() - start_cpu, 3),
        }
    )
    for searcher in searchers:
        start_cpu, start = time.process_time(), time.perf_counter()
        hits, regret, random_regret = 0, 0.0, 0.0
        for i, (game, solution) in enumerate(zip(games, solutions)):
            evaluator = game.greedy_evaluator() if searcher == "puct-greedy" else None
            mcts = MCTS(game, args.simulations, c=DRAFTING_C[searcher], evaluator=evaluator, seed=args.seed + i)
            action = mcts.search(game.initial_state()).action
            hits += action in solution.best_actions
            regret += solution.value - solution.action_values[action].item()
            random_regret += solution.value - solution.action_values.nanmean().item()
            if args.verbose:
                emit(
                    {
                        "bench": "games",
                        "game": "drafting",
                        "searcher": searcher,
                        "instance": i,
                        "action": action,
                        "optimal": solution.best_actions,
                        "regret": round(solution.value - solution.action_values[action].item(), 4),
                    }
                )
        seconds = time.perf_counter() - start
        fraction = hits / args.instances
        emit(
            {
                "bench": "games",
                "game": "drafting",
                "summary": True,
                "searcher": searcher,
                "c": DRAFTING_C[searcher],
                "instances": args.instances,
                "units": args.units,
                "picks": args.picks,
                "simulations": args.simulations,
                "optimal_first_pick_fraction": round(fraction, 4),
                "target": DRAFTING_TARGET,
                "meets_target": fraction >= DRAFTING_TARGET,
                "mean_regret": round(regret / args.instances, 4),
                "random_pick_mean_regret": round(random_regret / args.instances, 4),
                "seconds_per_search": round(seconds / args.instances, 4),
                "seconds": round(seconds, 2),
                "cpu_seconds": round(time.process_time() - start_cpu, 2),
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parts = parser.add_subparsers(dest="part", required=True)
    p = parts.add_parser("drafting", help="MCTS against the exact optimum of random drafts")
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--units", type=int, default=8, help="n, the units in the pool")
    p.add_argument("--picks", type=int, default=3, help="k, the picks of each player")
    p.add_argument("--simulations", type=int, default=800)
    p.add_argument("--searchers", default="uct,puct-greedy", help=f"comma-separated, among {sorted(DRAFTING_C)}")
    p.add_argument("--seed", type=int, default=0, help="instance i uses seed + i (for its table and its search)")
    p.add_argument("--verbose", action="store_true", help="one line per instance too")
    p.set_defaults(run=drafting)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.run(args)


if __name__ == "__main__":
    main()
