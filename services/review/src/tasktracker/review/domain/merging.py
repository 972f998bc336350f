"""What merging a proposal into an existing task does to the task.

The task gains the proposal's source messages (each once, the task's own first, then the
proposal's in their order) and a link to the proposal (the proposal row's `task_id`). The task
must belong to the proposal's project; another project's task is reported as missing (404),
exactly like one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Sequence


def merged_sources(task_sources: Sequence[int], proposal_sources: Sequence[int]) -> list[int]:
    return list(dict.fromkeys([*task_sources, *proposal_sources]))


def same_project(task_project_id: int, proposal_project_id: int) -> bool:
    return task_project_id == proposal_project_id
