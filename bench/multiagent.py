"""Cooperative multi-agent (issue 13): one subcommand per part, JSON lines, summary lines.

- ``vmas``: VMAS navigation, 3 agents, with the settings of TorchRL's multi-agent PPO tutorial
  (``tutorials/sphinx-tutorials/multiagent_ppo.py``: 60 vectorized envs x 100 steps = 6000 frames
  per iteration, 10 iterations, 30 epochs of minibatches of 400, lr 3e-4, gamma 0.9, lambda 0.9,
  clip 0.2, entropy 1e-4, gradient norm 1.0, no advantage normalization, 256 x 256 tanh MLPs,
  TanhNormal actions, a shared centralized critic on every agent's observation, per-agent rewards).
  TorchRL runs that script's loop (``--runs`` seeds); the median of its final iterations' mean
  episode reward (TorchRL's ``episode_reward_mean``: per-agent episode rewards, averaged) is the
  target. Then rl4py's MAPPO (:func:`rl4py.trainers.train_mappo` on :class:`rl4py.envs.VmasEnv`, the
  same 60 envs x 100 steps per iteration, gamma, lambda, clip, entropy, gradient clip, no advantage
  normalization, a centralized critic and per-agent rewards; its own network size, epochs,
  minibatches and learning rate: 64 x 64, 10 epochs of 5 minibatches, lr 1e-3, printed on the
  summary line) trains until the mean episode reward of an iteration reaches that target.
  Both in the same run, one thread each. Summary lines: ``{"bench": "vmas_navigation", "library",
  "summary": true, "runs", "solved_runs", "median_seconds_to_solve", "median_env_steps_to_solve",
  "target_reward"}``; ``speedup`` on rl4py's line is TorchRL's median seconds to its final reward over
  rl4py's median seconds to the same reward.
- ``spread``: PettingZoo MPE ``simple_spread_v3`` (mpe2; 3 agents, 25 cycles, discrete actions)
  with MAPPO; the team return per iteration against a uniformly random policy's and a hand-written
  convention's (agent i walks to landmark i); ``--plot`` writes the curve (docs/img/simple_spread.png).
- ``privileged``: :class:`rl4py.envs.Rendezvous` (partially observable: an agent sees neither the
  others nor the episode's background reward), MAPPO's centralized critic against the decentralized
  (IPPO) critic at the same budget, ``--runs`` seeds, no value clipping (the background moves the
  returns by up to +-80: a value clip of 0.2 per update holds a critic that tracks them back); each
  trained actor is evaluated on the meeting reward alone (background 0, 256 episodes, sampled actions).

The other targets of the issue have their own modules, run here as subcommands (or standalone):

- ``intrinsic``: ``bench/ma_explore.py`` (deep sea of size 20: plain PPO, count bonus, SimHash, RND;
  the Beta-VAE opponent model on HiddenOpponent).
- ``cspl``: ``bench/ma_cspl.py`` (CSPL's student against each specialist and against RL from scratch
  at the same total env steps, HeroLane).
- ``multihead``: ``bench/ma_multihead.py`` (a two-head critic against one head on CoinCorridor;
  z-conditioning on LeftRight).

    OMP_NUM_THREADS=1 python bench/multiagent.py vmas --runs 3
    OMP_NUM_THREADS=1 python bench/multiagent.py spread --frames 300000 --plot docs/img/simple_spread.png
    OMP_NUM_THREADS=1 python bench/multiagent.py privileged --runs 5
    OMP_NUM_THREADS=1 python bench/multiagent.py intrinsic
    OMP_NUM_THREADS=1 python bench/multiagent.py cspl
    OMP_NUM_THREADS=1 python bench/multiagent.py multihead
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, median_or_none  # noqa: E402

# TorchRL's tutorial settings
FRAMES_PER_BATCH = 6000
N_ITERS = 10
MAX_STEPS = 100
N_AGENTS = 3


def torchrl_mappo(seed: int) -> list[dict]:
    """TorchRL's multi-agent PPO tutorial loop on VMAS navigation; one record per iteration."""
    from tensordict.nn import TensorDictModule
    from tensordict.nn.distributions import NormalParamExtractor
    from torchrl.collectors import Collector  # 0.14's name for SyncDataCollector
    from torchrl.data.replay_buffers import ReplayBuffer
    from torchrl.data.replay_buffers.samplers import SamplerWithoutReplacement
    from torchrl.data.replay_buffers.storages import LazyTensorStorage
    from torchrl.envs import RewardSum, TransformedEnv
    from torchrl.envs.libs.vmas import VmasEnv
    from torchrl.modules import MultiAgentMLP, ProbabilisticActor, TanhNormal
    from torchrl.objectives import ClipPPOLoss, ValueEstimators

    torch.manual_seed(seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    env = VmasEnv(
        scenario="navigation",
        num_envs=FRAMES_PER_BATCH // MAX_STEPS,
        continuous_actions=True,
        max_steps=MAX_STEPS,
        device="cpu",
        seed=seed,
        n_agents=N_AGENTS,
    )
    env = TransformedEnv(env, RewardSum(in_keys=[env.reward_key], out_keys=[("agents", "episode_reward")]))
    obs_dim = env.observation_spec["agents", "observation"].shape[-1]
    policy_net = torch.nn.Sequential(
        MultiAgentMLP(
            n_agent_inputs=obs_dim,
            n_agent_outputs=2 * env.full_action_spec[env.action_key].shape[-1],
            n_agents=env.n_agents,
            centralised=False,
            share_params=True,
            depth=2,
            num_cells=256,
            activation_class=torch.nn.Tanh,
        ),
        NormalParamExtractor(),
    )
    policy_module = TensorDictModule(
        policy_net, in_keys=[("agents", "observation")], out_keys=[("agents", "loc"), ("agents", "scale")]
    )
    action_spec = env.full_action_spec_unbatched[env.action_key]
    policy = ProbabilisticActor(
        module=policy_module,
        spec=action_spec,
        in_keys=[("agents", "loc"), ("agents", "scale")],
        out_keys=[env.action_key],
        distribution_class=TanhNormal,
        distribution_kwargs={"low": action_spec.space.low, "high": action_spec.space.high},
        return_log_prob=True,
    )
    critic_net = MultiAgentMLP(
        n_agent_inputs=obs_dim,
        n_agent_outputs=1,
        n_agents=env.n_agents,
        centralised=True,
        share_params=True,
        depth=2,
        num_cells=256,
        activation_class=torch.nn.Tanh,
    )
    critic = TensorDictModule(critic_net, in_keys=[("agents", "observation")], out_keys=[("agents", "state_value")])
    collector = Collector(
        env, policy, device="cpu", frames_per_batch=FRAMES_PER_BATCH, total_frames=FRAMES_PER_BATCH * N_ITERS
    )
    replay_buffer = ReplayBuffer(
        storage=LazyTensorStorage(FRAMES_PER_BATCH), sampler=SamplerWithoutReplacement(), batch_size=400
    )
    loss_module = ClipPPOLoss(
        actor_network=policy, critic_network=critic, clip_epsilon=0.2, entropy_coeff=1e-4, normalize_advantage=False
    )
    loss_module.set_keys(
        reward=env.reward_key,
        action=env.action_key,
        value=("agents", "state_value"),
        done=("agents", "done"),
        terminated=("agents", "terminated"),
    )
    loss_module.make_value_estimator(ValueEstimators.GAE, gamma=0.9, lmbda=0.9)
    gae = loss_module.value_estimator
    optim = torch.optim.Adam(loss_module.parameters(), 3e-4)
    records = []
    frames = 0
    for iteration, data in enumerate(collector, start=1):
        shape = data.get(("next", env.reward_key)).shape
        data.set(("next", "agents", "done"), data.get(("next", "done")).unsqueeze(-1).expand(shape))
        data.set(("next", "agents", "terminated"), data.get(("next", "terminated")).unsqueeze(-1).expand(shape))
        with torch.no_grad():
            gae(data, params=loss_module.critic_network_params, target_params=loss_module.target_critic_network_params)
        frames += data.numel()
        replay_buffer.extend(data.reshape(-1))
        for _ in range(30):
            for _ in range(FRAMES_PER_BATCH // 400):
                sub = replay_buffer.sample()
                loss_vals = loss_module(sub)
                loss = loss_vals["loss_objective"] + loss_vals["loss_critic"] + loss_vals["loss_entropy"]
                loss.backward()
                torch.nn.utils.clip_grad_norm_(loss_module.parameters(), 1.0)
                optim.step()
                optim.zero_grad()
        collector.update_policy_weights_()
        done = data.get(("next", "agents", "done"))
        reward = data.get(("next", "agents", "episode_reward"))[done].mean().item()
        records.append(
            {
                "iteration": iteration,
                "frames": frames,
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu_start,
                "reward": reward,
            }
        )
    collector.shutdown()
    return records


def rl4py_config(seed: int, target: float | None, args: argparse.Namespace):
    from rl4py.trainers import MAPPOConfig

    return MAPPOConfig(
        num_envs=args.num_envs,
        rollout_length=MAX_STEPS,
        total_frames=args.rl4py_frames,
        lr=args.lr,
        anneal_lr=False,
        gamma=0.9,
        lmbda=0.9,
        epochs=args.epochs,
        num_minibatches=args.minibatches,
        max_grad_norm=1.0,
        entropy_coeff=1e-4,
        clip_epsilon=0.2,
        normalize_advantage=False,
        num_cells=(args.cells, args.cells),
        critic_input="global",
        per_agent_reward=True,
        window=60,  # the episodes of one iteration: TorchRL's episode_reward_mean
        target_return=target,
        seed=seed,
    )


def rl4py_mappo(seed: int, target: float | None, args: argparse.Namespace) -> dict:
    from rl4py.envs import VmasEnv
    from rl4py.trainers import train_mappo

    history = []
    start, cpu_start = time.perf_counter(), time.process_time()
    env = VmasEnv("navigation", num_envs=args.num_envs, max_steps=MAX_STEPS, seed=seed, n_agents=N_AGENTS)
    config = rl4py_config(seed, target, args)
    result = train_mappo(
        env,
        config,
        progress=lambda record: history.append(
            {
                "frames": record["frames"],
                "seconds": time.perf_counter() - start,
                "cpu_seconds": time.process_time() - cpu_start,
                "reward": record["mean_return"],
            }
        ),
        progress_every=1,
    )
    return {
        "solved": result.solved,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "frames": result.frames,
        "reward": result.mean_return,
        "curve": history,
    }


def run_vmas(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    targets, torchrl_seconds, torchrl_cpu, torchrl_frames = [], [], [], []
    for seed in range(args.runs):
        records = torchrl_mappo(seed)
        final = records[-1]
        targets.append(final["reward"])
        torchrl_seconds.append(final["seconds"])
        torchrl_cpu.append(final["cpu_seconds"])
        torchrl_frames.append(final["frames"])
        emit({"bench": "vmas_navigation", "library": "torchrl", "seed": seed, "curve": records})
    target = sorted(targets)[len(targets) // 2]
    emit(
        {
            "bench": "vmas_navigation",
            "library": "torchrl",
            "summary": True,
            "runs": args.runs,
            "solved_runs": args.runs,
            "median_seconds_to_solve": median_or_none(torchrl_seconds),
            "median_cpu_seconds_to_solve": median_or_none(torchrl_cpu),
            "median_env_steps_to_solve": median_or_none(torchrl_frames),
            "target_reward": target,
            "final_rewards": targets,
        }
    )
    seconds, cpu, frames, solved = [], [], [], 0
    for seed in range(args.runs):
        out = rl4py_mappo(seed, target, args)
        solved += out["solved"]
        seconds.append(out["seconds"] if out["solved"] else None)
        cpu.append(out["cpu_seconds"] if out["solved"] else None)
        frames.append(out["frames"] if out["solved"] else None)
        emit({"bench": "vmas_navigation", "library": "rl4py", "seed": seed, **out})
    median_seconds = median_or_none(seconds)
    median_cpu = median_or_none(cpu)
    torchrl_median = median_or_none(torchrl_seconds)
    emit(
        {
            "bench": "vmas_navigation",
            "library": "rl4py",
            "summary": True,
            "runs": args.runs,
            "solved_runs": solved,
            "median_seconds_to_solve": median_seconds,
            "median_env_steps_to_solve": median_or_none(frames),
            "target_reward": target,
            "median_cpu_seconds_to_solve": median_cpu,
            "speedup": None if median_seconds is None else torchrl_median / median_seconds,
            "speedup_cpu_time": None if median_cpu is None else median_or_none(torchrl_cpu) / median_cpu,
            "config": {k: v for k, v in vars(rl4py_config(0, target, args)).items()},
        }
    )


def run_spread(args: argparse.Namespace) -> None:
    from rl4py.envs import PettingZooEnv
    from rl4py.trainers import MAPPOConfig, evaluate_policy, train_mappo

    torch.set_num_threads(1)
    kwargs = {"N": 3, "max_cycles": 25, "continuous_actions": False}
    train_kwargs = {**kwargs, "agent_ids": args.agent_ids}
    random_env = PettingZooEnv("mpe2.simple_spread_v3", num_envs=32, **kwargs)
    generator = torch.Generator().manual_seed(0)

    def uniform(td):
        return td.set("action", torch.randint(5, (random_env.num_envs, random_env.n_agents), generator=generator))

    random_return = float(evaluate_policy(random_env, uniform, max_steps=25, seed=10_000).mean())
    emit({"bench": "simple_spread", "library": "random", "mean_return": random_return})
    heuristic_return = float(evaluate_policy(random_env, spread_heuristic, max_steps=25, seed=10_000).mean())
    emit({"bench": "simple_spread", "library": "heuristic", "mean_return": heuristic_return})
    curves = []
    for seed in range(args.runs):
        history = []
        start = time.perf_counter()
        config = MAPPOConfig(
            num_envs=args.num_envs,
            rollout_length=args.rollout_length,
            total_frames=args.frames,
            lr=args.lr,
            gamma=0.99,
            epochs=args.epochs,
            num_minibatches=args.minibatches,
            entropy_coeff=0.01,
            num_cells=(128, 128),
            window=4 * args.num_envs,
            seed=seed,
        )
        result = train_mappo(
            PettingZooEnv("mpe2.simple_spread_v3", num_envs=args.num_envs, **train_kwargs),
            config,
            progress=lambda record, history=history, start=start: history.append(
                {"frames": record["frames"], "seconds": time.perf_counter() - start, "reward": record["mean_return"]}
            ),
            progress_every=1,
        )
        evaluation = float(
            evaluate_policy(
                PettingZooEnv("mpe2.simple_spread_v3", num_envs=32, **train_kwargs),
                result.actor,
                max_steps=25,
                deterministic=False,
                seed=10_000,
            ).mean()
        )
        curves.append(history)
        emit(
            {
                "bench": "simple_spread",
                "library": "rl4py",
                "seed": seed,
                "frames": result.frames,
                "seconds": result.seconds,
                "final_return": evaluation,
                "random_return": random_return,
                "curve": history,
            }
        )
    if args.plot:
        plot_spread(curves, random_return, heuristic_return, args.plot)


def spread_heuristic(td):
    """A hand-written convention for simple_spread (N = 3): agent i heads for landmark i (its
    relative position at observation[4 + 2i : 6 + 2i]), braking by half its velocity, and waits
    within 0.05 of it. Discrete actions: 0 wait, 1 left, 2 right, 3 down, 4 up."""
    obs = td["observation"]
    relative = torch.stack([obs[:, i, 4 + 2 * i : 6 + 2 * i] for i in range(obs.shape[1])], 1)
    target = relative - 0.5 * obs[..., 0:2]
    dx, dy = target[..., 0], target[..., 1]
    action = torch.where(dx.abs() > dy.abs(), torch.where(dx > 0, 2, 1), torch.where(dy > 0, 4, 3))
    return td.set("action", torch.where(torch.maximum(dx.abs(), dy.abs()) < 0.05, 0, action))


def plot_spread(curves: list[list[dict]], random_return: float, heuristic_return: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for seed, curve in enumerate(curves):
        ax.plot([p["frames"] for p in curve], [p["reward"] for p in curve], label=f"MAPPO seed {seed}")
    ax.axhline(random_return, color="grey", linestyle="--", label="uniformly random")
    ax.axhline(heuristic_return, color="black", linestyle=":", label="hand-written convention")
    ax.set_xlabel("env steps (3 agents each)")
    ax.set_ylabel("team episode return")
    ax.set_title("MPE simple_spread (mpe2), rl4py MAPPO")
    ax.legend(loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def run_privileged(args: argparse.Namespace) -> None:
    from rl4py.envs import Rendezvous
    from rl4py.trainers import MAPPOConfig, evaluate_policy, train_mappo

    torch.set_num_threads(1)
    finals: dict[str, list[float]] = {"global": [], "local": []}
    for seed in range(args.runs):
        for critic in ("global", "local"):
            config = MAPPOConfig(
                num_envs=16,
                rollout_length=64,
                total_frames=args.frames,
                lr=1e-3,
                critic_input=critic,
                clip_value=False,  # the returns span +-80: a 0.2 value clip would hold the critics back
                seed=seed,
            )
            result = train_mappo(
                Rendezvous(num_envs=16, n_agents=args.agents, background=tuple(args.background)), config
            )
            score = float(
                evaluate_policy(
                    Rendezvous(num_envs=256, n_agents=args.agents, background=(0.0,)),
                    result.actor,
                    max_steps=100,
                    deterministic=False,
                    seed=123,
                ).mean()
            )
            finals[critic].append(score)
            emit(
                {
                    "bench": "privileged_critic",
                    "critic": critic,
                    "seed": seed,
                    "frames": result.frames,
                    "meeting_return": score,
                    "seconds": result.seconds,
                }
            )
    wins = sum(g > loc for g, loc in zip(finals["global"], finals["local"], strict=True))
    emit(
        {
            "bench": "privileged_critic",
            "summary": True,
            "runs": args.runs,
            "frames": args.frames,
            "centralized": finals["global"],
            "decentralized": finals["local"],
            "centralized_wins": wins,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    vmas = sub.add_parser("vmas")
    vmas.add_argument("--runs", type=int, default=3)
    # rl4py's settings (TorchRL's tutorial's: --rl4py-frames 60000 --lr 3e-4 --epochs 30 --minibatches 15 --cells 256)
    vmas.add_argument("--rl4py-frames", type=int, default=4 * FRAMES_PER_BATCH * N_ITERS)
    vmas.add_argument("--num-envs", type=int, default=60)
    vmas.add_argument("--lr", type=float, default=1e-3)
    vmas.add_argument("--epochs", type=int, default=10)
    vmas.add_argument("--minibatches", type=int, default=5)
    vmas.add_argument("--cells", type=int, default=64)
    spread = sub.add_parser("spread")
    spread.add_argument("--runs", type=int, default=1)
    spread.add_argument("--frames", type=int, default=200_000)
    spread.add_argument("--num-envs", type=int, default=32)
    spread.add_argument("--rollout-length", type=int, default=50)
    spread.add_argument("--lr", type=float, default=1e-3)
    spread.add_argument("--epochs", type=int, default=10)
    spread.add_argument("--minibatches", type=int, default=4)
    spread.add_argument("--plot", default=None)
    spread.add_argument("--agent-ids", action="store_true", help="append each agent's one-hot id to its observation")
    privileged = sub.add_parser("privileged")
    privileged.add_argument("--runs", type=int, default=3)
    privileged.add_argument("--frames", type=int, default=100_000)
    privileged.add_argument("--background", type=float, nargs="+", default=[-4.0, 0.0, 4.0])
    privileged.add_argument("--agents", type=int, default=2)
    import ma_cspl
    import ma_explore
    import ma_multihead

    runners = {"vmas": run_vmas, "spread": run_spread, "privileged": run_privileged}
    for name, module in (("intrinsic", ma_explore), ("cspl", ma_cspl), ("multihead", ma_multihead)):
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
        runners[name] = module.run
    args = parser.parse_args()
    runners[args.part](args)


if __name__ == "__main__":
    main()
