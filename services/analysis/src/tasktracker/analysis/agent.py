"""The task agent: one pydantic-ai `Agent` with a typed output (`TaskProposals`), whatever
answers it — the offline task rules as a `FunctionModel`, a model string, or an
OpenAI-compatible server."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.models import Model
from pydantic_ai.models.function import FunctionModel
from pydantic_ai.settings import ModelSettings

from tasktracker.analysis.domain import offline_tasks
from tasktracker.analysis.domain.proposals import (
    INSTRUCTIONS,
    ChatLine,
    Cleaned,
    Context,
    TaskProposals,
    clean,
    parse_prompt,
    render_prompt,
)
from tasktracker.analysis.settings import OFFLINE_MODEL, AnalysisSettings
from tasktracker.servicekit.llm import (
    configured_model,
    llm_capabilities,
    rules_model,
    run_agent,
)

TaskAgent = Agent[None, TaskProposals]


def offline_task_rules_model() -> FunctionModel:
    """The deterministic rules of `domain/offline_tasks.py`, answering through the same output
    tool an LLM would call."""
    return rules_model(OFFLINE_MODEL, lambda prompt: offline_tasks.extract(*parse_prompt(prompt)))


def build_model(settings: AnalysisSettings) -> Model | str:
    return configured_model(
        settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        offline_name=OFFLINE_MODEL,
        offline=offline_task_rules_model,
    )


def build_agent(settings: AnalysisSettings, model: Model | str | None = None) -> TaskAgent:
    return Agent(
        model if model is not None else build_model(settings),
        output_type=TaskProposals,
        instructions=INSTRUCTIONS,
        retries=1,
        model_settings=ModelSettings(timeout=settings.llm_timeout_seconds, temperature=0),
        name="analysis-tasks",
        capabilities=llm_capabilities(),
    )


async def propose(
    agent: TaskAgent,
    context: Context,
    lines: Sequence[ChatLine],
    *,
    run_id: uuid.UUID,
    batch_index: int,
) -> tuple[Cleaned, int]:
    """One batch of a run, as the worker and `make eval` both run it: the agent's answer under
    the rules (`clean`), and how many model requests it took."""
    result = await run_agent(agent, render_prompt(context, lines))
    cleaned = clean(
        result.output,
        run_id=run_id,
        batch_index=batch_index,
        allowed={line.id for line in lines},
        members=context.members,
        earlier=context.earlier,
    )
    return cleaned, result.usage.requests
