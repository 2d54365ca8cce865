"""Multi-head value decomposition and z-conditioning (issue 13, parts 3 and 4): JSON lines, a summary line per arm.

Parts:

- ``multihead``: PPO on :class:`rl4py.envs.CoinCorridor` (two reward heads: dense noisy coins of
  0.05 with noise ``--noise`` (1.0) per step, a sparse goal of 10 at the end of a ``--length`` (20)
  cell corridor, episodes cut at ``5 * length`` steps), the same
  budget, network and hyperparameters for three critics, ``--seeds`` seeds each, in one run:
  ``single`` (one head on the summed reward: :class:`rl4py.envs.SumRewardHeads`, GAE with gamma
  0.99), ``multi`` (two heads, :class:`rl4py.values.MultiHeadGAE`, both gammas 0.99, weights 1) and
  ``multi_gammas`` (two heads with gammas 0.9 for the coins and 0.99 for the goal). Per run: the
  final mean return (last 100 episodes; the summed return, what the task pays), the mean of the
  learning curve (area under it: learning speed), the env steps until the running mean first
  reaches ``--reach`` (9.5; optimal ~10.5, coin-following ~5). A summary line per arm (mean and
  standard deviation over seeds) and one mean learning curve per arm (``"curve"`` records).
- ``zcond``: PPO with z-conditioned actor and critic (concat and FiLM,
  :func:`rl4py.modules.make_z_conditioned_actor_critic`) on :class:`rl4py.envs.LeftRight` under
  :class:`rl4py.envs.ZConditioning` (statistic: the fraction of time left of the centre,
  pseudo-reward coefficient 1); after training, 16 episodes per fixed ``z`` in 0, 0.25, ..., 1 give
  the achieved fraction; per run the fractions, their correlation with ``z`` and the mean absolute
  error; a summary line per mode.

Measured (bench/results/ma_multihead.jsonl, 5 seeds, 30,000 env steps, one thread): final return
10.47 (one head, summed reward), 10.45 (two heads, gammas 0.99), 10.47 (two heads, gammas 0.9 and
0.99), seed spread 0.3: as good as, not better; per-head explained variance: goal 0.97-0.99, coins
~0 (noise). z-conditioning after 40,000 env steps: correlation 0.965 (concat), 0.964 (FiLM) between
z and the achieved fraction. ~2 minutes in all.

Run (the figures in docs/guide/value_decomposition.md)::

    OMP_NUM_THREADS=1 nice python bench/ma_multihead.py > bench/results/ma_multihead.jsonl
    python bench/ma_multihead.py --parts multihead --frames 20000 --seeds 3
    python bench/ma_multihead.py --plot docs/img/ma_multihead_curves.svg --from bench/results/ma_multihead.jsonl
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit  # noqa: E402

from rl4py.collectors import SyncCollector  # noqa: E402
from rl4py.envs import Z_STATISTICS, CoinCorridor, LeftRight, SumRewardHeads, ZConditioning, left_side_fraction  # noqa: E402
from rl4py.modules import make_z_conditioned_actor_critic  # noqa: E402
from rl4py.trainers import PPOConfig, train_ppo  # noqa: E402

ARMS = ("single", "multi", "multi_gammas")
Z_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--parts", default="multihead,zcond", help="comma-separated: multihead, zcond")
    parser.add_argument(
        "--seeds", type=int, default=5, help="seeds per arm (multihead) / per mode (zcond: min(3, seeds))"
    )
    parser.add_argument("--frames", type=int, default=30_000, help="env steps per multihead run")
    parser.add_argument("--z-frames", type=int, default=40_000, help="env steps per zcond run")
    parser.add_argument("--reach", type=float, default=9.5, help="the running mean return counted as reached")
    parser.add_argument("--length", type=int, default=20, help="CoinCorridor's length (episodes: 5 x length steps)")
    parser.add_argument("--noise", type=float, default=1.0, help="CoinCorridor's coin_noise")
    parser.add_argument("--plot", default=None, help="draw the multihead learning curves to this SVG and exit")
    parser.add_argument("--from", dest="source", default=None, help="with --plot: the JSON-lines results to draw")


def _coin_env(arm: str, num_envs: int, args: argparse.Namespace):
    env = CoinCorridor(num_envs=num_envs, length=args.length, max_episode_steps=5 * args.length, coin_noise=args.noise)
    return SumRewardHeads(env) if arm == "single" else env


def _coin_config(arm: str, frames: int, seed: int) -> PPOConfig:
    base = PPOConfig(
        num_envs=16,
        rollout_length=64,
        total_frames=frames,
        lr=1e-3,
        anneal_lr=False,
        epochs=4,
        num_minibatches=4,
        window=100,
        seed=seed,
    )
    if arm == "single":
        return base
    gammas = (0.9, 0.99) if arm == "multi_gammas" else None
    return base.replace(estimator="multihead_gae", head_weights=(1.0, 1.0), head_gammas=gammas)


def run_multihead(args: argparse.Namespace) -> None:
    curves: dict[str, list[list[tuple[int, float]]]] = {arm: [] for arm in ARMS}
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in range(args.seeds):
        for arm in ARMS:  # interleaved: a shared machine's load reaches every arm alike
            start = time.perf_counter()
            records: list[dict] = []
            result = train_ppo(_coin_env(arm, 16, args), _coin_config(arm, args.frames, seed), records.append, 1)
            curve = [
                (int(r["frames"]), float(r["mean_return"])) for r in records if r["mean_return"] == r["mean_return"]
            ]
            reached = next((f for f, m in curve if m >= args.reach), None)
            last = records[-1]
            record = {
                "bench": "ma_multihead",
                "library": "rl4py",
                "arm": arm,
                "seed": seed,
                "frames": result.frames,
                "final_return": result.mean_return,
                "curve_mean": statistics.fmean(m for _, m in curve) if curve else None,
                "frames_to_reach": reached,
                "explained_variance": last.get("explained_variance"),
                "head_returns": [last.get("mean_return_head0"), last.get("mean_return_head1")]
                if arm != "single"
                else None,
                "explained_variance_heads": [last.get("explained_variance_head0"), last.get("explained_variance_head1")]
                if arm != "single"
                else None,
                "seconds": round(time.perf_counter() - start, 2),
            }
            emit(record)
            results[arm].append(record)
            curves[arm].append(curve)
    for arm in ARMS:
        runs = results[arm]
        finals = [r["final_return"] for r in runs]
        areas = [r["curve_mean"] for r in runs if r["curve_mean"] is not None]
        reached = [r["frames_to_reach"] for r in runs]
        emit(
            {
                "bench": "ma_multihead",
                "library": "rl4py",
                "summary": True,
                "arm": arm,
                "seeds": len(runs),
                "frames": args.frames,
                "length": args.length,
                "noise": args.noise,
                "final_return_mean": statistics.fmean(finals),
                "final_return_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                "curve_mean_mean": statistics.fmean(areas) if areas else None,
                "curve_mean_std": statistics.stdev(areas) if len(areas) > 1 else 0.0,
                "reached": sum(r is not None for r in reached),
                "frames_to_reach_median": statistics.median([r if r is not None else float("inf") for r in reached]),
            }
        )
        # the mean learning curve over seeds, at the frames every run reported
        length = min(len(c) for c in curves[arm])
        points = [(curves[arm][0][i][0], statistics.fmean(c[i][1] for c in curves[arm])) for i in range(0, length)]
        emit({"bench": "ma_multihead", "library": "rl4py", "curve": True, "arm": arm, "points": points})


def _left(nxt: dict) -> torch.Tensor:
    return left_side_fraction(nxt["observation"])


def run_zcond(args: argparse.Namespace) -> None:
    for mode in ("concat", "film"):
        runs = []
        for seed in range(min(3, args.seeds)):
            start = time.perf_counter()
            env = ZConditioning(LeftRight(num_envs=16), _left, z_dim=1)
            torch.manual_seed(seed)
            actor, critic = make_z_conditioned_actor_critic(
                env.single_observation_space, env.single_action_space, context_dim=2, mode=mode
            )
            config = PPOConfig(
                num_envs=16, rollout_length=64, total_frames=args.z_frames, lr=1e-3, anneal_lr=False, seed=seed
            )
            result = train_ppo(env, config, actor=actor, critic=critic)
            fractions = []
            for z in Z_VALUES:
                test = ZConditioning(LeftRight(num_envs=16), _left, z_dim=1)
                test.fix_z([z])
                with torch.no_grad():
                    rollout = next(iter(SyncCollector(test, actor, 32, total_frames=16 * 32, seed=100 + seed)))
                fractions.append(rollout["next", Z_STATISTICS][:, -1, 0].mean().item())
            corr = torch.corrcoef(torch.tensor([Z_VALUES, fractions]))[0, 1].item()
            mae = statistics.fmean(abs(f - z) for f, z in zip(fractions, Z_VALUES))
            record = {
                "bench": "ma_zcond",
                "library": "rl4py",
                "mode": mode,
                "seed": seed,
                "frames": result.frames,
                "z": list(Z_VALUES),
                "left_fraction": [round(f, 4) for f in fractions],
                "correlation": corr,
                "mean_abs_error": mae,
                "final_return": result.mean_return,
                "seconds": round(time.perf_counter() - start, 2),
            }
            emit(record)
            runs.append(record)
        emit(
            {
                "bench": "ma_zcond",
                "library": "rl4py",
                "summary": True,
                "mode": mode,
                "seeds": len(runs),
                "frames": args.z_frames,
                "correlation_mean": statistics.fmean(r["correlation"] for r in runs),
                "mean_abs_error_mean": statistics.fmean(r["mean_abs_error"] for r in runs),
                "left_fraction_mean": [
                    round(statistics.fmean(r["left_fraction"][i] for r in runs), 4) for i in range(len(Z_VALUES))
                ],
            }
        )


def plot(path: str, source: str) -> None:
    """Draws ``source``'s multihead ``"curve"`` records (one line per arm) and, when present, the zcond
    summaries (achieved fraction on the left against ``z``, per mode) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in Path(source).read_text().splitlines() if line.startswith("{")]
    summaries = {r["arm"]: r for r in records if r.get("summary") and r.get("bench") == "ma_multihead"}
    zcond = [r for r in records if r.get("summary") and r.get("bench") == "ma_zcond"]
    fig, axes = plt.subplots(1, 2 if zcond else 1, figsize=(10.0 if zcond else 6.4, 3.6), squeeze=False)
    ax = axes[0][0]
    labels = {
        "single": "one head, summed reward",
        "multi": "two heads (0.99, 0.99)",
        "multi_gammas": "two heads (0.9, 0.99)",
    }
    for r in records:
        if r.get("curve"):
            frames, means = zip(*r["points"])
            s = summaries.get(r["arm"], {})
            label = f"{labels.get(r['arm'], r['arm'])}: final {s.get('final_return_mean', float('nan')):.2f}"
            ax.plot(frames, means, label=label)
    first = next(iter(summaries.values()), {})
    ax.set_title(
        f"CoinCorridor (length {first.get('length')}, coin noise {first.get('noise')}), PPO, "
        f"mean of {first.get('seeds', '?')} seeds",
        fontsize=9,
    )
    ax.set_xlabel("env steps")
    ax.set_ylabel("mean return (last 100 episodes)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if zcond:
        ax = axes[0][1]
        ax.plot(Z_VALUES, Z_VALUES, color="grey", linestyle=":", label="target (fraction = z)")
        for r in zcond:
            ax.plot(
                Z_VALUES, r["left_fraction_mean"], marker="o", label=f"{r['mode']}: r = {r['correlation_mean']:.3f}"
            )
        ax.set_title(
            f"LeftRight + ZConditioning, {zcond[0]['frames']} env steps, mean of {zcond[0]['seeds']} seeds", fontsize=9
        )
        ax.set_xlabel("strategy z (target fraction of time on the left)")
        ax.set_ylabel("achieved fraction on the left")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if path.endswith(".svg") else None)
    print(f"wrote {path}")


def run(args: argparse.Namespace) -> None:
    """Runs the parts named in ``--parts`` (or draws the figure with ``--plot``)."""
    if args.plot:
        if not args.source:
            raise SystemExit("--plot needs --from RESULTS.jsonl")
        plot(args.plot, args.source)
        return
    torch.set_num_threads(1)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    for part in parts:
        if part not in ("multihead", "zcond"):
            raise SystemExit(f"unknown part {part!r}; expected multihead or zcond")
    emit({"note": "rl4py multi-head value decomposition and z-conditioning bench", "argv": sys.argv[1:]})
    if "multihead" in parts:
        run_multihead(args)
    if "zcond" in parts:
        run_zcond(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    run(parser.parse_args())
