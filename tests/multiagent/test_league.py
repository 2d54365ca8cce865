"""League: role mixes at their frequencies, who exploiters face, snapshots, resets and branching, checkpoints."""

from __future__ import annotations

import io
from collections import Counter

import pytest
import torch
from torch import nn

from rl4py.multiagent import League, Opponent

X = torch.linspace(-1, 1, 12).reshape(4, 3)


def adam(module: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.Adam(module.parameters(), lr=0.05)


def make_league(**kwargs) -> League:
    torch.manual_seed(0)
    settings = {"checkpoint_every": 10, "seed": 0, **kwargs}
    return League(nn.Linear(3, 2), adam, **settings)


def train(player, updates: int = 1) -> None:
    for _ in range(updates):
        loss = (player.module(X) - 1).square().mean()
        player.optimizer.zero_grad()
        loss.backward()
        player.optimizer.step()


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def branches(league: League, player, n: int) -> Counter:
    return Counter(league.next_match(player).branch for _ in range(n))


def test_players_and_initial_pool():
    league = make_league(main_agents=2, main_exploiters=1, league_exploiters=2)
    assert [p.name for p in league.players] == [
        "main_0",
        "main_1",
        "main_exploiter_0",
        "league_exploiter_0",
        "league_exploiter_1",
    ]
    assert [p.role for p in league.players] == [
        "main",
        "main",
        "main_exploiter",
        "league_exploiter",
        "league_exploiter",
    ]
    # AlphaStar's league starts with a snapshot of each main agent
    assert league.pool.names == ["main_0@0", "main_1@0"] and [s.parent for s in league.pool] == ["main_0", "main_1"]
    # every player has its own trainable copy and optimizer
    modules = [p.module for p in league.players]
    assert len({id(m) for m in modules}) == 5 and len({id(p.optimizer) for p in league.players}) == 5
    assert all(p.requires_grad for m in modules for p in m.parameters())


def test_book_main_mix_is_35_self_play_65_pfsp():
    league = make_league(main_mix="book")
    n = 4000
    counts = branches(league, "main_0", n)
    # binomial sd = sqrt(4000 * 0.35 * 0.65) ~ 30; margin 120 ~ 4 sd
    assert set(counts) == {"self_play", "pfsp"}
    assert abs(counts["self_play"] - 0.35 * n) < 120, counts


def test_fsp_main_mix_plays_only_snapshots():
    league = make_league(main_mix="fsp")
    counts = branches(league, "main_0", 500)
    assert counts == {"pfsp": 500}


def test_alphastar_main_mix_is_50_pfsp_15_verification_35_self_play():
    league = make_league(main_mix="alphastar")
    main, exploiter = league["main_0"], league["main_exploiter_0"]
    # no past main exploiter and one own snapshot (nothing to check for forgetting): verification falls back
    # to self-play, so 50% self-play and 50% PFSP
    n = 4000
    counts = branches(league, main, n)
    assert set(counts) == {"self_play", "pfsp"} and abs(counts["self_play"] - 0.5 * n) < 130, counts
    # a past main exploiter the main agent cannot beat (win rate 0.1 < 0.3): the verification branch plays it
    exploiter.step = 10
    past_exploiter = league.snapshot(exploiter)
    league.report(main, past_exploiter, torch.tensor([1.0] + [-1.0] * 9))
    matches = [league.next_match(main) for _ in range(n)]
    counts = Counter(m.branch for m in matches)
    assert abs(counts["pfsp"] - 0.5 * n) < 130, counts
    assert abs(counts["verification"] - 0.15 * n) < 95, counts  # sd ~23
    assert abs(counts["self_play"] - 0.35 * n) < 120, counts
    assert {m.name for m in matches if m.branch == "verification"} == {"main_exploiter_0@10"}
    assert {m.name for m in matches if m.branch == "self_play"} == {"main_0"}
    assert all(m.live for m in matches if m.branch == "self_play")


def test_alphastar_self_play_turns_to_curriculum_against_an_opponent_too_strong():
    league = make_league(main_mix="alphastar", main_exploiters=0, league_exploiters=0)
    main = league["main_0"]
    main.step = 10
    league.maybe_snapshot(main)
    league.report(main, main, torch.tensor([-1.0, -1.0, -1.0, 1.0]))  # p(main beats main) = 0.25 < 0.3
    matches = [league.next_match(main) for _ in range(600)]
    assert {m.branch for m in matches} == {"pfsp", "curriculum"}
    assert {m.name for m in matches if m.branch == "curriculum"} <= {"main_0@0", "main_0@10"}


def test_main_exploiter_faces_only_main_agents_and_their_past():
    league = make_league(main_agents=2, league_exploiters=1)
    exploiter = league["main_exploiter_0"]
    for player in league.players:  # snapshots of everyone, exploiters included
        player.step = 10
        league.maybe_snapshot(player)
    main_names = {"main_0", "main_1"}
    matches = [league.next_match(exploiter) for _ in range(400)]
    assert {m.name for m in matches} == main_names and all(m.live and m.branch == "main" for m in matches)
    # cannot beat main_0 (win rate 0 <= 0.1): PFSP "variance" over main_0's past instead
    league.report(exploiter, "main_0", "loss")
    matches = [league.next_match(exploiter) for _ in range(400)]
    names = Counter(m.name for m in matches)
    assert set(names) == {"main_1", "main_0@0", "main_0@10"}, names
    assert all(m.branch == "curriculum" for m in matches if m.name.startswith("main_0@"))
    assert abs(names["main_1"] - 200) < 60, names  # the main agent is drawn uniformly


def test_league_exploiter_draws_every_snapshot_by_pfsp():
    league = make_league(main_agents=1, main_exploiters=1, league_exploiters=1)
    le = league["league_exploiter_0"]
    for player in league.players:
        player.step = 10
        league.maybe_snapshot(player)
    names = league.pool.names
    assert len(names) == 4
    # unseen ones first: every snapshot gets played
    for name in names:
        league.report(le, name, "win")
    league.report(le, "main_0@10", torch.tensor([-1.0, -1.0, -1.0]))  # p = 0.25
    matches = [league.next_match(le) for _ in range(3000)]
    assert all(not m.live and m.branch == "pfsp" for m in matches)
    counts = Counter(m.name for m in matches)
    # linear_capped: min(0.5, 1 - p) = 0 for the three always beaten, 0.5 for main_0@10
    assert counts == {"main_0@10": 3000}


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, {"main_0@10": 1.0}),
        ({"exploiter_weighting": "uniform"}, dict.fromkeys(["main_0@0", "main_0@10", "x@10", "y@10"], 0.25)),
        ({"min_prob": 0.2}, {"main_0@0": 0.2, "main_0@10": 0.4, "x@10": 0.2, "y@10": 0.2}),
    ],
)
def test_league_pfsp_settings_reach_the_draws(settings, expected):
    league = make_league(**settings)
    le = league["league_exploiter_0"]
    for player in league.players:
        player.step = 10
        league.maybe_snapshot(player)
    for name in league.pool.names:
        league.report(le, name, "win")
    league.report(le, "main_0@10", "loss")  # p = 0.5: linear_capped gives 0.5, the others 0
    n = 3000
    counts = Counter(league.next_match(le).name for _ in range(n))
    rename = {"main_exploiter_0@10": "x@10", "league_exploiter_0@10": "y@10"}
    freq = {rename.get(k, k): v / n for k, v in counts.items()}
    assert freq.keys() == expected.keys(), freq
    assert all(abs(freq[k] - expected[k]) < 0.04 for k in expected), freq  # binomial sd <= 0.009


