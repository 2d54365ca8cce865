"""One PPO gradient step: rl4py's update body beside the same math written inline in bare torch.

Both take the same epochs x minibatches of PPO gradient steps on the same CartPole-shaped
rollout (observation 4, 2 actions), from the same 64-64 tanh actor and critic, in the same
process:

- ``rl4py``: :func:`rl4py.trainers.actor_critic.actor_critic_update` (what ``train_ppo`` calls)
  with :class:`~rl4py.PPOLoss` and :func:`~rl4py.trainers.actor_critic.make_optimizer`, the
  estimator stages left out (the rollout already holds advantages and value targets).
- ``rl4py_nn_tanh``: the same with the networks' activation swapped for ``nn.Tanh`` (rl4py's
  ``Tanh`` computes ``2 sigmoid(2x) - 1`` on large CPU tensors, in a Python autograd function).
- ``rl4py_compiled`` (``--compile``): the same with ``PPOLoss(compile=True)``; the first update,
  which compiles, is timed apart (``compile_seconds``).
- ``torch``: CleanRL's ``ppo.py`` inner loop written out on plain tensors (index the minibatch,
  log-softmax, clipped surrogate, clipped value loss, entropy, ``Adam(eps=1e-5)``,
  ``clip_grad_norm_(0.5)``, the ``approx_kl`` / ``clipfrac`` diagnostics as CleanRL reads them),
  on ``nn.Sequential`` copies of the networks with ``nn.Tanh``.
- ``torch_fused``: the same with ``Adam(fused=True)`` and ``clip_grad_norm_(foreach=True)``.

Before timing, one update of each from the same parameters and shuffles is compared: the
parameters must agree (the two compute the same thing). Timing: the two run alternately, one
whole update (``--epochs`` x 4 minibatches) per round; ``ms_per_step`` is the median over
rounds of the round's time per gradient step (``ms_per_step_min`` the least disturbed round).
Prints one JSON line per (implementation, batch, threads) and a summary line per (batch, threads)::

    python bench/update_step.py                       # batches 256 and 4096, 1 thread
    python bench/update_step.py --threads 1 0         # 0: torch's default thread count
    python bench/update_step.py --batches 256 --rounds 50
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from common import emit
from tensordict import TensorDict
from torch import nn

from rl4py import PPOLoss, make_discrete_actor_critic
from rl4py.modules.activations import Tanh
from rl4py.trainers import PPOConfig
from rl4py.trainers.actor_critic import ActorCriticParts, actor_critic_update, make_optimizer

OBS, ACTIONS, MINIBATCHES = 4, 2, 4
CLIP, ENT_COEF, VF_COEF, MAX_GRAD_NORM, LR, ADAM_EPS = 0.2, 0.01, 0.5, 0.5, 2.5e-4, 1e-5


def make_rollout(n: int, actor: nn.Module, seed: int) -> TensorDict:
    """``n`` CartPole-shaped samples with what PPO's loss reads (log-probs from ``actor``)."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, OBS, generator=g)
    action = torch.randint(0, ACTIONS, (n,), generator=g)
    with torch.no_grad():
        log_prob = actor.get_dist(TensorDict({"observation": obs}, batch_size=[n])).log_prob(action).unsqueeze(-1)
    value = torch.randn(n, 1, generator=g)
    advantage = torch.randn(n, 1, generator=g)
    return TensorDict(
        {
            "observation": obs,
            "action": action,
            "action_log_prob": log_prob,
            "state_value": value,
            "advantage": advantage,
            "value_target": value + advantage,
        },
        batch_size=[n],
    )


def with_torch_tanh(mlp: nn.Module) -> nn.Sequential:
    """The layers of rl4py's ``MLP`` in an ``nn.Sequential`` (copies), with ``nn.Tanh`` for
    rl4py's :class:`~rl4py.modules.activations.Tanh`: what a bare-torch user writes."""
    return nn.Sequential(*(nn.Tanh() if isinstance(m, Tanh) else copy.deepcopy(m) for m in mlp))


