"""Multi-head value decomposition and z-conditioning (issue 13, parts 3 and 4): JSON lines, a summary line per arm.

Parts:

- ``multihead``: PPO on :class:`rl4py.envs.CoinCorridor` (two reward heads: dense coins of 0.05
  plus ``--noise`` (3.0) times standard normal noise every step, a sparse goal of 10 at the end of
  a ``--length`` (20) cell corridor, episodes cut at ``5 * length`` steps), the same budget
  (``--frames``, 20,000 env steps), network and hyperparameters for four critics, ``--seeds`` (24)
  seeds each, interleaved in one run: ``single`` (one head on the summed reward,
  :class:`rl4py.envs.SumRewardHeads`, GAE, gamma 0.99), ``single_gamma_0.9`` (the same with gamma
  0.9), ``multi`` (two heads, :class:`rl4py.values.MultiHeadGAE`, gammas 0.99 and 0.99, weights 1)
  and ``multi_gammas`` (two heads, gamma 0.9 for the coins and 0.99 for the goal). The measure is
  the task return: the trained (sampled) policy's mean return over 64 episodes of the noise-free
  corridor (the noise is zero-mean; without it the measure is not drowned by it), at the end
  (``task_return``, ``solved`` when >= ``--reach``, 9.0; optimal ~10.5, following the coins ~2.5-5)
  and every ``--eval-every`` rollouts (in a forked RNG: the training run is unchanged). Per run also
  the explained variance of the summed value and of each head. A summary line per arm (mean and
  standard deviation over seeds, runs solved, the mean of the evaluation curve, the median env
  steps to reach 9) and the mean evaluation curve per arm (``"curve"`` records).
- ``zcond``: PPO with z-conditioned actor and critic (concat and FiLM,
  :func:`rl4py.modules.make_z_conditioned_actor_critic`) on :class:`rl4py.envs.LeftRight` under
  :class:`rl4py.envs.ZConditioning` (statistic: the fraction of time left of the centre,
  pseudo-reward coefficient 1); after training, 16 episodes per fixed ``z`` in 0, 0.25, ..., 1 give
  the achieved fraction; per run the fractions, their correlation with ``z`` and the mean absolute
  error; a summary line per mode.

Measured (bench/results/ma_multihead.jsonl: 24 seeds, 20,000 env steps, one thread, ~2.3 s per run):
solved (task return >= 9) 15/24 one head gamma 0.99, 17/24 one head gamma 0.9, 17/24 two heads
gammas 0.99, 18/24 two heads gammas (0.9, 0.99); mean task return 8.02, 8.52, 8.39, 8.80 (std ~3.5):
the per-head horizons are ahead on every measure but within the seed spread (paired: 5 wins, 2
losses against one head). Per-head explained variance: goal ~0.88, coins ~0 (noise).
bench/results/ma_multihead_noise1.jsonl (--noise 1.0 --seeds 8): 7, 8, 7, 8 of 8 solved.
z-conditioning after 40,000 env steps: correlation 0.965 (concat), 0.964 (FiLM) between z and the
achieved fraction. ~5 minutes in all.

Run (the figures in docs/guide/value_decomposition.md)::

    OMP_NUM_THREADS=1 nice python bench/ma_multihead.py > bench/results/ma_multihead.jsonl
    python bench/ma_multihead.py --parts multihead --noise 1.0 --seeds 6   # a milder noise
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
from rl4py.modules import make_actor_critic, make_z_conditioned_actor_critic  # noqa: E402
from rl4py.trainers import PPOConfig, train_ppo  # noqa: E402
from rl4py.trainers.evaluation import evaluate_policy  # noqa: E402

#: arm -> (one head on the summed reward?, gamma, per-head gammas)
ARMS: dict[str, tuple[bool, float, tuple[float, float] | None]] = {
    "single": (True, 0.99, None),
    "single_gamma_0.9": (True, 0.9, None),
    "multi": (False, 0.99, None),
    "multi_gammas": (False, 0.99, (0.9, 0.99)),
}
LABELS = {
    "single": "one head, summed reward, gamma 0.99",
    "single_gamma_0.9": "one head, summed reward, gamma 0.9",
    "multi": "two heads, gammas (0.99, 0.99)",
    "multi_gammas": "two heads, gammas (0.9, 0.99)",
}
Z_VALUES = (0.0, 0.25, 0.5, 0.75, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options."""
    parser.add_argument("--parts", default="multihead,zcond", help="comma-separated: multihead, zcond")
    parser.add_argument(
        "--seeds", type=int, default=24, help="seeds per arm (multihead) / per mode (zcond: min(3, seeds))"
    )
    parser.add_argument("--frames", type=int, default=20_000, help="env steps per multihead run")
    parser.add_argument("--z-frames", type=int, default=40_000, help="env steps per zcond run")
    parser.add_argument("--reach", type=float, default=9.0, help="the task return counted as solved")
    parser.add_argument("--eval-every", type=int, default=2, help="rollouts between evaluations (multihead)")
    parser.add_argument("--length", type=int, default=20, help="CoinCorridor's length (episodes: 5 x length steps)")
    parser.add_argument("--noise", type=float, default=3.0, help="CoinCorridor's coin_noise")
    parser.add_argument("--plot", default=None, help="draw the multihead learning curves to this SVG and exit")
    parser.add_argument("--from", dest="source", default=None, help="with --plot: the JSON-lines results to draw")