def test_unseen_prior_and_decay_reach_the_league():
    first = make_league()
    prior = make_league(unseen="prior", decay=0.5)
    for league in (first, prior):
        le = league["league_exploiter_0"]
        league.report(le, "main_0@0", "loss")
        league.report(le, "main_0@0", "loss")
        le.step = 10
        league.maybe_snapshot(le)
    # "first": the unseen new snapshot is drawn every time; "prior": weighed at 0.5 beside p = 0
    assert {first.next_match("league_exploiter_0").name for _ in range(50)} == {"league_exploiter_0@10"}
    counts = Counter(prior.next_match("league_exploiter_0").name for _ in range(2000))
    assert abs(counts["league_exploiter_0@10"] - 1000) < 100, counts  # min(0.5, 1 - p) = 0.5 for both
    assert prior.payoff.counts("league_exploiter_0", "main_0@0") == (0.0, 0.0, 1.5)  # the first loss halved


def test_snapshots_every_k_steps():
    league = make_league(checkpoint_every=10, main_exploiters=0, league_exploiters=0)
    main = league["main_0"]
    taken = []
    for _ in range(10):
        main.step += 4
        snapshot = league.maybe_snapshot(main)
        if snapshot is not None:
            taken.append(snapshot.name)
    assert taken == ["main_0@12", "main_0@24", "main_0@36"]
    assert league.pool.names == ["main_0@0", *taken] and all(n in league.payoff for n in taken)


