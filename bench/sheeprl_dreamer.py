r"""The same-stack peer of rl4py's Dreamer benchmark: sheeprl 0.8.4's DreamerV3 on CartPole-v1 (issue 16).

Runs ``sheeprl exp=dreamer_v3 env=gym env.id=CartPole-v1 ...`` on the CPU in a subprocess with the python of a
separate venv, stops it after ``--minutes`` of wall clock (or ``--total-steps`` env steps), and prints one JSON summary
line (appended to ``bench/results/dreamer_sheeprl.jsonl`` unless ``--no-save``):

    python bench/sheeprl_dreamer.py --preset XS --minutes 5
    python bench/sheeprl_dreamer.py --preset size1m --minutes 5 --replay-ratio 0.5 --seed 1

From another bench (``bench/dreamer_cartpole.py``): ``from sheeprl_dreamer import run_sheeprl``;
``run_sheeprl("size1m", seed=0, minutes=5, replay_ratio=0.5, total_steps=100_000)`` returns the summary dict, or
``{"library": "sheeprl", "skipped": "<why>"}`` when the venv is missing (the bench is no CI test).

Install (keeps the main environment's torch 2.13.0+cpu, lightning 2.6.6, gymnasium 1.4.0 and tensordict 0.14.3;
sheeprl 0.8.4 accepts them all, so the venv only adds hydra-core, omegaconf, moviepy, opencv-python, pygame-ce, rich,
and pins pillow 11.3 for moviepy, inside the venv)::

    python -m venv --system-site-packages /work/venv-sheeprl
    printf '%s\n' torch==2.13.0+cpu lightning==2.6.6 gymnasium==1.4.0 tensordict==0.14.3 > /tmp/sheeprl-pins.txt
    /work/venv-sheeprl/bin/pip install -c /tmp/sheeprl-pins.txt sheeprl==0.8.4

``SHEEPRL_VENV`` names another venv. The summary's fields:

- ``gradient_steps``: the gradient steps done (one = a world-model update on 16 x 64 steps, then the actor's and the
  critic's on the imagined trajectories: sheeprl's ``train``, as rl4py's trainer does them).
- ``gradient_steps_per_s``: ``gradient_steps`` over the wall time of the training phase (from the start of the first
  gradient step to the end of the last: the ``learning_starts`` prefill excluded, the env steps and batch sampling
  between gradient steps included). ``train_only_steps_per_s``: over the time inside ``train`` only.
  ``sps_train_tb``: sheeprl's own ``Time/sps_train`` (its TensorBoard log), pooled over its log intervals up to the
  last log before the stop (so over fewer steps than the others). ``gradient_steps_per_cpu_s``: over the CPU time of
  the sheeprl process (all its threads) in the training phase; on a shared machine it moves less with the load than
  the wall-clock rates do (``cpu_s`` / ``wall_s``: the share of the cores the whole run got).
- ``env_steps``: env steps played (``learning_starts`` random ones included); ``episode_returns``: ``[env step at
  the episode's end, return]``; ``env_steps_to_solve``: the env step at which the mean of the last 20 returns first
  reaches 450 (``None``: not solved).
- ``model``: the sizes and the parameter counts of the world model (and of its parts), the actor and the critic.

The counts come from a thin wrapper around sheeprl's ``build_agent``, ``train`` and ``get_episode_stats`` in the
subprocess (a clock read and a counter per call); sheeprl's own code runs unchanged. Its settings here: 1 env stepped
in-process (``env.sync_env=True``), no video, no test episodes, no checkpoints, no model registry, an in-memory
replay buffer (``buffer.memmap=False``), metrics logged every 100 policy steps. sheeprl sets ``OMP_NUM_THREADS`` to
its ``num_threads`` (default 1) after torch is imported, which leaves torch's thread count as it was; the driver sets
``torch.set_num_threads(threads)`` (default 2) and passes ``num_threads=threads``, with ``OMP_NUM_THREADS`` removed
from the subprocess's environment. The summary records the thread count seen inside the first gradient step.

On a shared, loaded 2-core machine, 2 torch threads with GNU OpenMP's default (active) wait policy are crippled: a
thread spins at every barrier while its partner waits for a core (XS preset, load ~3-4: 0.04 gradient steps/s, vs
0.38 with ``OMP_WAIT_POLICY=PASSIVE`` at a higher load; bench/results/dreamer_sheeprl.jsonl). The subprocess inherits
``OMP_WAIT_POLICY`` from the caller's environment (``omp_wait_policy`` in the summary): compare libraries under the
same one, in the same run, and on a loaded machine prefer ``PASSIVE`` (or ``--threads 1``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "dreamer_sheeprl.jsonl"
VENV = Path(os.environ.get("SHEEPRL_VENV", "/work/venv-sheeprl"))
SHEEPRL_VERSION = "0.8.4"
TARGET = 450.0
WINDOW = 20
_MARK = "SHEEPRL_BENCH "

#: preset -> (sheeprl's ``exp``, the overrides of its ``algo``).
#: ``XS``: sheeprl's ``dreamer_v3_XS`` preset as it is (configs/algo/dreamer_v3_XS.yaml on top of dreamer_v3.yaml):
#: dense units 256, 1 MLP layer in every MLP (encoder, decoder, heads, actor, critic), recurrent state 256,
#: prior/posterior hidden 256, 32 stochastic groups x 32 classes.
#: ``size1m``: the sizes of DreamerV3's ``size1m`` (deter 512, hidden 64, units 64, 32 groups x 4 classes) on the same
#: preset, keeping its 1 MLP layer.
#: ``v3_5_1M``: not the same algorithm: sheeprl's DreamerV3 of the Nature paper (``exp=dreamer_v3_5``, its own
#: ``dreamer_v3_5_1M`` preset = the official ``size1m``: a block-diagonal GRU of 8 blocks, 3-layer encoder, decoder,
#: actor and critic, 1-layer heads, one LaProp optimizer, the replayed latent states and the online queue), for a
#: trainer that follows that version.
PRESETS: dict[str, tuple[str, list[str]]] = {
    "XS": ("dreamer_v3", ["algo=dreamer_v3_XS"]),
    "size1m": (
        "dreamer_v3",
        [
            "algo=dreamer_v3_XS",
            "algo.dense_units=64",
            "algo.mlp_layers=1",
            "algo.world_model.recurrent_model.recurrent_state_size=512",
            "algo.world_model.transition_model.hidden_size=64",
            "algo.world_model.representation_model.hidden_size=64",
            "algo.world_model.stochastic_size=32",
            "algo.world_model.discrete_size=4",
        ],
    ),
    "v3_5_1M": ("dreamer_v3_5", ["algo=dreamer_v3_5_1M"]),
}

#: The sizes of each preset (``mlp_layers``: encoder, decoder, actor, critic; ``head_layers``: reward, continue).
MODEL_SIZES: dict[str, dict[str, int]] = {
    "XS": dict(
        dense_units=256,
        mlp_layers=1,
        head_layers=1,
        recurrent_state_size=256,
        hidden_size=256,
        stochastic_size=32,
        discrete_size=32,
    ),
    "size1m": dict(
        dense_units=64,
        mlp_layers=1,
        head_layers=1,
        recurrent_state_size=512,
        hidden_size=64,
        stochastic_size=32,
        discrete_size=4,
    ),
    "v3_5_1M": dict(
        dense_units=64,
        mlp_layers=3,
        head_layers=1,
        recurrent_state_size=512,
        hidden_size=64,
        stochastic_size=32,
        discrete_size=4,
    ),
}


def sheeprl_overrides(
    preset: str,
    seed: int,
    replay_ratio: float,
    total_steps: int,
    *,
    num_envs: int = 1,
    learning_starts: int = 1024,
    batch_size: int = 16,
    sequence_length: int = 64,
    threads: int = 2,
    log_every: int = 100,
) -> list[str]:
    """The Hydra overrides of one run of ``sheeprl exp=dreamer_v3`` (or ``dreamer_v3_5``) on CartPole-v1."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    exp, algo = PRESETS[preset]
    return [
        f"exp={exp}",
        *algo,
        "env=gym",
        "env.id=CartPole-v1",
        f"env.num_envs={num_envs}",
        "env.sync_env=True",
        "env.capture_video=False",
        "algo.cnn_keys.encoder=[]",
        "algo.cnn_keys.decoder=[]",
        "algo.mlp_keys.encoder=[vector]",
        "algo.mlp_keys.decoder=[vector]",
        f"algo.per_rank_batch_size={batch_size}",
        f"algo.per_rank_sequence_length={sequence_length}",
        f"algo.replay_ratio={replay_ratio}",
        f"algo.learning_starts={learning_starts}",
        f"algo.total_steps={total_steps}",
        "algo.run_test=False",
        f"buffer.size={max(total_steps, 2 * sequence_length)}",
        "buffer.memmap=False",
        "buffer.checkpoint=False",
        "checkpoint.every=0",
        "checkpoint.save_last=False",
        "model_manager.disabled=True",
        f"metric.log_every={log_every}",
        "+metric.logger.flush_secs=2",
        "fabric.accelerator=cpu",
        f"num_threads={threads}",
        f"seed={seed}",
    ]


