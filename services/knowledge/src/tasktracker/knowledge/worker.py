"""The knowledge service's TaskIQ broker and jobs (run with `tasktracker-knowledge worker`)."""

from __future__ import annotations

from tasktracker.knowledge.settings import KnowledgeSettings
from tasktracker.servicekit.jobs import JobBroker, make_job_broker


def build_broker(settings: KnowledgeSettings) -> JobBroker:
    return make_job_broker(settings)


broker = build_broker(KnowledgeSettings())
