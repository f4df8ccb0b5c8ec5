"""Small helpers every bench section shares: timing and a printed table."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    note: str = ""
    goal: str = ""
    """The bar this figure is held to (empty: informative only)."""
    met: bool | None = None
    """Whether the goal is met (None: no goal)."""


def per_call_us(func: Callable[[], object], *, repeat: int = 5, number: int = 200) -> float:
    """Median over `repeat` runs of the mean time of one call, in microseconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def verdict(f: Figure) -> str:
    """`goal <= 1.5x: met` / `NOT met` beside a figure held to a goal; empty for the others."""
    if not f.goal and f.met is None:
        return ""
    judged = "not judged" if f.met is None else "met" if f.met else "NOT met"
    return f"goal {f.goal}: {judged}" if f.goal else judged


def print_section(title: str, figures: list[Figure]) -> None:
    """One line per figure: name, value and unit, then `[goal ...: met | NOT met]` when the
    figure has a goal, then its note. Figures without a goal print as before."""
    print(f"\n== {title}")
    if not figures:
        print("  (no figures)")
        return
    width = max(len(f.name) for f in figures)
    unit_width = max(len(f.unit) for f in figures)
    for f in figures:
        value = f"{f.value:,.0f}" if abs(f.value) >= 100 else f"{f.value:,.2f}"
        judged = verdict(f)
        line = f"  {f.name:<{width}}  {value:>12} {f.unit:<{unit_width}}"
        line += f"  [{judged}]" if judged else ""
        line += f"  ({f.note})" if f.note else ""
        print(line.rstrip())


def print_goals(sections: list[tuple[str, list[Figure]]]) -> int:
    """The figures held to a goal, met or not, across sections; returns how many are NOT met."""
    judged = [(title, f) for title, figures in sections for f in figures if f.met is not None]
    missed = [(title, f) for title, f in judged if not f.met]
    print(f"\n== Goals: {len(judged) - len(missed)} met, {len(missed)} NOT met")
    for title, f in missed:
        print(f"  NOT met: {title}: {f.name} ({verdict(f)})")
    return len(missed)
