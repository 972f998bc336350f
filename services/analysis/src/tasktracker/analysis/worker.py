"""The analysis service's TaskIQ broker and jobs (run with `tasktracker-analysis worker`)."""

from __future__ import annotations

from tasktracker.analysis.settings import AnalysisSettings
from tasktracker.servicekit.jobs import JobBroker, make_job_broker


def build_broker(settings: AnalysisSettings) -> JobBroker:
    return make_job_broker(settings)


broker = build_broker(AnalysisSettings())