def _coin_env(num_envs: int, args: argparse.Namespace, noise: float | None = None) -> CoinCorridor:
    return CoinCorridor(
        num_envs=num_envs,
        length=args.length,
        max_episode_steps=5 * args.length,
        coin_noise=args.noise if noise is None else noise,
    )


def _coin_config(arm: str, frames: int, seed: int) -> PPOConfig:
    summed, gamma, head_gammas = ARMS[arm]
    base = PPOConfig(
        num_envs=16,
        rollout_length=64,
        total_frames=frames,
        lr=1e-3,
        anneal_lr=False,
        epochs=4,
        num_minibatches=4,
        window=100,
        gamma=gamma,
        seed=seed,
    )
    if summed:
        return base
    return base.replace(estimator="multihead_gae", head_weights=(1.0, 1.0), head_gammas=head_gammas)


def _finite(value: float) -> float | None:
    return None if value == float("inf") else value


def _task_return(actor: torch.nn.Module, args: argparse.Namespace) -> float:
    """Mean return of the (sampled) policy over 64 episodes of the noise-free task, in a forked RNG (the
    training run is the same with or without these evaluations)."""
    with torch.random.fork_rng():
        return (
            evaluate_policy(
                _coin_env(64, args, noise=0.0), actor, max_steps=5 * args.length + 1, deterministic=False, seed=12345
            )
            .mean()
            .item()
        )


def run_multihead(args: argparse.Namespace) -> None:
    curves: dict[str, list[list[tuple[int, float]]]] = {arm: [] for arm in ARMS}
    results: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    for seed in range(args.seeds):
        for arm, (summed, _, _) in ARMS.items():  # interleaved: a shared machine's load reaches every arm alike
            start = time.perf_counter()
            config = _coin_config(arm, args.frames, seed)
            env = _coin_env(16, args)
            torch.manual_seed(seed)  # the networks train_ppo would build, built here to evaluate them during the run
            actor, critic = make_actor_critic(
                env.single_observation_space, env.single_action_space, value_heads=config.value_heads
            )
            curve: list[tuple[int, float]] = []
            updates = [0]

            def evaluate(_stats, frames: int, actor=actor, curve=curve, updates=updates) -> None:
                updates[0] += 1
                if updates[0] % args.eval_every == 0:
                    curve.append((frames, _task_return(actor, args)))

            records: list[dict] = []
            result = train_ppo(
                SumRewardHeads(env) if summed else env,
                config,
                records.append,
                1,
                actor=actor,
                critic=critic,
                on_update=evaluate,
            )
            final = _task_return(actor, args)
            reached = next((f for f, m in curve if m >= args.reach), None)
            last = records[-1]
            record = {
                "bench": "ma_multihead",
                "library": "rl4py",
                "arm": arm,
                "seed": seed,
                "frames": result.frames,
                "task_return": final,
                "solved": final >= args.reach,
                "train_return": result.mean_return,
                "curve_mean": statistics.fmean(m for _, m in curve) if curve else None,
                "frames_to_reach": reached,
                "explained_variance": last.get("explained_variance"),
                "explained_variance_heads": None
                if summed
                else [last.get("explained_variance_head0"), last.get("explained_variance_head1")],
                "seconds": round(time.perf_counter() - start, 2),
            }
            emit(record)
            results[arm].append(record)
            curves[arm].append(curve)
    for arm in ARMS:
        runs = results[arm]
        finals = [r["task_return"] for r in runs]
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
                "task_return_mean": statistics.fmean(finals),
                "task_return_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
                "solved": sum(r["solved"] for r in runs),
                "curve_mean_mean": statistics.fmean(areas) if areas else None,
                "curve_mean_std": statistics.stdev(areas) if len(areas) > 1 else 0.0,
                # None: the median run never reached it
                "frames_to_reach_median": _finite(
                    statistics.median([r if r is not None else float("inf") for r in reached])
                ),
            }
        )
        # the mean evaluation curve over seeds, at the frames every run evaluated
        length = min(len(c) for c in curves[arm])
        points = [(curves[arm][0][i][0], statistics.fmean(c[i][1] for c in curves[arm])) for i in range(length)]
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
    for r in records:
        if r.get("curve"):
            frames, means = zip(*r["points"])
            s = summaries.get(r["arm"], {})
            label = f"{LABELS.get(r['arm'], r['arm'])}: solved {s.get('solved')}/{s.get('seeds')}"
            ax.plot(frames, means, label=label)
    first = next(iter(summaries.values()), {})
    ax.set_title(
        f"CoinCorridor (length {first.get('length')}, coin noise {first.get('noise')}), PPO, "
        f"mean of {first.get('seeds', '?')} seeds",
        fontsize=9,
    )
    ax.set_xlabel("env steps")
    ax.set_ylabel("task return (noise-free, 64 episodes)")
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
