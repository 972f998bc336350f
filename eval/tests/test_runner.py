"""The eval reads chats as the services do and drives the services' own agents: a stand-in
model's structured output (a tool call with JSON arguments, as an LLM sends it) parses into
proposals that are scored like the offline rules'."""

from __future__ import annotations

import json

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from eval.__main__ import evaluate, table
from eval.chat import CHATS, load, messages
from eval.extractors import ModelChoice, run_extractor
from eval.scoring import score_tasks

SAMPLE = CHATS / "sample_week.labels.yaml"


def test_an_edit_replaces_the_text_and_textless_updates_are_left_out() -> None:
    person = {"id": 1, "is_bot": False, "first_name": "Ada", "username": "ada"}
    chat = {"id": -1, "type": "group"}
    updates = [
        {"update_id": 1, "message": {"message_id": 1, "from": person, "chat": chat,
                                     "date": 1_700_000_000, "text": "fix the lgin page"}},
        {"update_id": 2, "message": {"message_id": 2, "from": person, "chat": chat,
                                     "date": 1_700_000_060, "new_chat_members": [person]}},
        {"update_id": 3, "edited_message": {"message_id": 1, "from": person, "chat": chat,
                                            "date": 1_700_000_000, "edit_date": 1_700_000_100,
                                            "text": "fix the login page"}},
    ]  # fmt: skip
    read = messages(updates)
    assert [(m.id, m.text, m.username) for m in read] == [(1, "fix the login page", "ada")]


def _stand_in(answer: dict) -> FunctionModel:
    """Answers every batch citing message 11 with `answer`, every other with nothing."""

    def respond(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = str(history[-1].parts[-1].content)
        args = answer if '"id": 11,' in prompt else {"tasks": []}
        return ModelResponse(
            parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=json.dumps(args))]
        )

    return FunctionModel(respond, model_name="stand-in")


async def test_a_stand_in_models_tool_call_is_parsed_cleaned_and_scored() -> None:
    chat = load(SAMPLE)
    answer = {
        "tasks": [
            {
                "title": "Fix the Stripe webhook timeout",
                "priority": "critical",
                "assignee": "@Boris_Dev",  # any case, with "@": still the member
                "due_date": "2025-03-06",
                "message_ids": [11, 12, 99_999],  # an invented id is dropped
            },
            {"title": "Order lunch", "message_ids": [99_998]},  # cites nothing real: dropped
        ]
    }
    choice = ModelChoice(analysis_model=_stand_in(answer), knowledge_model=_stand_in({}))
    output = await run_extractor(chat, choice)
    assert [(p.message_ids, p.assignee) for p in output.proposals] == [((11, 12), "boris_dev")]
    score = score_tasks(output.proposals, chat.labels.tasks, chat.labels.cancelled)
    assert (score.hits, score.false_positives, score.assignee_right, score.due_right) == (
        1,
        0,
        1,
        1,
    )
    assert output.model_calls > 1  # one per chunk and per batch, counted from usage


async def test_the_offline_run_scores_every_chat_and_prints_one_row_per_extractor() -> None:
    result = await evaluate(ModelChoice())
    assert set(result["chats"]) == {"ops_week", "sample_week", "support_week"}
    sample = result["chats"]["sample_week"]
    assert sample["messages"] == 309  # 312 messages, less the two joins and the poll
    assert sample["baseline"]["model_calls"] == 0
    assert sample["offline rules"]["tasks"]["proposals"] > 0
    lines = table(result).splitlines()
    assert len(lines) == 2 + 3 * 2 and lines[2].startswith("ops_week")


async def test_a_stand_in_models_restatement_and_withdrawal_in_a_later_batch_parse() -> None:
    """The batch holding message 11 proposes the webhook fix; the later batch holding message
    30 is shown it as earlier proposal 1, states it again (`same_as`) and then calls it off:
    the run keeps no proposal of it."""
    seen_earlier: list[list[dict]] = []

    def respond(history: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = str(history[-1].parts[-1].content)
        header = json.loads(prompt.splitlines()[1])
        seen_earlier.append(header["earlier_proposals"])
        args: dict = {"tasks": []}
        if '"id": 11,' in prompt:
            args = {"tasks": [{"title": "Fix the Stripe webhook timeout", "message_ids": [11]}]}
        elif '"id": 30,' in prompt:
            args = {
                "tasks": [{"title": "Fix the webhook", "message_ids": [30], "same_as": 1}],
                "withdrawn": [{"ref": 1, "message_ids": [30]}, {"ref": 5, "message_ids": [30]}],
            }
        return ModelResponse(
            parts=[ToolCallPart(tool_name=info.output_tools[0].name, args=json.dumps(args))]
        )

    choice = ModelChoice(
        analysis_model=FunctionModel(respond, model_name="stand-in"),
        knowledge_model=_stand_in({}),
    )
    output = await run_extractor(load(SAMPLE), choice)
    assert output.proposals == []
    shown = [e for e in seen_earlier if e]
    assert shown[0] == [{"ref": 1, "title": "Fix the Stripe webhook timeout", "message_ids": [11]}]
    assert seen_earlier[-1] == []  # withdrawn: no later batch is shown it