def test_snapshot_keeps_the_weights_of_its_step():
    league = make_league(main_exploiters=0, league_exploiters=0)
    main = league["main_0"]
    train(main, 3)
    main.step = 10
    snapshot = league.maybe_snapshot(main)
    at_snapshot = weights(main.module)
    train(main, 3)
    assert equal(weights(snapshot.module), at_snapshot) and not equal(weights(main.module), at_snapshot)


def test_reset_to_initial_restores_the_initial_weights_with_a_fresh_optimizer():
    torch.manual_seed(0)
    initial = nn.Linear(3, 2)
    start = weights(initial)
    league = League(initial, adam, checkpoint_every=10, exploiter_reset="initial")
    exploiter = league["main_exploiter_0"]
    module, old_optimizer = exploiter.module, exploiter.optimizer
    train(exploiter, 5)
    assert not equal(weights(exploiter.module), start)
    league.report(exploiter, "main_0", "win")
    league.reset_player(exploiter)
    assert equal(weights(exploiter.module), start)
    assert exploiter.module is module  # reset in place: references the trainer holds stay valid
    assert exploiter.optimizer is not old_optimizer and len(exploiter.optimizer.state) == 0
    assert exploiter.resets == 1 and not league.payoff.seen(exploiter.name, "main_0")
    assert equal(weights(initial), start)  # the module given to the league is never trained


def test_branching_copies_the_main_agent_with_a_fresh_optimizer_then_trains_independently():
    league = make_league(exploiter_reset="branch")
    main, exploiter = league["main_0"], league["main_exploiter_0"]
    train(main, 4)
    train(exploiter, 2)
    league.reset_player(exploiter)
    main_weights = weights(main.module)
    assert equal(weights(exploiter.module), main_weights)
    assert len(exploiter.optimizer.state) == 0 and len(main.optimizer.state) > 0
    train(exploiter, 3)
    assert equal(weights(main.module), main_weights) and not equal(weights(exploiter.module), main_weights)
    branched = weights(exploiter.module)
    train(main, 2)
    assert equal(weights(exploiter.module), branched)


def test_an_exploiter_that_beats_its_targets_is_snapshot_then_reset():
    league = make_league(exploiter_reset="branch", reset_win_rate=0.7)
    main, exploiter = league["main_0"], league["main_exploiter_0"]
    train(main, 3)
    train(exploiter, 3)
    exploiter_weights = weights(exploiter.module)
    league.report(exploiter, "main_0", torch.tensor([1.0] * 7 + [-1.0] * 3))  # p = 0.7: not above
    exploiter.step = 10
    assert league.maybe_snapshot(exploiter).name == "main_exploiter_0@10" and exploiter.resets == 0
    league.report(exploiter, "main_0", torch.tensor([1.0] * 5))  # p = 12 / 15 = 0.8
    exploiter.step = 15
    assert league.maybe_snapshot(exploiter) is None  # only at a checkpoint
    exploiter.step = 20
    snapshot = league.maybe_snapshot(exploiter)
    # the pool keeps what it reached; the player restarts from the main agent with a fresh optimizer
    assert equal(weights(snapshot.module), exploiter_weights)
    assert equal(weights(exploiter.module), weights(main.module))
    assert exploiter.resets == 1 and exploiter.reset_step == 20 and len(exploiter.optimizer.state) == 0
    assert not league.payoff.seen(exploiter.name, "main_0")


def test_reset_after_a_step_budget_and_the_league_exploiter_reset_chance():
    league = make_league(reset_after=20, league_exploiter_reset_prob=1.0)
    exploiter, le = league["main_exploiter_0"], league["league_exploiter_0"]
    for step in (10, 20, 30, 40):
        exploiter.step = le.step = step
        league.maybe_snapshot(exploiter)
        league.maybe_snapshot(le)
    assert exploiter.resets == le.resets == 2 and exploiter.reset_step == le.reset_step == 40
    never = make_league(reset_after=10, league_exploiter_reset_prob=0.0)
    le = never["league_exploiter_0"]
    for step in (10, 20, 30):
        le.step = step
        never.maybe_snapshot(le)
    assert le.resets == 0
    # main agents are never reset
    assert league["main_0"].resets == 0


