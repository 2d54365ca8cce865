"""CSPL: the config's errors, the distillation teacher's routing, the three phases end to end, resuming."""

from __future__ import annotations

import functools

import pytest
import torch

from rl4py.envs import CartPole, HeroLane
from rl4py.modules import make_actor_critic
from rl4py.testing import shift_seed
from rl4py.trainers import BCConfig, CompositionRouter, CSPLConfig, PPOConfig, train_cspl

THREE_TYPES = functools.partial(HeroLane, num_hero_types=3)  # compositions (0, 1), (0, 2), (1, 2)


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"distill": BCConfig(num_cells=(64, 64))}, ValueError, r"distill.num_cells=\(64, 64\) and student.num_cells"),
        ({"distill": BCConfig(num_cells=(128, 128), activation="relu")}, ValueError, "distill.activation='relu'"),
        ({"specialist": PPOConfig(seed=3)}, ValueError, r"specialist.seed=3 would be ignored"),
        ({"student": BCConfig()}, TypeError, "student must be a PPOConfig, got BCConfig"),
        ({"compositions": ()}, ValueError, "compositions is empty"),
        ({"compositions": ((0, 1), (0, 1))}, ValueError, "duplicates"),
        ({"compositions": ((0, -1),)}, ValueError, "hero ids >= 0"),
        ({"eval_envs": 0}, ValueError, "eval_envs must be >= 1"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_config_errors_name_the_field(changes, error, message):
    with pytest.raises(error, match=message):
        CSPLConfig(**changes)


def test_train_cspl_refuses_bad_arguments():
    with pytest.raises(ValueError, match="stop_after must be None or one of"):
        train_cspl(HeroLane, stop_after="student")
    with pytest.raises(ValueError, match=r"specialists given for compositions \[\(0, 3\)\]"):
        train_cspl(THREE_TYPES, specialists={(0, 3): None})
    with pytest.raises(ValueError, match="CartPole has no observed_composition"):
        train_cspl(lambda num_envs, **kwargs: CartPole(num_envs=num_envs))


def test_router_takes_each_row_from_its_compositions_specialist():
    env = THREE_TYPES(num_envs=6, assign="cycle")
    obs = env.reset(seed=0)["observation"]
    space, actions = env.single_observation_space, env.single_action_space
    specialists = {team: make_actor_critic(space, actions, (8,))[0] for team in env.compositions}
    router = CompositionRouter(specialists, env.observed_composition)
    logits = router(obs)
    for row, team in enumerate(env.composition.tolist()):
        for other, specialist in specialists.items():
            own = torch.allclose(logits[row], specialist.module(obs[row : row + 1])[0], atol=1e-6)
            assert own == (other == tuple(team)), (row, team, other)
    actor = router.as_actor()
    assert actor.get_dist(env.reset(seed=0)).sample().shape == (6, 2)
    only_two = CompositionRouter(dict(list(specialists.items())[:2]), env.observed_composition)
    with pytest.raises(ValueError, match=r"shows composition \(1, 2\); the specialists play"):
        only_two(obs)


def _small(**changes) -> CSPLConfig:
    base = CSPLConfig(eval_envs=8, agreement_frames=256)
    return base.replace(
        specialist=base.specialist.replace(total_frames=768),
        distill=base.distill.replace(num_envs=6, total_frames=300),
        student=base.student.replace(total_frames=768),
        **changes,
    )


def test_phases_are_reusable():
    phases = []
    first = train_cspl(THREE_TYPES, _small(), stop_after="specialists", on_phase=lambda name, f: phases.append(name))
    assert phases == ["specialists"] and first.distilled is None and first.student is None
    assert sorted(first.specialists) == [(0, 1), (0, 2), (1, 2)]
    assert first.total_frames == 3 * 768
    # the trained specialists skip phase 1; one missing is trained
    given = dict(list(first.specialists.items())[:2])
    second = train_cspl(THREE_TYPES, _small(), specialists=given, stop_after="distillation")
    assert second.phases["specialists"]["trained"] == 1 and second.phases["specialists"]["frames"] == 768
    assert second.specialists[(0, 1)] is given[(0, 1)]
    assert second.phases["distillation"]["frames"] == 300
    # the distilled student skips phases 1 and 2 and is not changed by phase 3
    before = [p.clone() for p in second.distilled.parameters()]
    third = train_cspl(THREE_TYPES, _small(), distilled=second.distilled)
    assert list(third.phases) == ["student"] and third.total_frames == 768
    assert all(torch.equal(a, b) for a, b in zip(before, second.distilled.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(before, third.student.parameters()))


@pytest.mark.slow
def test_three_phases_distil_the_specialists_and_phase_3_keeps_their_return():
    result = train_cspl(THREE_TYPES, CSPLConfig(seed=shift_seed(0)))
    assert list(result.phases) == ["specialists", "distillation", "student"]
    specialists = result.phases["specialists"]["returns"]
    assert min(specialists.values()) > 1.5  # every specialist learnt its team (random play: < 0.5)
    for team, agreement in result.phases["distillation"]["agreement"].items():
        assert agreement >= 0.9, (team, agreement)  # measured 1.0
        assert result.phases["distillation"]["returns"][team] >= 0.9 * specialists[team]
    distilled = result.phases["distillation"]["mean_return"]
    student = result.phases["student"]["mean_return"]
    assert student >= distilled - 0.1, (student, distilled)  # phase 3 keeps the return (measured: equal)
    for team, value in result.phases["student"]["returns"].items():
        assert value >= 0.85 * specialists[team], (team, value, specialists[team])
