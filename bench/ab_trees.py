"""Same-run A/B of two source trees: each tree's own bench scripts, interleaved on one machine.

Each pair runs tree A's script with ``PYTHONPATH=A`` and tree B's with ``PYTHONPATH=B``, one right
after the other (the order alternates from pair to pair and benches take turns), so machine drift
hits both trees alike. Every JSON line a script prints is kept, tagged with its tree and pair, in
``--out``; the summary (one JSON line per bench, and a Markdown table) compares medians.

    git worktree add /tmp/before <commit> --detach
    python bench/ab_trees.py --before /tmp/before --after . --pairs 5 --out ab.jsonl
    python bench/ab_trees.py --summarize ab.jsonl          # the summary of a finished run

Per bench, the figures are the median over all of a tree's runs (every seed of every pair) of the
wall time (``seconds_to_solve``; ``seconds`` for lightning_overhead's variants) and of the env
steps to solve, and the median over pairs of each invocation's own median; ratio = after / before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: each bench's rl4py-only invocation (no SB3 peer runs, no collector measurement)
BENCHES = {
    "ppo_cartpole": ["--libraries", "rl4py", "--no-collector"],
    "dqn_cartpole": ["--libraries", "rl4py"],
    "lightning_overhead": [],
}


def run_once(tree: Path, bench: str, extra: list[str], timeout: float) -> tuple[list[dict], float, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    script = tree / "bench" / f"{bench}.py"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script), *BENCHES[bench], *extra],
        cwd=tree / "bench",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - start
    records = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            records.append(json.loads(line))
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
    return records, elapsed, proc.returncode


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _ratio(after: float | None, before: float | None) -> float | None:
    return round(after / before, 3) if after and before else None


def summarize(records: list[dict]) -> list[dict]:
    """One record per bench (and lightning_overhead variant): medians per tree and after/before."""
    out = []
    keys = sorted({(r["bench"], r.get("variant")) for r in records if not r.get("summary") and "seed" in r})
    for bench, variant in keys:
        row: dict = {"bench": bench, "variant": variant}
        for tree in ("before", "after"):
            runs = [
                r
                for r in records
                if r["tree"] == tree
                and r["bench"] == bench
                and r.get("variant") == variant
                and "seed" in r
                and not r.get("summary")
            ]
            time_key = "seconds" if bench == "lightning_overhead" else "seconds_to_solve"
            pairs = sorted({r["pair"] for r in runs})
            row[tree] = {
                "runs": len(runs),
                "pairs": len(pairs),
                "solved_runs": sum(1 for r in runs if r.get("solved", True)),
                "median_seconds": _median([r.get(time_key) for r in runs]),
                "median_of_pair_medians_seconds": _median(
                    [_median([r.get(time_key) for r in runs if r["pair"] == p]) for p in pairs]
                ),
                "median_env_steps_to_solve": _median([r.get("env_steps_to_solve") for r in runs]),
                "median_steps_per_second": _median([r.get("steps_per_second") for r in runs]),
            }
        b, a = row["before"], row["after"]
        row["ratio_seconds"] = _ratio(a["median_seconds"], b["median_seconds"])
        row["ratio_pair_medians"] = _ratio(a["median_of_pair_medians_seconds"], b["median_of_pair_medians_seconds"])
        row["ratio_env_steps"] = _ratio(a["median_env_steps_to_solve"], b["median_env_steps_to_solve"])
        row["ratio_steps_per_second"] = _ratio(a["median_steps_per_second"], b["median_steps_per_second"])
        # per pair: after's invocation median / before's, and how many pairs were slower after
        per_pair = []
        for p in sorted({r["pair"] for r in records if r["bench"] == bench}):
            med = {}
            for tree in ("before", "after"):
                time_key = "seconds" if bench == "lightning_overhead" else "seconds_to_solve"
                med[tree] = _median(
                    [
                        r.get(time_key)
                        for r in records
                        if r["tree"] == tree
                        and r["bench"] == bench
                        and r.get("variant") == variant
                        and r["pair"] == p
                        and "seed" in r
                        and not r.get("summary")
                    ]
                )
            if med["before"] and med["after"]:
                per_pair.append(round(med["after"] / med["before"], 3))
        row["pair_ratios"] = per_pair
        out.append(row)
    return out


def markdown(rows: list[dict]) -> str:
    lines = [
        "| bench | runs per tree (pairs) | before: median s | after: median s | ratio | "
        "before: median env steps | after: median env steps | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        name = row["bench"] + (f" ({row['variant']})" if row["variant"] else "")
        b, a = row["before"], row["after"]

        def fmt(v, digits=3):
            return "-" if v is None else (f"{v:,.0f}" if digits == 0 else f"{v:.{digits}f}")

        lines.append(
            f"| {name} | {b['runs']} / {a['runs']} ({b['pairs']}) | {fmt(b['median_seconds'])} | "
            f"{fmt(a['median_seconds'])} | {fmt(row['ratio_seconds'], 3)} | "
            f"{fmt(b['median_env_steps_to_solve'], 0)} | {fmt(a['median_env_steps_to_solve'], 0)} | "
            f"{fmt(row['ratio_env_steps'], 3)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, help="tree A (its bench/ and rl4py/)")
    parser.add_argument("--after", type=Path, help="tree B")
    parser.add_argument("--benches", default=",".join(BENCHES))
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--bench-args", default="{}", help='JSON: extra arguments per bench, {"dqn_cartpole": [...]}')
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per invocation")
    parser.add_argument("--out", type=Path, default=Path("ab_trees.jsonl"))
    parser.add_argument("--summarize", type=Path, help="only summarize this file of a finished run")
    args = parser.parse_args()
    if args.summarize:
        records = [json.loads(line) for line in args.summarize.read_text().splitlines() if line.strip()]
    else:
        if not args.before or not args.after:
            parser.error("--before and --after are required")
        extra = json.loads(args.bench_args)
        trees = {"before": args.before.resolve(), "after": args.after.resolve()}
        records = []
        with args.out.open("a") as sink:
            for pair in range(args.pairs):
                for bench in args.benches.split(","):
                    order = ("before", "after") if pair % 2 == 0 else ("after", "before")
                    for tree in order:
                        lines, elapsed, rc = run_once(trees[tree], bench, extra.get(bench, []), args.timeout)
                        for record in lines:
                            record = {**record, "tree": tree, "pair": pair}
                            records.append(record)
                            sink.write(json.dumps(record) + "\n")
                        meta = {"bench": bench, "tree": tree, "pair": pair, "invocation_seconds": round(elapsed, 1)}
                        meta["rc"] = rc
                        sink.write(json.dumps({**meta, "meta": True}) + "\n")
                        sink.flush()
                        print(json.dumps({**meta, "loadavg": os.getloadavg()[0]}), flush=True)
    records = [r for r in records if not r.get("meta")]
    rows = summarize(records)
    for row in rows:
        print(json.dumps({"ab": True, **row}), flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
