"""InstanceRequirements: bad values fail with the field, the expected and the received value."""

from __future__ import annotations

import math

import pytest

from rl4py.cloud import InstanceRequirements, gpu_name_key


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"gpu_types": "RTX_4090"}, "gpu_types must be a list of names, got the string 'RTX_4090'"),
        ({"gpu_types": ["RTX_4090", " _ "]}, "gpu_types must hold non-empty names, got ' _ '"),
        ({"num_gpus": 0}, "num_gpus must be an int >= 1, got 0"),
        ({"num_gpus": 1.5}, "num_gpus must be an int >= 1, got 1.5"),
        ({"min_gpu_ram_gb": -1}, "min_gpu_ram_gb must be a finite number >= 0, got -1"),
        ({"max_price_per_hour": 0.0}, "max_price_per_hour must be a finite number > 0, got 0.0"),
        ({"max_price_per_hour": math.inf}, "max_price_per_hour must be a finite number > 0, got inf"),
        ({"min_disk_gb": 0}, "min_disk_gb must be a finite number > 0, got 0"),
        ({"min_ram_gb": True}, "min_ram_gb must be a finite number >= 0, got True"),
        ({"image": " "}, "image must be a Docker image name, got ' '"),
        ({"env": {"NOT-A-NAME": "x"}}, r"env must map variable names .* got 'NOT-A-NAME': str"),
        ({"env": {"A": 1}}, "got 'A': int"),
    ],
)
def test_bad_requirements_are_refused_with_what_was_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        InstanceRequirements(**kwargs)


def test_describe_spells_out_every_filter_set():
    requirements = InstanceRequirements(
        gpu_types=["RTX_4090", "A100_SXM4"], num_gpus=2, min_gpu_ram_gb=24, max_price_per_hour=1.5, min_disk_gb=80,
        min_ram_gb=64,
    )  # fmt: skip
    assert (
        requirements.describe()
        == "2x RTX 4090 or A100 SXM4, GPU RAM >= 24 GB, at most $1.50/h, disk >= 80 GB, RAM >= 64 GB"
    )
    assert InstanceRequirements().describe() == "1x any GPU, disk >= 20 GB"


def test_gpu_names_match_across_spellings():
    requirements = InstanceRequirements(gpu_types=["RTX_4090"])
    assert requirements.accepts_gpu("NVIDIA GeForce RTX 4090", "RTX 4090")
    assert requirements.accepts_gpu("rtx-4090")
    assert not requirements.accepts_gpu("RTX 4090 D", "NVIDIA GeForce RTX 4090 D")
    assert InstanceRequirements().accepts_gpu("anything")
    assert gpu_name_key("  H100__SXM ") == "h100 sxm"


def test_requirements_are_a_snapshot():
    env = {"A": "1"}
    gpus = ["RTX_4090"]
    requirements = InstanceRequirements(gpu_types=gpus, env=env)
    env["B"] = "2"
    gpus.append("RTX_3090")
    assert requirements.env == {"A": "1"} and requirements.gpu_types == ("RTX_4090",)
