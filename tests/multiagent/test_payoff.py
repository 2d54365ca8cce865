"""PayoffTable: counts from both sides, draws count half, unseen pairs, decay, checkpoints, errors."""

from __future__ import annotations

import pytest
import torch

from rl4py.multiagent import PayoffTable


def test_counts_are_mirrored_and_draws_count_half():
    table = PayoffTable(["a", "b", "c"])
    table.update("a", "b", wins=6, draws=3, losses=1)
    assert table.counts("a", "b") == (6.0, 3.0, 1.0)
    assert table.counts("b", "a") == (1.0, 3.0, 6.0)
    assert table.games("a", "b") == table.games("b", "a") == 10
    assert table.win_rate("a", "b") == pytest.approx((6 + 1.5) / 10)
    assert table.win_rate("b", "a") == pytest.approx((1 + 1.5) / 10)
    # only draws: exactly even
    table.update("a", "c", draws=4)
    assert table.win_rate("a", "c") == 0.5 == table.win_rate("c", "a")
    assert torch.equal(table.win_rates("a", ["b", "c"]), torch.tensor([0.75, 0.5], dtype=torch.float64))


def test_unseen_pairs_report_the_prior_and_are_flagged():
    table = PayoffTable(["a", "b"], prior=0.5)
    assert table.win_rate("a", "b") == 0.5 and not table.seen("a", "b") and table.games("a", "b") == 0
    table.record("a", "b", "loss")
    assert table.seen("a", "b") and table.seen("b", "a") and table.win_rate("a", "b") == 0.0
    assert PayoffTable(["x", "y"], prior=0.3).win_rate("x", "y") == 0.3


def test_record_reads_names_and_signs_of_returns():
    table = PayoffTable(["a", "b"])
    table.record("a", "b", "win")
    table.record("a", "b", "draw")
    table.record("a", "b", -2.0)  # a poker loss of two chips
    table.record("a", "b", torch.tensor([[1.0, 0.0], [3.0, -1.0]]))
    assert table.counts("a", "b") == (3.0, 2.0, 2.0)
    table.record("b", "a", torch.tensor([1, 1]))  # integer returns, b's side
    assert table.counts("a", "b") == (3.0, 2.0, 4.0)


def test_decay_fades_old_games_per_game():
    table = PayoffTable(["a", "b"], decay=0.5)
    table.update("a", "b", wins=1)
    table.update("a", "b", losses=1)  # the win is halved before the loss is added
    assert table.counts("a", "b") == (0.5, 0.0, 1.0)
    assert table.win_rate("a", "b") == pytest.approx(0.5 / 1.5)
    table.update("a", "b", draws=2)  # two games: old totals times 0.5 ** 2
    assert table.counts("a", "b") == (0.125, 2.0, 0.25)
    assert table.counts("b", "a") == (0.25, 2.0, 0.125)
    # decay touches only the pair that played
    table.add_player("c")
    table.update("a", "c", wins=1)
    table.update("a", "c", wins=1)
    assert table.counts("a", "b") == (0.125, 2.0, 0.25)
    assert table.counts("a", "c") == (1.5, 0.0, 0.0)


def test_forget_and_remove_player():
    table = PayoffTable(["a", "b", "c"])
    table.update("a", "b", wins=1)
    table.update("b", "c", wins=1)
    table.forget("a")
    assert not table.seen("a", "b") and table.seen("b", "c") and "a" in table
    table.remove_player("c")
    assert "c" not in table and table.players == ["a", "b"]
    with pytest.raises(KeyError, match="unknown player 'c'"):
        table.win_rate("b", "c")


def test_self_results_are_stored_once():
    table = PayoffTable(["a"])
    table.update("a", "a", wins=3, losses=1)
    assert table.counts("a", "a") == (3.0, 0.0, 1.0) and table.win_rate("a", "a") == 0.75


def test_state_dict_round_trip():
    table = PayoffTable(["a", "b", 7], decay=0.9)
    table.update("a", "b", wins=2, draws=1)
    table.update("a", 7, losses=3)
    restored = PayoffTable(decay=0.9)
    restored.load_state_dict(table.state_dict())
    assert restored.players == ["a", "b", 7]
    for x, y in [("a", "b"), ("b", "a"), ("a", 7), (7, "a"), ("b", 7)]:
        assert restored.counts(x, y) == table.counts(x, y)
    table.update("a", "b", wins=1)
    restored.update("a", "b", wins=1)
    assert restored.counts("a", "b") == table.counts("a", "b")
    with pytest.raises(ValueError, match="saved with decay=0.9"):
        PayoffTable().load_state_dict(table.state_dict())


def test_errors_name_what_was_wrong():
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\]"):
        PayoffTable(decay=0.0)
    with pytest.raises(ValueError, match=r"prior must be a win rate in \[0, 1\]"):
        PayoffTable(prior=1.5)
    table = PayoffTable(["a", "b"])
    with pytest.raises(ValueError, match="already registered"):
        table.add_player("a")
    with pytest.raises(KeyError, match=r"unknown player 'z'; registered: \['a', 'b'\]"):
        table.update("a", "z", wins=1)
    with pytest.raises(ValueError, match="wins must be a finite count >= 0, got -1"):
        table.update("a", "b", wins=-1)
    with pytest.raises(ValueError, match="losses must be a finite count >= 0, got nan"):
        table.update("a", "b", losses=float("nan"))
    with pytest.raises(TypeError, match="draws must be a number of games"):
        table.update("a", "b", draws="2")
    with pytest.raises(ValueError, match="outcome must be one of"):
        table.record("a", "b", "won")
    with pytest.raises(ValueError, match="returns hold NaN or inf"):
        table.record("a", "b", torch.tensor([1.0, float("inf")]))
    with pytest.raises(TypeError, match="outcome must be"):
        table.record("a", "b", [1, -1])
    assert table.games("a", "b") == 0  # nothing half-recorded by the refused calls