def test_capacity_evicts_snapshots_from_the_payoff_and_report_drops_them():
    league = make_league(capacity=2, main_exploiters=0, league_exploiters=0)
    main = league["main_0"]
    first = league.next_match(main)  # may be main_0@0
    old = Opponent("main_0@0", league.pool["main_0@0"].module, live=False, branch="pfsp")
    for step in (10, 20):
        main.step = step
        league.maybe_snapshot(main)
    assert league.pool.names == ["main_0@10", "main_0@20"] and "main_0@0" not in league.payoff
    assert league.report(main, old, "win") is False
    assert league.report(main, "main_0@20", "win") is True
    assert first.name in ("main_0", "main_0@0")


def _continue(league: League, rounds: int) -> list:
    """A scripted trainer: matches, deterministic outcomes, updates, snapshots; returns what happened."""
    outcomes = torch.Generator().manual_seed(123)
    log = []
    for _ in range(rounds):
        for player in league.players:
            opponent = league.next_match(player)
            returns = torch.randint(-1, 2, (8,), generator=outcomes).float()
            league.report(player, opponent, returns)
            train(player)
            player.step += 5
            snapshot = league.maybe_snapshot(player)
            log.append((player.name, opponent.name, opponent.branch, snapshot and snapshot.name, player.resets))
    return log


def test_state_dict_round_trip_continues_identically():
    settings = {"main_mix": "alphastar", "exploiter_reset": "branch", "reset_after": 15, "capacity": 6, "decay": 0.99}
    league = make_league(**settings)
    _continue(league, 6)
    buffer = io.BytesIO()
    torch.save(league.state_dict(), buffer)
    expected = _continue(league, 8)
    final = {p.name: weights(p.module) for p in league.players}
    assert len({entry[2] for entry in expected}) >= 3  # several branches were exercised
    assert any(entry[3] for entry in expected) and max(entry[4] for entry in expected) > 0

    buffer.seek(0)
    restored = make_league(**{**settings, "seed": 99})  # a different seed: the generator state is restored
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert _continue(restored, 8) == expected
    for player in restored.players:
        assert equal(weights(player.module), final[player.name]), player.name
    assert restored.pool.names == league.pool.names
    assert restored.payoff.state_dict() == league.payoff.state_dict()


def test_load_state_dict_refuses_another_league_shape():
    state = make_league(main_agents=2).state_dict()
    with pytest.raises(KeyError, match="build it with the same main_agents"):
        make_league(main_agents=1).load_state_dict(state)


def test_errors_name_what_was_wrong():
    with pytest.raises(ValueError, match="checkpoint_every must be an int >= 1"):
        make_league(checkpoint_every=0)
    with pytest.raises(ValueError, match="main_agents must be an int >= 1"):
        make_league(main_agents=0)
    with pytest.raises(ValueError, match="main_mix must be one of"):
        make_league(main_mix="paper")
    with pytest.raises(ValueError, match="exploiter_reset must be 'initial' or 'branch'"):
        make_league(exploiter_reset="copy")
    with pytest.raises(ValueError, match=r"reset_win_rate must be in \(0, 1\]"):
        make_league(reset_win_rate=1.5)
    with pytest.raises(ValueError, match="reset_after must be an int >= 1 or None"):
        make_league(reset_after=0)
    with pytest.raises(ValueError, match="power must be >= 0"):
        make_league(power=-2)
    with pytest.raises(ValueError, match=r"min_prob must be in \[0, 1\)"):
        make_league(min_prob=1.0)
    with pytest.raises(TypeError, match="make_optimizer must return a torch.optim.Optimizer"):
        League(nn.Linear(1, 1), lambda m: "adam", checkpoint_every=1)
    league = make_league()
    with pytest.raises(KeyError, match=r"'main_7' is not a player of this league; players: \['main_0'"):
        league.next_match("main_7")
    other = make_league()
    with pytest.raises(KeyError, match="is not a player of this league"):
        league.next_match(other["main_0"])  # same name, another league's player
    with pytest.raises(KeyError, match="unknown opponent 'main_0@99'"):
        league.report("main_0", "main_0@99", "win")
    with pytest.raises(TypeError, match="opponent must be an Opponent, LeaguePlayer, Snapshot or name"):
        league.report("main_0", 3, "win")
    with pytest.raises(ValueError, match="mode must be 'initial', 'branch' or None"):
        league.reset_player("main_exploiter_0", "scratch")
    with pytest.raises(ValueError, match="role must be one of"):
        league.role("coach")
