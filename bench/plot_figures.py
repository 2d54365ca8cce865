"""Draws the benchmark figures from saved JSON-lines results: one image per results file.

The bench scripts print JSON lines; save them under ``bench/results/`` and draw them::

    python bench/ppo_cartpole.py > bench/results/ppo_cartpole.jsonl
    python bench/plot_figures.py                      # every bench/results/*.jsonl -> docs/img/bench_<name>.svg
    python bench/plot_figures.py bench/results/ppo_cartpole.jsonl --format png

Each image has one panel per solve bench in the file (``ppo_cartpole``, ``ppo_pendulum``,
``dqn_cartpole``, ...: median seconds to solve per library on a log scale, min - max whiskers,
one dot per seed when the file has the per-seed lines, solved runs and median env steps written
on the bar; a library whose median run never solved is drawn hatched at its time cap) and one for
``lightning_overhead`` (median seconds per variant). Lines without a ``"bench"`` field (notes on
where the figures come from) are skipped. Needs matplotlib (``pip install 'rl4py[plot]'``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from common import median_or_none

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_COLORS = {"rl4py": "#1f77b4", "sb3": "#ff7f0e"}
VARIANT_NAMES = {
    "plain": "plain loop",
    "lightning": "PPOModule + Trainer,\nno logger",
    "lightning_default_logging": "PPOModule + Trainer,\nTensorBoard + bar",
}


def read_results(path: Path) -> list[dict]:
    """The bench records of a JSON-lines file (lines with a ``"bench"`` field)."""
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}:{number}: not a JSON line ({error})") from error
        if isinstance(record, dict) and "bench" in record:
            records.append(record)
    return records


def solve_stats(records: list[dict]) -> dict[str, dict]:
    """Per library: median / min / max seconds to solve, per-seed seconds, solved runs, median env steps.

    The per-seed lines win over a summary line's figures; a summary gives what per-seed lines lack
    (the transcribed figures have only summaries, with ``min_`` / ``max_`` fields for quoted ranges).
    """
    out: dict[str, dict] = {}
    by_library: dict[str, list[dict]] = defaultdict(list)
    summaries: dict[str, dict] = {}
    for record in records:
        library = record.get("library")
        if library is None:
            continue
        if record.get("summary"):
            summaries[library] = record
        elif "seconds_to_solve" in record:
            by_library[library].append(record)
    for library in list(dict.fromkeys([*by_library, *summaries])):
        runs, summary = by_library.get(library, []), summaries.get(library, {})
        seconds = [r["seconds_to_solve"] for r in runs if r.get("solved")]
        if runs:
            median = median_or_none([r.get("seconds_to_solve") for r in runs])
            stats = {
                "median": median,
                "low": min(seconds) if seconds else None,
                "high": max(seconds) if seconds else None,
                "seeds": seconds,
                "solved": len(seconds),
                "runs": len(runs),
                "env_steps": median_or_none([r.get("env_steps_to_solve") for r in runs]),
            }
        else:
            stats = {
                "median": summary.get("median_seconds_to_solve"),
                "low": summary.get("min_seconds_to_solve"),
                "high": summary.get("max_seconds_to_solve"),
                "seeds": [],
                "solved": summary.get("solved_runs"),
                "runs": summary.get("runs"),
                "env_steps": summary.get("median_env_steps_to_solve"),
            }
        stats["cap"] = summary.get("sb3_cap_seconds") or next(
            (r["sb3_cap_seconds"] for r in records if "sb3_cap_seconds" in r), None
        )
        out[library] = stats
    return out


def draw_solve_panel(ax, bench: str, stats: dict[str, dict]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    libraries = list(stats)
    for i, library in enumerate(libraries):
        s = stats[library]
        color = LIBRARY_COLORS.get(library, "#7f7f7f")
        solved = f"{s['solved']}/{s['runs']} solved" if s["runs"] else ""
        if s["median"] is None:  # the median run never solved: a hatched bar at the cap
            if s["cap"] is None:
                continue
            ax.bar(i, s["cap"], color="white", edgecolor=color, hatch="//", width=0.6)
            ax.text(i, s["cap"], f"> {s['cap']:g} s\n{solved}", ha="center", va="bottom", fontsize=8)
            continue
        ax.bar(i, s["median"], color=color, width=0.6, alpha=0.85)
        if s["low"] is not None and s["high"] is not None:
            ax.errorbar(
                i,
                s["median"],
                yerr=[[s["median"] - s["low"]], [s["high"] - s["median"]]],
                color="black",
                capsize=4,
                lw=1,
            )
        if s["seeds"]:
            offsets = [(k - (len(s["seeds"]) - 1) / 2) * 0.08 for k in range(len(s["seeds"]))]
            ax.scatter([i + o for o in offsets], s["seeds"], color="black", s=10, zorder=3)
        steps = f"\n{s['env_steps']:,.0f} steps" if s["env_steps"] else ""
        top = s["high"] if s["high"] is not None else s["median"]
        ax.text(i, top * 1.15, f"{s['median']:.3g} s\n{solved}{steps}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(libraries)), libraries)
    ax.set_yscale("log")
    heights = [v for s in stats.values() for v in (s["median"], s["low"], s["high"], s["cap"]) if v]
    # bars start a decade-ish below the smallest figure, so every bar shows; room above for the labels
    ax.set_ylim(10 ** math.floor(math.log10(min(heights) / 2)), max(heights) * 12)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_title(bench, fontsize=10)
    ax.set_ylabel("seconds to solve (median)", fontsize=9)
    ax.grid(axis="y", alpha=0.3, which="both")


def draw_overhead_panel(ax, records: list[dict]) -> None:
    medians: dict[str, float] = {}
    per_seed: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.get("summary"):
            medians[record["variant"]] = record["median_seconds"]
        elif "seconds" in record:
            per_seed[record["variant"]].append(record["seconds"])
    for variant, values in per_seed.items():
        medians[variant] = statistics.median(values)
    variants = list(medians)
    base = medians.get("plain")
    for i, variant in enumerate(variants):
        ax.barh(i, medians[variant], color="#2ca02c" if variant == "plain" else "#9467bd", height=0.6, alpha=0.85)
        if per_seed.get(variant):
            ax.scatter(per_seed[variant], [i] * len(per_seed[variant]), color="black", s=10, zorder=3)
        extra = f" ({medians[variant] / base - 1:+.0%})" if base and variant != "plain" else ""
        ax.text(medians[variant], i, f" {medians[variant]:.2f} s{extra}", va="center", fontsize=8)
    ax.set_yticks(range(len(variants)), [VARIANT_NAMES.get(v, v) for v in variants], fontsize=8)
    ax.set_xlim(right=max(medians.values()) * 1.35)
    ax.set_xlabel("seconds for the same work (median)", fontsize=9)
    ax.set_title("lightning_overhead", fontsize=10)
    ax.grid(axis="x", alpha=0.3)


def draw_file(path: Path, out_dir: Path, fmt: str) -> Path:
    """One image for one results file; returns its path."""
    import matplotlib
    from matplotlib.figure import Figure

    records = read_results(path)
    if not records:
        raise SystemExit(f"{path}: no bench records (JSON lines with a 'bench' field)")
    benches: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        benches[record["bench"]].append(record)
    panels = [
        (name, recs)
        for name, recs in benches.items()
        if name == "lightning_overhead" or any("seconds_to_solve" in r or "median_seconds_to_solve" in r for r in recs)
    ]
    if not panels:
        raise SystemExit(f"{path}: none of its benches ({', '.join(benches)}) is one this script draws")
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "rl4py"}):
        figure = Figure(figsize=(3.3 * len(panels) + (1.2 if "lightning_overhead" in benches else 0), 3.6))
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (name, recs) in zip(axes, panels):
            if name == "lightning_overhead":
                draw_overhead_panel(ax, recs)
            else:
                draw_solve_panel(ax, name, solve_stats(recs))
        figure.suptitle(f"bench/results/{path.name}", fontsize=9)
        figure.tight_layout()
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"bench_{path.stem}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else {}
        figure.savefig(out, dpi=90, metadata=metadata)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="results files (default: bench/results/*.jsonl)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "img", help="where the images go")
    parser.add_argument("--format", choices=("svg", "png"), default="svg")
    args = parser.parse_args()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SystemExit("bench/plot_figures.py needs matplotlib: pip install 'rl4py[plot]'") from None
    files = args.files or sorted((ROOT / "bench" / "results").glob("*.jsonl"))
    if not files:
        raise SystemExit("no results files: save a bench's output under bench/results/NAME.jsonl first")
    for path in files:
        try:
            out = draw_file(path, args.out_dir, args.format)
        except SystemExit as error:
            if args.files:  # a file named on the command line must be drawn
                raise
            print(f"{path}: skipped ({error})")  # the whole directory: files of other benches (games.jsonl)
            continue
        print(f"{path} -> {out} ({out.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
