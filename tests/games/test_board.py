"""The native batched board games against OpenSpiel and the pure-Python search model, move for move;
hand-written positions; the base class's errors; partial resets; exact resume; devices and dtypes."""

from __future__ import annotations

import pyspiel
import pytest
import torch

from rl4py.games import ConnectFour, TicTacToe
from rl4py.planning import TicTacToeGame
from rl4py.testing import shift_seed

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
#: OpenSpiel's game name and, per player, which of its observation planes are ours (own, opponent's, empty)
OPENSPIEL = {
    TicTacToe: ("tic_tac_toe", {0: [2, 1, 0], 1: [1, 2, 0]}),  # its planes: empty, O (player 1), X (player 0)
    ConnectFour: ("connect_four", {0: [0, 1, 2], 1: [1, 0, 2]}),  # its planes: X (player 0), O, empty
}
#: a full Connect Four board without four in a row (found by random play, checked by OpenSpiel below)
C4_DRAW = [3, 6, 1, 3, 1, 3, 6, 4, 5, 5, 3, 4, 3, 1, 1, 0, 4, 3, 0, 4, 6, 6, 2, 6, 1, 0, 5, 5, 2, 4, 5, 1]
C4_DRAW += [5, 6, 0, 0, 2, 2, 4, 2, 2, 0]


