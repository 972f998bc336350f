"""What `make demo` prints: one line per WebSocket event (a progress bar on the run's progress
events) and the summary at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BAR_WIDTH = 24


def progress_bar(done: int, total: int) -> str:
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} batches"


def event_line(seq: int, event: dict[str, Any]) -> str:
    return (
        f"{seq:>8}  {event['topic']:<20} {event['type']:<22} {_what(event['type'], event['data'])}"
    )


def _what(kind: str, data: dict[str, Any]) -> str:
    match kind:
        case "message.updated":
            message = data["message"]
            return f"{message['author']['display_name']}: {message['text'][:60]}"
        case "extraction_started":
            return f"{data['message_count']} messages"
        case "proposals_created" if "extraction_id" in data:
            return f"{len(data['topics'])} topics, {len(data['atoms'])} atoms proposed"
        case "proposals_created":
            titles = "; ".join(p["title"][:40] for p in data["proposals"][:2])
            return f"batch {data['batch_index']}: {len(data['proposals'])} proposed  {titles}"
        case "extraction_completed":
            return f"{data['topic_proposals']} topic and {data['atom_proposals']} atom proposals"
        case "topic_created":
            return data["name"]
        case "atom_created":
            return f"{data['kind']}: {data['title'][:60]}"
        case "run_started":
            return f"{data['total_messages']} messages in {data['total_batches']} batches"
        case "progress_updated":
            bar = progress_bar(data["batches_done"], data["batches_total"])
            return f"{bar} · {data['proposals_total']} proposals"
        case "run_completed" | "run_reviewed":
            return f"{data['proposals_total']} proposals"
        case "approved" | "rejected" | "merged":
            left = data["counters"]["pending"]
            return (
                f"{data['proposal_id']}"
                + (f" → task {data['task_id']}" if data.get("task_id") else "")
                + f" ({left} pending)"
            )
        case "task_created":
            return f"task {data['task']['id']}: {data['task']['title'][:60]}"
        case "task_updated":
            return f"task {data['task_id']}: {', '.join(data['changes'])}"
        case "run_closed":
            m = data["metrics"]
            return f"approval rate {m['approval_rate']:.0%}, merge rate {m['merge_rate']:.0%}"
        case _:
            return ""


@dataclass
class Summary:
    messages: int = 0
    topics: int = 0
    atoms: int = 0
    proposals: int = 0
    decisions: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    seconds: float = 0.0

    def lines(self, project_id: int, run_id: str) -> list[str]:
        m = self.metrics
        confidence = " / ".join(
            f"{m.get(key):.2f}" if m.get(key) is not None else "-"
            for key in ("mean_confidence_approved", "mean_confidence_rejected")
        )
        return [
            "",
            f"Summary of the demo (project {project_id}, run {run_id})",
            f"  messages      {self.messages}",
            f"  knowledge     {self.topics} topics, {self.atoms} atoms approved",
            f"  proposals     {self.proposals} task proposals",
            "  decisions     "
            + ", ".join(
                f"{self.decisions.get(k, 0)} {k}" for k in ("approved", "rejected", "merged")
            ),
            f"  run metrics   total {m.get('total')}, approval {m.get('approval_rate', 0):.0%}, "
            f"rejection {m.get('rejection_rate', 0):.0%}, merge {m.get('merge_rate', 0):.0%}, "
            f"{m.get('batches')} batches, {m.get('proposals_per_batch', 0):.2f} proposals/batch",
            f"  confidence    mean approved / rejected: {confidence}",
            f"  events        {self.events} seen on the socket",
            f"  wall time     {self.seconds:.1f} s",
        ]
