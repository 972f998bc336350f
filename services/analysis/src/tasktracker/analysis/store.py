"""The service's outbox: events staged in the state change's transaction."""

from __future__ import annotations

from tasktracker.analysis.db.models import outbox
from tasktracker.servicekit.outbox import Outbox

OUTBOX = Outbox(outbox, producer="analysis")