# ----------------------------------------------------------------------------------------------------------------------
# The driver: runs inside the venv's python, wraps three of sheeprl's functions to count, then runs sheeprl's CLI.


def _driver(deadline_s: float, threads: int, overrides: list[str]) -> None:
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()

    def say(**record) -> None:
        sys.stdout.write(_MARK + json.dumps(record) + "\n")
        sys.stdout.flush()

    import sheeprl  # noqa: F401  (registers the algorithms)

    exp = next(o.partition("=")[2] for o in overrides if o.startswith("exp="))
    dv3 = importlib.import_module(f"sheeprl.algos.{exp}.{exp}")
    from sheeprl.cli import run

    build_agent, train, get_episode_stats = (
        dv3.build_agent,
        dv3.train,
        dv3.get_episode_stats,
    )

    def count(module) -> int:
        return sum(p.numel() for p in module.parameters())

    def counted_build_agent(*args, **kwargs):
        world_model, actor, critic, target_critic, player = out = build_agent(*args, **kwargs)
        parts = {name: count(m) for name, m in world_model.named_children()}
        say(
            event="params",
            world_model=count(world_model),
            world_model_parts=parts,
            actor=count(actor),
            critic=count(critic),
        )
        return out

    state = {
        "steps": 0,
        "first": None,
        "cpu_first": 0.0,
        "last": None,
        "inside": 0.0,
        "iterations": 0,
        "next_report": 0.0,
    }

    def progress(event: str) -> None:
        say(
            event=event,
            t=time.perf_counter() - start,
            gradient_steps=state["steps"],
            train_wall_s=state["last"] - state["first"] if state["first"] is not None else None,
            train_inside_s=state["inside"],
            train_cpu_s=time.process_time() - state["cpu_first"] if state["first"] is not None else None,
            iterations=state["iterations"],
        )

    def timed_train(*args, **kwargs):
        t0 = time.perf_counter()
        if state["first"] is None:
            state["first"], state["cpu_first"] = t0, time.process_time()
            say(
                event="train_start",
                t=t0 - start,
                iterations=state["iterations"],
                torch_threads=torch.get_num_threads(),
            )
        out = train(*args, **kwargs)
        t1 = time.perf_counter()
        state["steps"] += 1
        state["last"] = t1
        state["inside"] += t1 - t0
        if t1 - start >= state["next_report"]:
            state["next_report"] = t1 - start + 10.0
            progress("progress")
        stop_at_deadline()
        return out

    def stop_at_deadline() -> None:
        if time.perf_counter() - start >= deadline_s:
            progress("deadline")
            os._exit(0)  # sheeprl has no wall-clock limit; its TensorBoard log is flushed every 2 s

    def counted_episode_stats(infos):
        state["iterations"] += 1  # called once per iteration: one step of every env
        stats = list(get_episode_stats(infos))
        for i, ret, length in stats:
            say(
                event="episode",
                iteration=state["iterations"],
                env=int(i),
                ret=float(ret),
                length=int(length),
            )
        if state["first"] is None:
            stop_at_deadline()  # before the training starts; afterwards, only between gradient steps
        return stats

    dv3.build_agent, dv3.train, dv3.get_episode_stats = (
        counted_build_agent,
        timed_train,
        counted_episode_stats,
    )
    sys.argv = ["sheeprl", *overrides]
    try:
        run()
    finally:
        progress("end")