def random_legal(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random legal action per row of ``mask`` ``[B, A]`` (0 where none is legal)."""
    noise = torch.rand(mask.shape, generator=generator)
    return noise.to(mask.device).masked_fill(~mask, -1.0).argmax(-1)


def play(game, actions: list[int]):
    """Plays ``actions`` in game 0 of ``game`` (one game) from a fresh reset; returns the last observe()."""
    td = game.reset()
    for a in actions:
        td = game.step(torch.tensor([a], device=game.device))
    return td


@pytest.mark.parametrize("cls", [TicTacToe, ConnectFour])
def test_random_play_matches_openspiel_move_for_move(cls):
    name, planes = OPENSPIEL[cls]
    spiel = pyspiel.load_game(name)
    num = 200
    game = cls(num_games=num)
    td = game.reset(seed=0)
    states = [spiel.new_initial_state() for _ in range(num)]
    generator = torch.Generator().manual_seed(shift_seed(0))
    steps = 0
    while True:
        for i, state in enumerate(states):
            assert bool(td["terminal"][i]) == state.is_terminal()
            if state.is_terminal():
                assert td["returns"][i].tolist() == state.returns()
                assert int(td["current_player"][i]) == -1 and not bool(td["action_mask"][i].any())
            else:
                player = state.current_player()
                assert int(td["current_player"][i]) == player
                assert td["action_mask"][i].tolist() == [bool(m) for m in state.legal_actions_mask()]
                assert td["returns"][i].tolist() == [0.0, 0.0]
                theirs = torch.tensor(state.observation_tensor(player)).view(3, -1)[planes[player]].flatten()
                assert torch.equal(td["observation"][i], theirs)
        if all(s.is_terminal() for s in states):
            break
        action = random_legal(td["action_mask"], generator)
        for i, state in enumerate(states):
            if not state.is_terminal():
                state.apply_action(int(action[i]))
        td = game.step(action)
        steps += 1
    outcomes = {tuple(s.returns()) for s in states}
    # both players won some games (and tic-tac-toe drew some): the comparison covered every ending
    assert {(1.0, -1.0), (-1.0, 1.0)} <= outcomes
    if cls is TicTacToe:
        assert (0.0, 0.0) in outcomes
    assert steps == max(len(s.history()) for s in states)


def test_random_play_matches_the_search_model():
    model = TicTacToeGame()
    num = 300
    game = TicTacToe(num_games=num)
    td = game.reset()
    states = [model.initial_state()] * num
    generator = torch.Generator().manual_seed(shift_seed(1))
    while True:
        for i, state in enumerate(states):
            assert bool(td["terminal"][i]) == model.is_terminal(state)
            assert game.board[i].tolist() == list(state.board)
            if model.is_terminal(state):
                assert tuple(td["returns"][i].tolist()) == model.returns(state)
            else:
                assert int(td["current_player"][i]) == model.current_player(state)
                assert td["action_mask"][i].nonzero().flatten().tolist() == model.legal_actions(state)
        if bool(td["terminal"].all()):
            break
        action = random_legal(td["action_mask"], generator)
        states = [s if model.is_terminal(s) else model.apply(s, int(a)) for s, a in zip(states, action)]
        td = game.step(action)
    assert {model.returns(s) for s in states} == {(1.0, -1.0), (-1.0, 1.0), (0.0, 0.0)}


TTT_LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


@pytest.mark.parametrize("line", TTT_LINES)
@pytest.mark.parametrize("winner", [0, 1])
def test_tictactoe_every_line_wins(line, winner):
    # the other player's moves go to cells off the line that make no line of their own
    others = [c for c in range(9) if c not in line]
    filler = next(
        (a, b, c)
        for a in others
        for b in others
        for c in others
        if len({a, b, c}) == 3 and not any(set(x) <= {a, b, c} for x in TTT_LINES)
    )
    if winner == 0:
        moves = [line[0], filler[0], line[1], filler[1], line[2]]
    else:
        moves = [filler[0], line[0], filler[1], line[1], filler[2], line[2]]
    game = TicTacToe(num_games=1)
    before = play(game, moves[:-1])
    assert not bool(before["terminal"][0])
    td = game.step(torch.tensor([moves[-1]]))
    assert bool(td["terminal"][0]) and int(td["current_player"][0]) == -1
    assert td["returns"][0].tolist() == ([1.0, -1.0] if winner == 0 else [-1.0, 1.0])
    assert not bool(td["action_mask"].any())


def test_tictactoe_full_board_draw_and_a_win_on_the_last_move():
    game = TicTacToe(num_games=1)
    td = play(game, [0, 1, 2, 4, 3, 5, 7, 6, 8])  # XOX / XOO / OXX
    assert game.to_string() == "XOX\nXOO\nOXX"
    assert bool(td["terminal"][0]) and td["returns"][0].tolist() == [0.0, 0.0]
    td = play(game, [0, 1, 2, 4, 3, 5, 7, 8, 6])  # X's ninth piece completes the left column
    assert bool(td["terminal"][0]) and td["returns"][0].tolist() == [1.0, -1.0]


def test_observation_is_from_the_point_of_view_of_the_player_to_move():
    game = TicTacToe(num_games=1)
    td = play(game, [4])  # X in the centre, O to move
    planes = td["observation"][0].view(3, 9)
    assert planes[0].sum() == 0 and planes[1].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert planes[2].sum() == 8
    assert game.observation(torch.tensor([0]))[0].view(3, 9)[0, 4] == 1  # X sees its own piece
    td = game.step(torch.tensor([0]))  # O in the corner, X to move: X's centre is "own"
    planes = td["observation"][0].view(3, 9)
    assert planes[0].nonzero().flatten().tolist() == [4] and planes[1].nonzero().flatten().tolist() == [0]


@pytest.mark.parametrize(
    ("moves", "winner"),
    [
        ([0, 0, 1, 1, 2, 2, 3], 0),  # bottom row 0..3
        ([6, 5, 6, 5, 6, 5, 0, 5], 1),  # O stacks column 5
        ([0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3], 0),  # X: (0,0) (1,1) (2,2) (3,3)
        ([6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3], 0),  # X: (0,6) (1,5) (2,4) (3,3)
        ([0, 6, 1, 5, 0, 4, 1, 3], 1),  # O: bottom row 3..6
    ],
)
def test_connect_four_lines_win(moves, winner):
    game = ConnectFour(num_games=1)
    before = play(game, moves[:-1])
    assert not bool(before["terminal"][0])
    td = game.step(torch.tensor([moves[-1]]))
    assert bool(td["terminal"][0])
    assert td["returns"][0].tolist() == ([1.0, -1.0] if winner == 0 else [-1.0, 1.0])
    state = pyspiel.load_game("connect_four").new_initial_state()
    for a in moves:
        state.apply_action(a)
    assert state.is_terminal() and td["returns"][0].tolist() == state.returns()


def test_connect_four_gravity_and_a_full_column():
    game = ConnectFour(num_games=1)
    td = play(game, [3, 3, 3, 3, 3])
    assert game.to_string().splitlines() == [".......", "...X...", "...O...", "...X...", "...O...", "...X..."]
    assert game.heights()[0].tolist() == [0, 0, 0, 5, 0, 0, 0]
    own = td["observation"][0].view(3, 6, 7)[0]  # O to move: its pieces are rows 1 and 3 of column 3
    assert own.nonzero().tolist() == [[1, 3], [3, 3]]
    td = game.step(torch.tensor([3]))
    assert td["action_mask"][0].tolist() == [True, True, True, False, True, True, True]
    with pytest.raises(ValueError, match=r"action 3 is illegal in game 0 .*expected one of \[0, 1, 2, 4, 5, 6\]"):
        game.step(torch.tensor([3]))


def test_connect_four_full_board_draw():
    game = ConnectFour(num_games=1)
    state = pyspiel.load_game("connect_four").new_initial_state()
    for i, a in enumerate(C4_DRAW):
        td = game.step(torch.tensor([a])) if i else play(game, [a])
        state.apply_action(a)
        assert bool(td["terminal"][0]) == (i == len(C4_DRAW) - 1)
    assert state.returns() == [0.0, 0.0] and td["returns"][0].tolist() == [0.0, 0.0]
    assert "." not in game.to_string() and not bool(td["action_mask"].any())


@pytest.mark.parametrize("cls", [TicTacToe, ConnectFour])
def test_base_class_errors(cls):
    game = cls(num_games=3)
    game.reset()
    a = game.num_actions
    with pytest.raises(ValueError, match=r"'action' must be a \[3\] int64 tensor, got \(3, 1\) torch.int64"):
        game.step(torch.zeros(3, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"'action' must be a \[3\] int64 tensor, got \(3,\) torch.int32"):
        game.step(torch.zeros(3, dtype=torch.int32))
    with pytest.raises(ValueError, match=rf"action {a} is illegal in game 0"):
        game.step(torch.tensor([a, 0, 0]))
    with pytest.raises(ValueError, match=r"action -1 is illegal in game 1"):
        game.step(torch.tensor([0, -1, 0]))
    with pytest.raises(ValueError, match=r"'where' must be a \[3\] bool tensor"):
        game.step(torch.zeros(3, dtype=torch.int64), where=torch.ones(3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"reset_games: 'where' must be a \[3\] bool tensor, got \(2,\)"):
        game.reset_games(torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="num_games must be a positive int"):
        cls(num_games=0)
    # the errors left the games untouched
    assert not bool(game.board.any())


def test_illegal_move_and_a_finished_game():
    game = TicTacToe(num_games=2)
    play_two = [[0, 0], [3, 1], [1, 2], [4, 3], [2, 4]]  # game 0: X takes the top row; game 1 runs on
    game.reset()
    for cells in play_two:
        td = game.step(torch.tensor(cells))
    assert td["terminal"].tolist() == [True, False]
    with pytest.raises(ValueError, match=r"action 0 is illegal in game 1 \(player 1 to move\)"):
        game.step(torch.tensor([5, 0]))
    with pytest.raises(ValueError, match="game 0 is over; reset it with reset_games"):
        game.step(torch.tensor([5, 5]), where=torch.tensor([True, True]))
    # where=None steps only the running games: game 0's action is ignored, whatever it is
    td = game.step(torch.tensor([0, 5]))
    assert game.to_string(0) == "XXX\nOO.\n..." and td["terminal"].tolist() == [True, False]
    assert game.board[1].tolist() == [1, 2, 1, 2, 1, 2, 0, 0, 0]
    with pytest.raises(IndexError, match="game 2 out of range"):
        game.to_string(2)


def test_validate_false_skips_the_checks_but_still_ignores_unselected_games():
    game = ConnectFour(num_games=2, validate=False)
    game.reset()
    for _ in range(6):
        game.step(torch.tensor([0, 1]))
    assert game.heights().tolist() == [[6, 0, 0, 0, 0, 0, 0], [0, 6, 0, 0, 0, 0, 0]]
    # game 0's column 0 is full and game 1 is not selected: nothing changes there, game 0's move lands
    board = game.board.clone()
    game.step(torch.tensor([2, 1]), where=torch.tensor([True, False]))
    assert torch.equal(game.board[1], board[1]) and game.heights()[0].tolist() == [6, 0, 1, 0, 0, 0, 0]
    game.step(torch.tensor([0, 99]), where=torch.tensor([False, False]))
    assert game.heights()[0].tolist() == [6, 0, 1, 0, 0, 0, 0]


def test_reset_games_on_a_subset():
    game = ConnectFour(num_games=4)
    game.reset()
    game.step(torch.tensor([0, 1, 2, 3]))
    game.step(torch.tensor([0, 1, 2, 3]))
    where = torch.tensor([True, False, True, False])
    game.reset_games(where)
    td = game.observe()
    assert game.heights().sum(1).tolist() == [0, 2, 0, 2]
    assert td["current_player"].tolist() == [0, 0, 0, 0]
    td = game.step(torch.tensor([6, 6, 6, 6]))
    assert game.heights()[:, 6].tolist() == [1, 1, 1, 1]
    planes = td["observation"][1].view(3, 6, 7)  # O to move in game 1: its 1 piece, X's 2
    assert planes[0].sum() == 1 and planes[1].sum() == 2
    # a finished game is reset with the others untouched
    game = TicTacToe(num_games=2)
    td = play_pairs(game, [[0, 4], [3, 0], [1, 8], [4, 2], [2, 6]])
    assert td["terminal"].tolist() == [True, False]
    game.reset_games(td["terminal"])
    td = game.observe()
    assert td["terminal"].tolist() == [False, False] and td["returns"].abs().sum() == 0
    assert game.board[0].abs().sum() == 0 and game.board[1].tolist() == [2, 0, 2, 0, 1, 0, 1, 0, 1]


def play_pairs(game, moves):
    game.reset()
    for cells in moves:
        td = game.step(torch.tensor(cells, device=game.device))
    return td


@pytest.mark.parametrize("cls", [TicTacToe, ConnectFour])
def test_state_dict_resumes_exactly(cls):
    generator = torch.Generator().manual_seed(shift_seed(2))
    game = cls(num_games=64)
    td = game.reset(seed=3)
    for _ in range(4):
        td = game.step(random_legal(td["action_mask"], generator))
    state = game.state_dict()
    saved_board = state["board"].clone()
    tail_generator = torch.Generator().manual_seed(shift_seed(3))
    tail = []
    for _ in range(40):
        running = ~td["terminal"]
        action = random_legal(td["action_mask"], tail_generator)
        td = game.step(action)
        tail.append((action, td))
        game.reset_games(td["terminal"] & ~running)  # restart games finished a step ago
    assert torch.equal(state["board"], saved_board)  # the state dict holds copies
    again = cls(num_games=64)
    again.load_state_dict(state)
    assert torch.equal(again.rng.generator.get_state(), state["rng"]["state"])
    td = again.observe()
    for action, expected in tail:
        running = ~td["terminal"]
        td = again.step(action)
        assert (td == expected).all()
        again.reset_games(td["terminal"] & ~running)
    with pytest.raises(ValueError, match=r"'board' must be a \(64, \d+\) torch.int8 tensor \(num_games=64\), got \(8,"):
        cls(num_games=64).load_state_dict({**state, "board": state["board"][:8]})
    with pytest.raises(ValueError, match=r"'moves' must be a \(8,\) torch.int64 tensor \(num_games=8\)"):
        cls(num_games=8).load_state_dict({**state, "board": torch.zeros(8, game.num_cells, dtype=torch.int8)})


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("cls", "obs", "actions"), [(TicTacToe, 27, 9), (ConnectFour, 126, 7)])
def test_outputs_devices_dtypes_and_shapes(cls, obs, actions, device):
    game = cls(num_games=5, device=device)
    td = game.reset()
    td = game.step(torch.zeros(5, dtype=torch.int64, device=device))
    expected = {
        "observation": ((5, obs), torch.float32),
        "action_mask": ((5, actions), torch.bool),
        "current_player": ((5,), torch.int64),
        "terminal": ((5,), torch.bool),
        "returns": ((5, 2), torch.float32),
    }
    for key, (shape, dtype) in expected.items():
        assert td[key].shape == shape and td[key].dtype == dtype and td[key].device.type == device, key
    assert td["current_player"].tolist() == [1] * 5 and td["observation"].sum(-1).tolist() == [obs / 3] * 5
    assert game.observation_shape == (obs,) and game.num_actions == actions
    assert repr(game) == f"{cls.__name__}(num_games=5, rows={game.rows}, columns={game.columns}, " + (
        f"connect={game.connect}, device={device})"
    )
