"""Curriculum Self-Play Learning (JueWu's CSPL): specialists on fixed team compositions, distilled into
one student, which then trains on random compositions (rl4py.trainers.train_cspl on HeroLane).

Run: python recipes/curriculum.py [--hero-types 4] [--team-size 2] [--seed 0] [--smoke: a tiny budget]
"""

import argparse
import functools

import torch

from rl4py.envs import HeroLane
from rl4py.trainers import CSPLConfig, train_cspl

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--hero-types", type=int, default=4, help="hero types H (<= 6)")
parser.add_argument("--team-size", type=int, default=2, help="heroes per team k")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()
torch.set_num_threads(1)

make_env = functools.partial(HeroLane, num_hero_types=args.hero_types, team_size=args.team_size)
config = CSPLConfig(seed=args.seed)  # 20k env steps per specialist, 12k of distillation, 30k of student PPO
if args.smoke:
    config = config.replace(
        specialist=config.specialist.replace(total_frames=768),
        distill=config.distill.replace(total_frames=600),
        student=config.student.replace(total_frames=768),
        eval_envs=4,
        agreement_frames=96,
    )
names = [hero.name for hero in make_env().hero_types]


def report(phase: str, figures: dict) -> None:
    print(f"phase {phase}: {figures['frames']} env steps, {figures['seconds']:.1f} s")
    for team, value in figures["returns"].items():
        agreement = figures.get("agreement", {}).get(team)
        extra = f"  agreement with its specialist {agreement:.2f}" if agreement is not None else ""
        print(f"  {'+'.join(names[t] for t in team):<18} greedy return {value:.2f}{extra}")
    print(f"  {'random composition':<18} greedy return {figures['mean_return']:.2f}")


result = train_cspl(make_env, config, on_phase=report)
print(f"CSPL: {result.total_frames} env steps in all")
