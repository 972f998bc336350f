"""Figures and their goals (issue 16), printed as one table by `make bench`.

A benchmark never fails by timing: a figure under its goal is printed as MISSED, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    benchmark: str
    name: str
    value: float | None  # None: not measured (the run could not produce it)
    unit: str
    goal: str  # e.g. "≥ 0.5", "≤ 100", "= 0", "" (no goal: indicative)
    detail: str = ""

    def met(self) -> bool | None:
        if not self.goal or self.value is None:
            return None
        op, _, bound = self.goal.partition(" ")
        limit = float(bound.replace(",", ""))
        return {
            "≥": self.value >= limit,
            "≤": self.value <= limit,
            "=": self.value == limit,
        }[op]

    def verdict(self) -> str:
        met = self.met()
        if met is None:
            return "not measured" if self.goal and self.value is None else ""
        return f"met goal {self.goal}" if met else f"MISSED goal {self.goal}"

    def shown(self) -> str:
        if self.value is None:
            return "—"
        if abs(self.value) >= 100 or self.value == int(self.value):
            return f"{self.value:,.0f} {self.unit}".strip()
        return f"{self.value:.2f} {self.unit}".strip()

    def line(self) -> str:
        extra = f"  ({self.detail})" if self.detail else ""
        return f"{self.benchmark:<11} {self.name:<44} {self.shown():>16}  {self.verdict()}{extra}"


def print_figures(figures: list[Figure]) -> None:
    for figure in figures:
        print(figure.line(), flush=True)


def print_table(figures: list[Figure]) -> None:
    print()
    print(f"{'benchmark':<11} {'figure':<44} {'today':>16}  goal")
    print("-" * 100)
    print_figures(figures)
    missed = sum(1 for figure in figures if figure.met() is False)
    print("-" * 100)
    print(f"{len(figures)} figures, {missed} under their goal", flush=True)