class Rl4pyUpdate:
    """rl4py's PPO update body on ``rollout``."""

    def __init__(
        self, actor: nn.Module, critic: nn.Module, rollout: TensorDict, epochs: int, seed: int, compile: bool = False
    ) -> None:
        self.config = PPOConfig(
            num_minibatches=MINIBATCHES, epochs=epochs, lr=LR, adam_eps=ADAM_EPS, max_grad_norm=MAX_GRAD_NORM
        )
        loss = PPOLoss(actor, critic, clip_epsilon=CLIP, entropy_coeff=ENT_COEF, critic_coeff=VF_COEF, compile=compile)
        self.parts = ActorCriticParts(actor, critic, loss, estimators=[], policy=actor)
        self.optimizer = make_optimizer(loss, self.config)
        self.rollout = rollout
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> None:
        stats = actor_critic_update(self.parts, self.rollout, self.optimizer, self.config, self.generator)
        float(stats["approx_kl"])  # a training loop reads the stats once per update


class TorchUpdate:
    """CleanRL's PPO inner loop, written out on plain tensors (``fused``: with torch's fused Adam
    and foreach gradient clip instead of the defaults CleanRL gets)."""

    def __init__(
        self, actor: nn.Module, critic: nn.Module, rollout: TensorDict, epochs: int, seed: int, fused: bool = False
    ) -> None:
        # the bare MLPs (observation -> logits, observation -> value) with torch's nn.Tanh
        self.actor = with_torch_tanh(actor.module)
        self.critic = with_torch_tanh(critic.module)
        self.params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(self.params, lr=LR, eps=ADAM_EPS, fused=fused or None)
        self.foreach = fused or None
        self.b_obs = rollout["observation"]
        self.b_actions = rollout["action"]
        self.b_logprobs = rollout["action_log_prob"].view(-1)
        self.b_values = rollout["state_value"].view(-1)
        self.b_advantages = rollout["advantage"].view(-1)
        self.b_returns = rollout["value_target"].view(-1)
        self.epochs = epochs
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> None:
        n = self.b_obs.shape[0]
        size = n // MINIBATCHES
        clipfracs = []
        for _ in range(self.epochs):
            b_inds = torch.randperm(n, generator=self.generator)
            for start in range(0, n, size):
                mb_inds = b_inds[start : start + size]
                logits = self.actor(self.b_obs[mb_inds]).log_softmax(-1)
                newlogprob = logits.gather(-1, self.b_actions[mb_inds].unsqueeze(-1)).squeeze(-1)
                entropy = -(logits.exp() * logits).sum(-1)
                newvalue = self.critic(self.b_obs[mb_inds])
                logratio = newlogprob - self.b_logprobs[mb_inds]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > CLIP).float().mean().item()]
                mb_advantages = self.b_advantages[mb_inds]
                mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - CLIP, 1 + CLIP)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - self.b_returns[mb_inds]) ** 2
                v_clipped = self.b_values[mb_inds] + torch.clamp(newvalue - self.b_values[mb_inds], -CLIP, CLIP)
                v_loss_clipped = (v_clipped - self.b_returns[mb_inds]) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - ENT_COEF * entropy_loss + v_loss * VF_COEF
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.params, MAX_GRAD_NORM, foreach=self.foreach)
                self.optimizer.step()
        approx_kl.item()


def check_same_update(rollout_size: int, seed: int) -> float:
    """One update of each from the same parameters and shuffles; returns the largest parameter difference."""
    torch.manual_seed(seed)
    actor, critic = make_discrete_actor_critic(OBS, ACTIONS)
    rollout = make_rollout(rollout_size, actor, seed)
    ours = Rl4pyUpdate(actor, critic, rollout, epochs=2, seed=seed)
    peers = [
        TorchUpdate(copy.deepcopy(actor), copy.deepcopy(critic), rollout, epochs=2, seed=seed, fused=fused)
        for fused in (False, True)
    ]
    ours()
    diff = 0.0
    for theirs in peers:
        theirs()
        pairs = zip([*actor.module.parameters(), *critic.module.parameters()], theirs.params)
        diff = max(diff, max((a - b).abs().max().item() for a, b in pairs))
    if diff > 1e-4:
        raise AssertionError(f"update_step: rl4py and the bare-torch update disagree (max parameter diff {diff:.2e})")
    return diff


