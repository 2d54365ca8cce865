"""Config-driven training: the hyperparameters come from a YAML file, not from the code.

Run: python recipes/config_driven.py --config recipes/configs/ppo_cartpole.yaml [--set lr=0.003 --set seed=1]
     python recipes/config_driven.py --config recipes/configs/ppo_acrobot.yaml
     (--smoke: a tiny budget that checks the wiring)

The file names an env (native, e.g. ``CartPole``, or a gymnasium id, e.g. ``Acrobot-v1``) and the
fields of one ``PPOConfig``; ``--set`` overrides fields (values are read as YAML: ``1e-3``, ``false``,
``[64, 64]``). Unknown fields and out-of-range values are refused with the list of valid ones, before
anything is trained. For Lightning runs the same fields sit under ``model.init_args.config`` of a
``rl4py fit --config`` file (recipes/ppo_cartpole.yaml), and ``--model.config.lr 3e-3`` overrides them.
"""

import argparse
import json
from pathlib import Path

import torch
import yaml

from rl4py.envs import make_env
from rl4py.trainers import PPOConfig, train_ppo
from rl4py.trainers.config import as_config

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", type=Path, default=Path(__file__).parent / "configs" / "ppo_cartpole.yaml")
parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a PPOConfig field")
parser.add_argument("--smoke", action="store_true", help="a tiny budget (CI)")
args = parser.parse_args()

spec = yaml.safe_load(args.config.read_text())
if not isinstance(spec, dict) or "env" not in spec:
    parser.error(f"{args.config}: expected a mapping with 'env' and 'config' keys, got {spec!r}")
unknown = set(spec) - {"env", "config"}
if unknown:
    parser.error(f"{args.config}: unknown top-level keys {sorted(unknown)}; expected 'env' and 'config'")
fields = dict(spec.get("config") or {})
for item in args.set:
    name, sep, value = item.partition("=")
    if not sep:
        parser.error(f"--set {item!r}: expected FIELD=VALUE")
    fields[name.strip()] = yaml.safe_load(value)
if args.smoke:
    fields.update(total_frames=2_048, target_return=None)
try:
    config = as_config(fields, PPOConfig)  # unknown fields: TypeError; out-of-range values: ValueError
except (TypeError, ValueError) as error:
    parser.error(str(error))

torch.set_num_threads(1)
print(f"{spec['env']}: {json.dumps(fields)}")
env = make_env(spec["env"], num_envs=config.num_envs)


def show(line: dict) -> None:
    mean = line["mean_return"]
    shown = "     -" if mean != mean else f"{mean:6.1f}"  # NaN until an episode has ended
    print(f"env steps {line['frames']:>7}  steps/s {line['steps_per_second']:>7.0f}  mean return {shown}")


result = train_ppo(env, config, progress=show, progress_every=10)
status = "solved" if result.solved else "stopped"
print(f"{status}: mean return {result.mean_return:.1f} after {result.frames} env steps in {result.seconds:.2f} s")
