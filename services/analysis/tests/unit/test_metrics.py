"""Accuracy figures of a closed run."""

from __future__ import annotations

import pytest

from tasktracker.analysis.domain.metrics import Decided, run_metrics
from tasktracker.contracts.states import ProposalStatus as P


def test_rates_means_and_per_batch() -> None:
    metrics = run_metrics(
        [
            Decided(P.approved, 0.9, edited=True),
            Decided(P.approved, 0.7),
            Decided(P.rejected, 0.4),
            Decided(P.merged, 0.6),
        ],
        batches=2,
    )
    assert (metrics.total, metrics.approved, metrics.rejected, metrics.merged) == (4, 2, 1, 1)
    assert (metrics.approval_rate, metrics.rejection_rate, metrics.merge_rate) == (0.5, 0.25, 0.25)
    assert metrics.edited_before_approval == 1
    assert metrics.edited_before_approval_rate == 0.5
    assert metrics.mean_confidence_approved == pytest.approx(0.8)
    assert metrics.mean_confidence_rejected == pytest.approx(0.4)
    assert metrics.proposals_per_batch == 2.0


def test_a_run_that_proposed_nothing() -> None:
    metrics = run_metrics([], batches=0)
    assert metrics.total == 0 and metrics.approval_rate == 0.0
    assert metrics.mean_confidence_approved is None and metrics.proposals_per_batch == 0.0
