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


def per_call_us(func: Callable[[], object], *, repeat: int = 5, number: int = 200) -> float:
    """Median over `repeat` runs of the mean time of one call, in microseconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        runs.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(runs)


def print_section(title: str, figures: list[Figure]) -> None:
    print(f"\n== {title}")
    width = max(len(f.name) for f in figures)
    for f in figures:
        value = f"{f.value:,.0f}" if abs(f.value) >= 100 else f"{f.value:,.2f}"
        note = f"  ({f.note})" if f.note else ""
        print(f"  {f.name:<{width}}  {value:>12} {f.unit}{note}")