def bench(batch: int, threads: int, epochs: int, rounds: int, seed: int, compile: bool) -> None:
    previous = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        rollout_size = batch * MINIBATCHES
        diff = check_same_update(rollout_size, seed)
        torch.manual_seed(seed)
        actor, critic = make_discrete_actor_critic(OBS, ACTIONS)
        rollout = make_rollout(rollout_size, actor, seed)
        impls = {
            "rl4py": Rl4pyUpdate(actor, critic, rollout, epochs, seed),
            "torch": TorchUpdate(copy.deepcopy(actor), copy.deepcopy(critic), rollout, epochs, seed),
            "torch_fused": TorchUpdate(copy.deepcopy(actor), copy.deepcopy(critic), rollout, epochs, seed, fused=True),
        }
        # rl4py with its networks' activations swapped for nn.Tanh: what the activation choice costs
        swapped = copy.deepcopy(actor), copy.deepcopy(critic)
        for module in swapped:
            module.module = with_torch_tanh(module.module)
        impls["rl4py_nn_tanh"] = Rl4pyUpdate(*swapped, rollout, epochs, seed)
        if compile:
            peer = copy.deepcopy(actor), copy.deepcopy(critic)
            impls["rl4py_compiled"] = Rl4pyUpdate(*peer, rollout, epochs, seed, compile=True)
            start = time.perf_counter()
            impls["rl4py_compiled"]()  # compiles the loss
            compile_seconds = time.perf_counter() - start
        steps = epochs * MINIBATCHES
        wall: dict[str, list[float]] = {name: [] for name in impls}
        cpu: dict[str, list[float]] = {name: [] for name in impls}
        for update in impls.values():  # warm-up
            for _ in range(3):
                update()
        for _ in range(rounds):
            for name, update in impls.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                update()
                wall[name].append((time.perf_counter() - start) * 1e3 / steps)
                cpu[name].append((time.process_time() - start_cpu) * 1e3 / steps)
        medians = {name: statistics.median(values) for name, values in wall.items()}
        cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
        for name in impls:
            emit(
                {
                    "bench": "update_step",
                    "impl": name,
                    "batch": batch,
                    "threads": torch.get_num_threads(),
                    "ms_per_step": round(medians[name], 4),
                    "ms_per_step_min": round(min(wall[name]), 4),
                    "cpu_ms_per_step": round(cpu_medians[name], 4),
                    "rounds": rounds,
                    "steps_per_round": steps,
                }
            )
        emit(
            {
                "bench": "update_step",
                "summary": True,
                "batch": batch,
                "threads": torch.get_num_threads(),
                **{f"{name}_ms": round(medians[name], 4) for name in impls},
                **{
                    f"{name}_over_torch": round(medians[name] / medians["torch"], 3)
                    for name in impls
                    if name != "torch"
                },
                **{
                    f"{name}_over_torch_cpu": round(cpu_medians[name] / cpu_medians["torch"], 3)
                    for name in impls
                    if name != "torch"
                },
                "max_param_diff_after_one_update": diff,
                **({"compile_seconds": round(compile_seconds, 1)} if compile else {}),
            }
        )
    finally:
        torch.set_num_threads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 4096], help="samples per minibatch")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads; 0 = torch's default")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per update (x 4 minibatches)")
    parser.add_argument("--rounds", type=int, default=30, help="timed updates of each implementation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compile", action="store_true", help="add rl4py with PPOLoss(compile=True)")
    args = parser.parse_args()
    for threads in args.threads:
        for batch in args.batches:
            bench(batch, threads, args.epochs, args.rounds, args.seed, args.compile)


if __name__ == "__main__":
    main()
