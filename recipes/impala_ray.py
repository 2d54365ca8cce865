"""IMPALA on Ray: rollout workers (Ray actors) act on gymnasium's CartPole-v1 while this process
learns; V-trace corrects for the workers running behind the learner.

One machine (Ray starts here and stops at the end):
    python recipes/impala_ray.py --workers 2
A Ray cluster (the same code): `ray start --head` on one machine, `ray start --address=HEAD:6379`
on the others, then on the head:
    python recipes/impala_ray.py --address auto --workers 32
Options: --central (one batched inference actor answers every worker: SEED RL), --smoke (a tiny
budget that checks the wiring, CI).
"""

import argparse
import logging

import torch

from rl4py.trainers import ImpalaRayConfig, train_impala_ray

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--address", default=None, help="Ray cluster to join ('auto', 'ray://head:10001'); default: local")
parser.add_argument("--workers", type=int, default=2, help="rollout workers (Ray actors)")
parser.add_argument("--envs-per-worker", type=int, default=8, help="sub-envs per worker")
parser.add_argument("--env", default="CartPole-v1", help="gymnasium id or native env name")
parser.add_argument("--central", action="store_true", help="centralized inference (SEED RL)")
parser.add_argument("--device", default="cpu", help="the learner's device (and the inference server's)")
parser.add_argument("--smoke", action="store_true", help="a tiny budget that checks the wiring (CI)")
args = parser.parse_args()

torch.set_num_threads(1)
logging.basicConfig(level=logging.WARNING)  # a replaced worker is logged on rl4py.actor_learner
config = ImpalaRayConfig(
    num_workers=args.workers,
    num_envs=args.envs_per_worker,
    rollout_length=32,
    num_minibatches=2,
    lr=1e-3,
    target_return=475.0,
    total_frames=4_096 if args.smoke else 2_000_000,
    inference="central" if args.central else "worker",
    address=args.address,
    device=args.device,
)


def show(line: dict) -> None:
    print(
        f"env steps {line['frames']:>8}  steps/s {line['steps_per_second']:>7.0f}"
        f"  mean return {line['mean_return']:6.1f}"
        f"  version {line['policy_version']:>5.0f}  staleness {line['staleness_mean']:4.1f}"
        f"  dropped {line['dropped']:.0f}  learner busy {line['learner_utilisation']:.0%}"
    )


result = train_impala_ray(args.env, config, progress=show, progress_every=20)
stats = result.stats
status = "solved" if result.solved else "not solved"
print(f"{status}: mean return {result.mean_return:.1f} after {result.frames} env steps in {result.seconds:.1f} s")
print(
    f"learner updates {stats.updates}, staleness histogram {dict(sorted(stats.staleness_histogram.items()))}, "
    f"dropped {stats.dropped}, lost {stats.lost_rollouts}, worker restarts {stats.worker_restarts}, "
    f"learner utilisation {stats.learner_utilisation:.0%}"
)
