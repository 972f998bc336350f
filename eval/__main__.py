"""`make eval`: score the configured extractors and the naive baseline on every labelled chat
in `eval/chats/`, print one table and write the same figures as JSON.

Offline by default (each service's rules, no network). `TT_LLM_MODEL=openai:gpt-4o-mini make
eval` scores a real model through the same agents (`TT_LLM_BASE_URL` / `TT_LLM_API_KEY` for an
OpenAI-compatible server); `TT_EVAL_OUTPUT` sets where the JSON goes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from eval.chat import LabelledChat, all_chats
from eval.extractors import ModelChoice, Output, run_baseline, run_extractor
from eval.scoring import GroupScore, TaskScore, score_atoms, score_tasks, score_topics

DEFAULT_OUTPUT = Path(".data/eval/result.json")


def scores(chat: LabelledChat, output: Output) -> dict[str, Any]:
    tasks = score_tasks(output.proposals, chat.labels.tasks, chat.labels.cancelled)
    topics = score_topics(output.topics, chat.labels.topics)
    atoms = score_atoms(output.atoms, chat.labels.atoms)
    return {
        "tasks": _task_figures(tasks),
        "topics": _group_figures(topics),
        "atoms": {**_group_figures(atoms), "kind_accuracy": round(atoms.kind_accuracy, 3)},
        "model_calls": output.model_calls,
        "seconds": round(output.seconds, 3),
        "matched": tasks.matched,
    }


def _task_figures(score: TaskScore) -> dict[str, Any]:
    return {
        "proposals": score.proposals,
        "labelled": score.tasks,
        "hits": score.hits,
        "false_positives": score.false_positives,
        "duplicates": score.duplicates,
        "cancelled_proposed": score.cancelled_proposed,
        "precision": round(score.precision, 3),
        "recall": round(score.recall, 3),
        "f1": round(score.f1, 3),
        "assignee_accuracy": round(score.assignee_accuracy, 3),
        "due_accuracy": round(score.due_accuracy, 3),
    }


def _group_figures(score: GroupScore) -> dict[str, Any]:
    return {
        "predicted": score.predicted,
        "labelled": score.labelled,
        "precision": round(score.precision, 3),
        "recall": round(score.recall, 3),
        "f1": round(score.f1, 3),
        "message_precision": round(score.message_precision, 3),
        "message_recall": round(score.message_recall, 3),
    }


_HEADER = (
    f"{'chat':<16}{'extractor':<22}{'prop':>5}{'hit':>5}{'FP':>5}{'dup':>5}{'canc':>5}"
    f"{'P':>6}{'R':>6}{'F1':>6}{'asg':>6}{'due':>6} | {'topics P/R/F1':>16}{'msg P/R':>11}"
    f" | {'atoms P/R/F1':>16}{'kind':>6} | {'calls':>5}{'sec':>7}"
)


def row(chat: str, extractor: str, figures: dict[str, Any]) -> str:
    t, tp, at = figures["tasks"], figures["topics"], figures["atoms"]
    return (
        f"{chat:<16}{extractor:<22}{t['proposals']:>5}{t['hits']:>5}{t['false_positives']:>5}"
        f"{t['duplicates']:>5}{t['cancelled_proposed']:>5}{t['precision']:>6.2f}"
        f"{t['recall']:>6.2f}{t['f1']:>6.2f}{t['assignee_accuracy']:>6.2f}"
        f"{t['due_accuracy']:>6.2f} | {_prf(tp):>16}"
        f"{tp['message_precision']:>5.2f}/{tp['message_recall']:.2f} | {_prf(at):>16}"
        f"{at['kind_accuracy']:>6.2f} | {figures['model_calls']:>5}{figures['seconds']:>7.2f}"
    )


def _prf(f: dict[str, Any]) -> str:
    return f"{f['precision']:.2f}/{f['recall']:.2f}/{f['f1']:.2f}"


async def evaluate(choice: ModelChoice) -> dict[str, Any]:
    extractor = choice.model or "offline rules"
    result: dict[str, Any] = {"extractor": extractor, "chats": {}}
    for chat in all_chats():
        result["chats"][chat.name] = {
            "messages": len(chat.messages),
            extractor: scores(chat, await run_extractor(chat, choice)),
            "baseline": scores(chat, run_baseline(chat)),
        }
    return result


def table(result: dict[str, Any]) -> str:
    lines = [_HEADER, "-" * len(_HEADER)]
    for name, chat in result["chats"].items():
        for extractor in (result["extractor"], "baseline"):
            lines.append(row(name, extractor, chat[extractor]))
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    choice = ModelChoice(
        model=os.environ.get("TT_LLM_MODEL") or None,
        base_url=os.environ.get("TT_LLM_BASE_URL") or None,
        api_key=os.environ.get("TT_LLM_API_KEY") or None,
    )
    result = asyncio.run(evaluate(choice))
    result["wall_seconds"] = round(time.perf_counter() - started, 3)
    output = Path(os.environ.get("TT_EVAL_OUTPUT") or DEFAULT_OUTPUT)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    calls = sum(c[result["extractor"]]["model_calls"] for c in result["chats"].values())
    print(table(result))
    print(
        "tasks: prop proposals, hit labelled tasks matched, FP false positives (canc: of them "
        "cancelled tasks), dup further proposals of a matched task (counted once), asg/due "
        "accuracy over hits"
    )
    print(f"wall time {result['wall_seconds']:.2f} s, model calls {calls}; JSON: {output}")


if __name__ == "__main__":
    sys.exit(main())
