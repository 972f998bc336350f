"""The task agent: one pydantic-ai `Agent` with a typed output (`TaskProposals`), whatever
answers it — the offline task rules as a `FunctionModel`, a model string, or an
OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings

from tasktracker.analysis.domain import offline_tasks
from tasktracker.analysis.domain.proposals import (
    INSTRUCTIONS,
    ChatLine,
    Context,
    TaskProposals,
    parse_prompt,
    render_prompt,
)
from tasktracker.analysis.settings import OFFLINE_MODEL, AnalysisSettings

TaskAgent = Agent[None, TaskProposals]


def answer_with(proposals: TaskProposals, info: AgentInfo, model_name: str) -> ModelResponse:
    """A response that calls the agent's output tool with `proposals`, as an LLM would."""
    return ModelResponse(
        parts=[
            ToolCallPart(
                tool_name=info.output_tools[0].name, args=proposals.model_dump(mode="json")
            )
        ],
        model_name=model_name,
    )


def offline_task_rules_model() -> FunctionModel:
    """The deterministic rules of `domain/offline_tasks.py`, answering through the same output
    tool an LLM would call."""

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        context, lines = parse_prompt(last_user_prompt(messages))
        return answer_with(offline_tasks.extract(context, lines), info, OFFLINE_MODEL)

    return FunctionModel(answer, model_name=OFFLINE_MODEL)


def last_user_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                return part.content
    raise ValueError("no prompt to extract from")


def build_model(settings: AnalysisSettings) -> Model | str:
    if settings.llm_model == OFFLINE_MODEL:
        return offline_task_rules_model()
    if settings.llm_base_url:
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "none"
        name = settings.llm_model.removeprefix("openai:")
        return OpenAIChatModel(
            name, provider=OpenAIProvider(base_url=settings.llm_base_url, api_key=api_key)
        )
    return settings.llm_model  # any pydantic-ai model string: "openai:gpt-4o-mini", …


def build_agent(settings: AnalysisSettings, model: Model | str | None = None) -> TaskAgent:
    return Agent(
        model if model is not None else build_model(settings),
        output_type=TaskProposals,
        instructions=INSTRUCTIONS,
        retries=1,
        model_settings=ModelSettings(timeout=settings.llm_timeout_seconds, temperature=0),
        name="analysis-tasks",
    )


def model_name(agent: TaskAgent) -> str:
    model = agent.model
    return model if isinstance(model, str) else getattr(model, "model_name", str(model))


async def propose(agent: TaskAgent, context: Context, lines: Sequence[ChatLine]) -> TaskProposals:
    result = await agent.run(render_prompt(context, lines))
    return result.output