# ----------------------------------------------------------------------------------------------------------------------
# The parent: launches the driver, reads its lines and sheeprl's TensorBoard log, summarizes.


def _tensorboard_scalars(log_root: Path) -> dict[str, list[tuple[float, int, float]]]:
    """``tag -> [(wall time, step, value)]`` of every TensorBoard event file under ``log_root``."""
    try:
        from tensorboard.backend.event_processing.event_file_loader import (
            EventFileLoader,
        )
        from tensorboard.util import tensor_util
    except ImportError:
        return {}
    scalars: dict[str, list[tuple[float, int, float]]] = {}
    for path in sorted(log_root.rglob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tensor_util.make_ndarray(value.tensor)
                    if array.size != 1 or array.dtype.kind not in "fiu":
                        continue  # the hyperparameters' text
                    number = float(array.reshape(-1)[0])
                else:
                    number = float(value.simple_value)
                scalars.setdefault(value.tag, []).append((event.wall_time, event.step, number))
    return scalars


def _pooled_sps_train(
    scalars: dict[str, list[tuple[float, int, float]]],
) -> float | None:
    """sheeprl's ``Time/sps_train`` pooled over its log intervals: sum of gradient steps / sum of train time."""
    ratios = {step: value for _, step, value in scalars.get("Params/replay_ratio", [])}
    sps = scalars.get("Time/sps_train", [])
    steps_done, seconds, previous = 0.0, 0.0, 0.0
    for _, step, value in sorted(sps, key=lambda r: r[1]):
        if step not in ratios or value <= 0:
            continue
        cumulative = ratios[step] * step
        delta = cumulative - previous
        previous = cumulative
        steps_done += delta
        seconds += delta / value
    return round(steps_done / seconds, 4) if seconds > 0 else None


def _load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run_sheeprl(
    preset: str = "size1m",
    seed: int = 0,
    minutes: float = 5.0,
    replay_ratio: float = 0.5,
    total_steps: int = 100_000,
    *,
    num_envs: int = 1,
    learning_starts: int = 1024,
    batch_size: int = 16,
    sequence_length: int = 64,
    threads: int = 2,
    keep_logs: bool = False,
    verbose: bool = False,
) -> dict:
    """One run of sheeprl's DreamerV3 on CartPole-v1; returns the summary dict (see the module's docstring), or
    ``{"library": "sheeprl", "skipped": why}`` when the venv or sheeprl is missing or the run fails."""
    skipped = {
        "bench": "dreamer_cartpole",
        "library": "sheeprl",
        "preset": preset,
        "seed": seed,
    }
    python = VENV / "bin" / "python"
    if not python.exists():
        return {
            **skipped,
            "skipped": f"no venv at {VENV} (see bench/sheeprl_dreamer.py's docstring to install it)",
        }
    probe = subprocess.run(
        [str(python), "-c", "import sheeprl; print(sheeprl.__version__)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return {
            **skipped,
            "skipped": f"sheeprl does not import in {VENV}: {probe.stderr.strip()[-300:]}",
        }
    version = probe.stdout.strip()
    if minutes <= 0 or total_steps <= learning_starts:
        raise ValueError(
            f"minutes must be > 0 and total_steps > learning_starts, got {minutes}, {total_steps}, {learning_starts}"
        )
    overrides = sheeprl_overrides(
        preset,
        seed,
        replay_ratio,
        total_steps,
        num_envs=num_envs,
        learning_starts=learning_starts,
        batch_size=batch_size,
        sequence_length=sequence_length,
        threads=threads,
    )
    workdir = Path(tempfile.mkdtemp(prefix="sheeprl_dreamer_"))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "PYTHONPATH")}
    env["PYTHONUNBUFFERED"] = "1"
    env["HYDRA_FULL_ERROR"] = "1"
    command = [
        str(python),
        str(Path(__file__).resolve()),
        "--driver",
        str(minutes * 60),
        str(threads),
        "--",
        *overrides,
    ]
    load_before = _load_avg()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    records: list[dict] = []
    with open(workdir / "stderr.txt", "w") as err:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        backstop = threading.Timer(minutes * 60 + 300, proc.kill)  # the driver stops itself at the deadline
        backstop.start()
        try:
            for line in proc.stdout:
                if line.startswith(_MARK):
                    records.append(json.loads(line[len(_MARK) :]))
                    if verbose and records[-1]["event"] != "episode":
                        print(line.rstrip(), file=sys.stderr, flush=True)
            returncode = proc.wait()
        finally:
            backstop.cancel()
    wall = time.perf_counter() - start
    load_after = _load_avg()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    try:
        scalars = _tensorboard_scalars(workdir / "logs")
        stderr_tail = (workdir / "stderr.txt").read_text()[-2000:]
    finally:
        if not keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)

    params = next((r for r in records if r["event"] == "params"), None)
    progress = [r for r in records if r["event"] in ("progress", "deadline", "end")]
    train_start = next((r for r in records if r["event"] == "train_start"), None)
    stopped_by = "minutes" if any(r["event"] == "deadline" for r in records) else "total_steps"
    if params is None or (returncode != 0 and stopped_by != "minutes"):
        return {
            **skipped,
            "skipped": f"sheeprl failed (exit {returncode}): {stderr_tail[-600:]}",
        }

    episodes = [r for r in records if r["event"] == "episode"]
    returns = [[r["iteration"] * num_envs, r["ret"]] for r in episodes]
    solved_at = None
    for k in range(WINDOW, len(returns) + 1):
        if sum(ret for _, ret in returns[k - WINDOW : k]) / WINDOW >= TARGET:
            solved_at = returns[k - 1][0]
            break
    last = progress[-1] if progress else None
    grad_steps = last["gradient_steps"] if last else 0
    env_steps = max([r["iterations"] for r in records if "iterations" in r] + [0]) * num_envs
    train_wall = last["train_wall_s"] if last else None
    sizes = MODEL_SIZES[preset]
    summary = {
        "bench": "dreamer_cartpole",
        "library": "sheeprl",
        "version": version,
        "algorithm": PRESETS[preset][0],
        "env": "CartPole-v1",
        "preset": preset,
        "seed": seed,
        "model": {
            **sizes,
            "params_world_model": params["world_model"],
            "params_world_model_parts": params["world_model_parts"],
            "params_actor": params["actor"],
            "params_critic": params["critic"],
        },
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "replay_ratio": replay_ratio,
        "learning_starts": learning_starts,
        "num_envs": num_envs,
        "torch_threads": train_start["torch_threads"] if train_start else None,
        "env_steps": env_steps,
        "wall_s": round(wall, 2),
        "prefill_wall_s": round(train_start["t"], 2) if train_start else None,
        "train_wall_s": round(train_wall, 2) if train_wall else None,
        "gradient_steps": grad_steps,
        "gradient_steps_per_s": round(grad_steps / train_wall, 4) if train_wall else None,
        "train_only_steps_per_s": round(grad_steps / last["train_inside_s"], 4) if grad_steps else None,
        "sps_train_tb": _pooled_sps_train(scalars),
        "train_cpu_s": round(last["train_cpu_s"], 1) if grad_steps else None,
        "gradient_steps_per_cpu_s": round(grad_steps / last["train_cpu_s"], 4) if grad_steps else None,
        "episodes": len(returns),
        "last20_mean_return": round(sum(r for _, r in returns[-WINDOW:]) / min(WINDOW, len(returns)), 2)
        if returns
        else None,
        "solved": solved_at is not None,
        "env_steps_to_solve": solved_at,
        "stopped_by": stopped_by,
        "minutes": minutes,
        "total_steps": total_steps,
        "cpu_s": round(cpu, 1),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "episode_returns": returns,
    }
    return summary


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--driver":
        dash = sys.argv.index("--")
        _driver(float(sys.argv[2]), int(sys.argv[3]), sys.argv[dash + 1 :])
        return
    from common import emit

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="size1m")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", type=float, default=5.0, help="wall-clock limit of the run")
    parser.add_argument("--replay-ratio", type=float, default=0.5, help="gradient steps per env step")
    parser.add_argument(
        "--total-steps",
        type=int,
        default=100_000,
        help="env steps, if the minutes last",
    )
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--learning-starts", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the sheeprl process")
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep sheeprl's log folder (a temp dir)",
    )
    parser.add_argument(
        "--no-save",
        action="store_true",
        help=f"do not append to {RESULTS.relative_to(HERE.parent)}",
    )
    parser.add_argument("--verbose", action="store_true", help="echo the progress lines to stderr")
    args = parser.parse_args()
    summary = run_sheeprl(
        args.preset,
        args.seed,
        args.minutes,
        args.replay_ratio,
        args.total_steps,
        num_envs=args.num_envs,
        learning_starts=args.learning_starts,
        threads=args.threads,
        keep_logs=args.keep_logs,
        verbose=args.verbose,
    )
    emit(summary)
    if not args.no_save and "skipped" not in summary:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
