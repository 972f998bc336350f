"""Accuracy figures of a closed run, from its proposals' decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import fmean

from tasktracker.contracts.events import RunMetrics
from tasktracker.contracts.states import ProposalStatus


@dataclass(frozen=True)
class Decided:
    """One proposal as the metrics see it."""

    status: ProposalStatus
    confidence: float
    edited: bool = False


def run_metrics(proposals: Iterable[Decided], batches: int) -> RunMetrics:
    items = list(proposals)
    total = len(items)

    def having(status: ProposalStatus) -> list[Decided]:
        return [p for p in items if p.status is status]

    approved = having(ProposalStatus.approved)
    rejected = having(ProposalStatus.rejected)
    merged = having(ProposalStatus.merged)
    edited = [p for p in approved if p.edited]

    def rate(part: list[Decided]) -> float:
        return len(part) / total if total else 0.0

    def mean(part: list[Decided]) -> float | None:
        return round(fmean(p.confidence for p in part), 6) if part else None

    return RunMetrics(
        total=total,
        approved=len(approved),
        rejected=len(rejected),
        merged=len(merged),
        edited_before_approval=len(edited),
        approval_rate=rate(approved),
        rejection_rate=rate(rejected),
        merge_rate=rate(merged),
        # the share of approved proposals the PM edited first
        edited_before_approval_rate=len(edited) / len(approved) if approved else 0.0,
        mean_confidence_approved=mean(approved),
        mean_confidence_rejected=mean(rejected),
        batches=batches,
        proposals_per_batch=total / batches if batches else 0.0,
    )
