"""The ingestion service's TaskIQ broker and jobs (run with `tasktracker-ingestion worker`)."""

from __future__ import annotations

from tasktracker.ingestion.settings import IngestionSettings
from tasktracker.servicekit.jobs import JobBroker, make_job_broker


def build_broker(settings: IngestionSettings) -> JobBroker:
    return make_job_broker(settings)


broker = build_broker(IngestionSettings())
