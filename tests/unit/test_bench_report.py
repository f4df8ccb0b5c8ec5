"""`make bench` prints each figure next to its goal: met / NOT met; figures without one as before."""

from __future__ import annotations

import pytest

from bench.report import Figure, print_goals, print_section


def test_a_figure_with_a_goal_shows_it_and_the_verdict(capsys: pytest.CaptureFixture[str]) -> None:
    print_section(
        "S",
        [
            Figure("cold import", 1.2, "x", "120 ms", goal="<= 1.5x", met=True),
            Figure("throughput", 1.3, "x", goal=">= 3x ceiling", met=False),
            Figure("plain", 12345, "orders/h", "no goal"),
            Figure("goal, not judged", 2, "req", goal="<= 1"),
        ],
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "" and lines[1] == "== S"
    assert lines[2].split() == ["cold", "import", "1.20", "x", "[goal", "<=", "1.5x:", "met]", "(120", "ms)"]
    assert "[goal >= 3x ceiling: NOT met]" in lines[3]
    assert lines[4].split() == ["plain", "12,345", "orders/h", "(no", "goal)"] and "[" not in lines[4]
    assert "[goal <= 1: not judged]" in lines[5]


def test_the_summary_lists_what_is_not_met(capsys: pytest.CaptureFixture[str]) -> None:
    missed = print_goals(
        [
            ("A", [Figure("a", 1, "x", goal="<= 2", met=True), Figure("b", 1, "x")]),
            ("B", [Figure("c", 5, "x", goal="<= 2", met=False)]),
        ]
    )
    out = capsys.readouterr().out
    assert missed == 1
    assert "== Goals: 1 met, 1 NOT met" in out and "NOT met: B: c (goal <= 2: NOT met)" in out
